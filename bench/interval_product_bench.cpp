// Prototypes of faster interval products, measured against OpenBLAS sgemm and
// dgemm in the same run (docs/PERFORMANCE.md, "Issue 4 targets"). Nothing in
// gamma uses these kernels yet; they size the plan for targets (a) and (b).
//
//   <name>/<m>/<k>/<batch>   items = m*k*batch weight-interval products
//
// Every variant encloses y = W x for x in [l, u] (W m×k, f32-representable as
// model weights are, `batch` intervals) and is checked against the exact
// interval (binary128) once before timing; the counter `widen` is the mean of
// width / exact width - 1 over the checked outputs.
//
// blas_sgemm, blas_dgemm  one plain product X·Wᵀ, the reference throughputs;
//                         also at 784/66/rows, the shapes of a CROWN pass's
//                         input product on mnist_fc 256x6
// midrad_f64              centre-radius form, one pass over W (f64 W and f64
//                         arithmetic, AVX-512, 8 rows of W per pass, rows
//                         outside and batch inside): per term one fma for W·c
//                         and one for |W|·r'; the rounding error is folded
//                         into r' (below), so there is no third sum
// midrad_f32              the same with f32 W and f32 arithmetic on 16 lanes
//                         (4 rows per pass);
//                         each lane's f32 partial sums are flushed into f64
//                         every 16 terms, so the error term is gamma_16 in f32
//                         (about 2e-6 relative), not gamma_k
// midrad_2dgemm/2sgemm    the centre-radius form as two BLAS calls, X_c·Wᵀ and
//                         X_r'·|W|ᵀ (|W| prepared once); BLAS's summation order
//                         is unknown, so sgemm needs gamma_k in f32
// posneg_2dgemm           the sign split prepared once, [W⁺ W⁻] (m×2k), and the
//                         products [L U]·[W⁺ W⁻]ᵀ and [U L]·[W⁺ W⁻]ᵀ as two
//                         dgemm calls; the error term is folded into L and U
//
// ibp_chain_*: IBP through random layers of the mnist_fc
// 256x6 shapes (784→256, five 256→256, 256→10, ReLU between), one interval:
//   current      the dense-chain code's affineIbp (bounds/row_kernels.h
//                affineRow on f32 W, three sums, then the directed scalar steps)
//   midrad_f64   the midrad_f64 kernel reading f32 W (converted exactly)
//   midrad_f32   the midrad_f32 kernel
//
// handoff_pool/<us>, handoff_spin/<us>: two tasks of <us> microseconds of
// busy work on two threads: runtime/thread_pool.h's parallelFor (workers
// sleep on a condition variable) against a worker that spins on an atomic
// counter. Ideal: <us>; one thread alone: 2·<us>.
//
// Folding the error into the radius: with c any value and r >= |x - c|
// (rounded up), W x = W c + W d with |W d| <= |W| r. Computed with relative
// error at most g (any order), S_c = fl(W c) is within g |W| |c| of W c and
// S_r = fl(|W| r') >= (1 - g) |W| r' (non-negative terms). With
// r' = (r + g |c|) / (1 - g), rounded up, S_r >= |W| r + g |W| |c|, so
// [S_c - S_r, S_c + S_r] (directed) encloses W x, plus an absolute term for
// underflowed products. g is bounds/fp.h's sumErrorRel convention (twice the
// classical gamma).
//
// Build (not yet a CMake target; bounds/row_kernels.cpp with the flags the
// project builds it with) and run:
//   c++ -O3 -std=c++20 -ffp-contract=off -Wno-psabi -I. bench/interval_product_bench.cpp bounds/row_kernels.cpp
//       runtime/thread_pool.cpp -o build/bench/interval-product-bench -lbenchmark -lopenblas -lpthread
//   OPENBLAS_NUM_THREADS=1 build/bench/interval-product-bench
#include "bounds/fp.h"
#include "bounds/row_kernels.h"
#include "runtime/thread_pool.h"

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

// GCC 12's AVX-512 headers initialise their "undefined" vectors from
// themselves, which -Wuninitialized reports at every inlined intrinsic.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace fp = gm::bounds::fp;

namespace {

using i64 = std::int64_t;
using Quad = __float128;

bool haveAvx512() { return __builtin_cpu_supports("avx512f"); }

// g for a k-term sum in f64 (fp.h), and for the f32 kernel: f32 partial sums
// of at most kFlush terms per lane, then f64 sums of the partials.
constexpr i64 kFlush = 16;
double gammaF64(i64 k) { return fp::sumErrorRel(static_cast<std::size_t>(k)); }
double gammaF32Blocked(i64 k) { return static_cast<double>(kFlush + 2) * 0x1p-23 + fp::sumErrorRel(static_cast<std::size_t>(k)) * 1.01; }
double gammaF32Any(i64 k) { return static_cast<double>(k + 2) * 0x1p-23; }
// Underflowed products: at most one smallest subnormal per operation.
double absF64(i64 k) { return fp::sumErrorAbs(static_cast<std::size_t>(k)); }
double absF32(i64 k) { return static_cast<double>(2 * k + 2) * 0x1p-149; }

// Preparation and finishing use round-to-nearest operations and then step
// outward by a relative margin (2^-48 on r', 2^-50 on results) that covers
// their few roundings, plus an absolute term for underflow; no directed
// rounding call per element, so they vectorise.
double radiusScale(double g) { return fp::divUp(1 + 0x1p-48, 1 - g); } // (1 + 2^-48) / (1 - g), rounded up
constexpr double kTiny = 0x1p-1000;

struct Problem {
  i64 m, k, batch;
  std::vector<float> wf, wfAbs;
  std::vector<double> w, wAbs, wPosNeg; // wPosNeg: m × 2k, [W⁺ W⁻]
  std::vector<double> lo, hi;           // batch × k
  std::vector<double> yLo, yHi;         // batch × m
  // Prepared inputs per variant (filled by prepare*, timed).
  std::vector<double> c, r;
  std::vector<float> cf, rf;
  std::vector<double> xLo, xHi, tc, tr; // posneg inputs (batch × 2k), BLAS outputs
  std::vector<float> tcf, trf;
};

Problem makeProblem(i64 m, i64 k, i64 batch) {
  std::mt19937_64 engine(7);
  std::normal_distribution<double> normal(0.0, 0.05);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Problem p;
  p.m = m, p.k = k, p.batch = batch;
  p.wf.resize(m * k);
  for (float &x : p.wf)
    x = static_cast<float>(normal(engine));
  p.w.assign(p.wf.begin(), p.wf.end());
  p.wAbs.resize(m * k), p.wfAbs.resize(m * k), p.wPosNeg.resize(m * 2 * k);
  for (i64 i = 0; i < m; ++i)
    for (i64 j = 0; j < k; ++j) {
      double x = p.w[i * k + j];
      p.wAbs[i * k + j] = std::fabs(x);
      p.wfAbs[i * k + j] = std::fabs(p.wf[i * k + j]);
      p.wPosNeg[i * 2 * k + j] = x > 0 ? x : 0.0;
      p.wPosNeg[i * 2 * k + k + j] = x < 0 ? x : 0.0;
    }
  p.lo.resize(batch * k), p.hi.resize(batch * k);
  for (i64 i = 0; i < batch * k; ++i) {
    double c = unit(engine), r = 0.01 * unit(engine);
    p.lo[i] = c - r, p.hi[i] = c + r;
  }
  p.yLo.resize(batch * m), p.yHi.resize(batch * m);
  p.c.resize(batch * k), p.r.resize(batch * k), p.cf.resize(batch * k), p.rf.resize(batch * k);
  return p;
}

// ---- preparation of the inputs (per call, O(k·batch)) ----

// c = (l + u) / 2 (any value serves), r = max(u - c, c - l),
// r' = (r + g |c|) · radiusScale(g) + tiny.
__attribute__((target("avx512f,fma"))) void prepareF64(const double *lo, const double *hi, i64 n, double g, double *c,
                                                      double *r) {
  double scale = radiusScale(g);
  __m512d half = _mm512_set1_pd(0.5), vg = _mm512_set1_pd(g), vs = _mm512_set1_pd(scale), vt = _mm512_set1_pd(kTiny);
  i64 j = 0;
  for (; j + 8 <= n; j += 8) {
    __m512d l = _mm512_loadu_pd(lo + j), u = _mm512_loadu_pd(hi + j);
    __m512d cj = _mm512_add_pd(_mm512_mul_pd(half, l), _mm512_mul_pd(half, u));
    __m512d rj = _mm512_max_pd(_mm512_sub_pd(u, cj), _mm512_sub_pd(cj, l));
    rj = _mm512_add_pd(_mm512_mul_pd(_mm512_add_pd(rj, _mm512_mul_pd(vg, _mm512_abs_pd(cj))), vs), vt);
    _mm512_storeu_pd(c + j, cj);
    _mm512_storeu_pd(r + j, rj);
  }
  for (; j < n; ++j) {
    double cj = 0.5 * lo[j] + 0.5 * hi[j];
    double rj = std::max(hi[j] - cj, cj - lo[j]);
    c[j] = cj;
    r[j] = (rj + g * std::fabs(cj)) * scale + kTiny;
  }
}

// The same with c rounded to f32 and r' rounded up to f32 (embedded rounding
// of the conversion; the CPU's rounding mode is not touched).
__attribute__((target("avx512f,fma"))) void prepareF32(const double *lo, const double *hi, i64 n, double g, float *c,
                                                      float *r) {
  double scale = radiusScale(g);
  __m512d half = _mm512_set1_pd(0.5), vg = _mm512_set1_pd(g), vs = _mm512_set1_pd(scale), vt = _mm512_set1_pd(kTiny);
  i64 j = 0;
  for (; j + 8 <= n; j += 8) {
    __m512d l = _mm512_loadu_pd(lo + j), u = _mm512_loadu_pd(hi + j);
    __m256 cf = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_mul_pd(half, l), _mm512_mul_pd(half, u)));
    __m512d cj = _mm512_cvtps_pd(cf);
    __m512d rj = _mm512_max_pd(_mm512_sub_pd(u, cj), _mm512_sub_pd(cj, l));
    rj = _mm512_add_pd(_mm512_mul_pd(_mm512_add_pd(rj, _mm512_mul_pd(vg, _mm512_abs_pd(cj))), vs), vt);
    _mm256_storeu_ps(c + j, cf);
    _mm256_storeu_ps(r + j, _mm512_cvt_roundpd_ps(rj, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC));
  }
  for (; j < n; ++j) {
    float cj = static_cast<float>(0.5 * lo[j] + 0.5 * hi[j]);
    double rj = std::max(hi[j] - cj, cj - lo[j]);
    rj = (rj + g * std::fabs(static_cast<double>(cj))) * scale + kTiny;
    float rf = static_cast<float>(rj);
    if (static_cast<double>(rf) < rj)
      rf = std::nextafter(rf, std::numeric_limits<float>::infinity());
    c[j] = cj, r[j] = rf;
  }
}

// y = [S_c - S_r, S_c + S_r] widened by 2^-50 relative and the absolute term a
// (which also covers underflow of the two round-to-nearest operations).
inline void finish(double sc, double sr, double a, double *yLo, double *yHi) {
  double lo = sc - sr, hi = sc + sr;
  *yLo = fp::lowerOrInf(lo - (std::fabs(lo) * 0x1p-50 + a + kTiny));
  *yHi = fp::upperOrInf(hi + (std::fabs(hi) * 0x1p-50 + a + kTiny));
}

__attribute__((target("avx512f,fma"))) void finishAll(const double *sc, const double *sr, i64 n, double a, double *yLo,
                                                     double *yHi) {
  __m512d e = _mm512_set1_pd(0x1p-50), va = _mm512_set1_pd(a + kTiny);
  i64 j = 0;
  for (; j + 8 <= n; j += 8) {
    __m512d c = _mm512_loadu_pd(sc + j), r = _mm512_loadu_pd(sr + j);
    __m512d lo = _mm512_sub_pd(c, r), hi = _mm512_add_pd(c, r);
    _mm512_storeu_pd(yLo + j, _mm512_sub_pd(lo, _mm512_add_pd(_mm512_mul_pd(_mm512_abs_pd(lo), e), va)));
    _mm512_storeu_pd(yHi + j, _mm512_add_pd(hi, _mm512_add_pd(_mm512_mul_pd(_mm512_abs_pd(hi), e), va)));
  }
  for (; j < n; ++j)
    finish(sc[j], sr[j], a, yLo + j, yHi + j);
}

// ---- fused kernels (AVX-512) ----

constexpr int kRows = 8;    // rows of W per pass over an input (f64)
constexpr int kRowsF32 = 4; // f32: 2·4 f32 and 2·4 f64 accumulators fit the 32 registers

__attribute__((target("avx512f,fma"))) inline __m512d loadW8(const double *p) { return _mm512_loadu_pd(p); }
__attribute__((target("avx512f,fma"))) inline __m512d loadW8(const float *p) {
  return _mm512_cvtps_pd(_mm256_loadu_ps(p));
}

// S_c and S_r for rows [i0, i0 + R) of W against one prepared input (c, r).
template <int R, class WT>
__attribute__((target("avx512f,fma"))) inline void midradRowsF64(const WT *w, i64 k, const double *c, const double *r,
                                                               double *sc, double *sr) {
  __m512d ac[R], ar[R];
#pragma GCC unroll 8
  for (int t = 0; t < R; ++t)
    ac[t] = _mm512_setzero_pd(), ar[t] = _mm512_setzero_pd();
  i64 j = 0;
  for (; j + 8 <= k; j += 8) {
    __m512d vc = _mm512_loadu_pd(c + j), vr = _mm512_loadu_pd(r + j);
#pragma GCC unroll 8
    for (int t = 0; t < R; ++t) {
      __m512d x = loadW8(w + t * k + j);
      asm("" : "+v"(x)); // one load of W for both products
      ac[t] = _mm512_fmadd_pd(x, vc, ac[t]);
      ar[t] = _mm512_fmadd_pd(_mm512_abs_pd(x), vr, ar[t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < R; ++t) {
    double s = _mm512_reduce_add_pd(ac[t]), q = _mm512_reduce_add_pd(ar[t]);
    for (i64 e = j; e < k; ++e) {
      double x = w[t * k + e];
      s = std::fma(x, c[e], s);
      q = std::fma(std::fabs(x), r[e], q);
    }
    sc[t] = s, sr[t] = q;
  }
}

template <class WT>
__attribute__((target("avx512f,fma"))) void midradF64(const WT *w, i64 m, i64 k, i64 batch, const double *c,
                                                      const double *r, double a, double *yLo, double *yHi) {
  double sc[kRows], sr[kRows];
  i64 i = 0;
  for (; i + kRows <= m; i += kRows)
    for (i64 b = 0; b < batch; ++b) {
      midradRowsF64<kRows>(w + i * k, k, c + b * k, r + b * k, sc, sr);
      for (int t = 0; t < kRows; ++t)
        finish(sc[t], sr[t], a, &yLo[b * m + i + t], &yHi[b * m + i + t]);
    }
  for (; i < m; ++i)
    for (i64 b = 0; b < batch; ++b) {
      midradRowsF64<1>(w + i * k, k, c + b * k, r + b * k, sc, sr);
      finish(sc[0], sr[0], a, &yLo[b * m + i], &yHi[b * m + i]);
    }
}

// f32 arithmetic, 16 lanes; every kFlush steps each lane's f32 partial sums
// are added into f64 accumulators (exact conversion), and cleared.
__attribute__((target("avx512f,fma"))) inline void flushLanes(__m512 &f, __m512d &d) {
  d = _mm512_add_pd(d, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
  d = _mm512_add_pd(d, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
  f = _mm512_setzero_ps();
}

template <int R>
__attribute__((target("avx512f,fma"))) inline void midradRowsF32(const float *w, i64 k, const float *c, const float *r,
                                                               double *sc, double *sr) {
  __m512 fc[R], fr[R];
  __m512d dc[R], dr[R];
#pragma GCC unroll 8
  for (int t = 0; t < R; ++t)
    fc[t] = fr[t] = _mm512_setzero_ps(), dc[t] = dr[t] = _mm512_setzero_pd();
  i64 j = 0;
  int steps = 0;
  for (; j + 16 <= k; j += 16) {
    __m512 vc = _mm512_loadu_ps(c + j), vr = _mm512_loadu_ps(r + j);
#pragma GCC unroll 8
    for (int t = 0; t < R; ++t) {
      __m512 x = _mm512_loadu_ps(w + t * k + j);
      asm("" : "+v"(x));
      fc[t] = _mm512_fmadd_ps(x, vc, fc[t]);
      fr[t] = _mm512_fmadd_ps(_mm512_abs_ps(x), vr, fr[t]);
    }
    if (++steps == kFlush) {
#pragma GCC unroll 8
      for (int t = 0; t < R; ++t)
        flushLanes(fc[t], dc[t]), flushLanes(fr[t], dr[t]);
      steps = 0;
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < R; ++t)
    flushLanes(fc[t], dc[t]), flushLanes(fr[t], dr[t]);
#pragma GCC unroll 8
  for (int t = 0; t < R; ++t) {
    double s = _mm512_reduce_add_pd(dc[t]), q = _mm512_reduce_add_pd(dr[t]);
    for (i64 e = j; e < k; ++e) { // f32 × f32 is exact in f64
      double x = w[t * k + e];
      s += x * static_cast<double>(c[e]);
      q += std::fabs(x) * static_cast<double>(r[e]);
    }
    sc[t] = s, sr[t] = q;
  }
}

__attribute__((target("avx512f,fma"))) void midradF32(const float *w, i64 m, i64 k, i64 batch, const float *c,
                                                     const float *r, double a, double *yLo, double *yHi) {
  double sc[kRows], sr[kRows];
  i64 i = 0;
  for (; i + kRowsF32 <= m; i += kRowsF32)
    for (i64 b = 0; b < batch; ++b) {
      midradRowsF32<kRowsF32>(w + i * k, k, c + b * k, r + b * k, sc, sr);
      for (int t = 0; t < kRowsF32; ++t)
        finish(sc[t], sr[t], a, &yLo[b * m + i + t], &yHi[b * m + i + t]);
    }
  for (; i < m; ++i)
    for (i64 b = 0; b < batch; ++b) {
      midradRowsF32<1>(w + i * k, k, c + b * k, r + b * k, sc, sr);
      finish(sc[0], sr[0], a, &yLo[b * m + i], &yHi[b * m + i]);
    }
}

// ---- the variants on a Problem ----

void runMidradF64(Problem &p) {
  double g = gammaF64(p.k);
  prepareF64(p.lo.data(), p.hi.data(), p.batch * p.k, g, p.c.data(), p.r.data());
  midradF64(p.w.data(), p.m, p.k, p.batch, p.c.data(), p.r.data(), absF64(p.k), p.yLo.data(), p.yHi.data());
}

void runMidradF32(Problem &p) {
  double g = gammaF32Blocked(p.k);
  prepareF32(p.lo.data(), p.hi.data(), p.batch * p.k, g, p.cf.data(), p.rf.data());
  midradF32(p.wf.data(), p.m, p.k, p.batch, p.cf.data(), p.rf.data(), absF32(p.k), p.yLo.data(), p.yHi.data());
}

// Y (batch × m) = X (batch × k) · Wᵀ
void gemm(const double *x, const double *w, i64 m, i64 k, i64 batch, double *y) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(batch), static_cast<int>(m),
              static_cast<int>(k), 1.0, x, static_cast<int>(k), w, static_cast<int>(k), 0.0, y, static_cast<int>(m));
}
void gemm(const float *x, const float *w, i64 m, i64 k, i64 batch, float *y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(batch), static_cast<int>(m),
              static_cast<int>(k), 1.0f, x, static_cast<int>(k), w, static_cast<int>(k), 0.0f, y, static_cast<int>(m));
}

void runMidrad2Dgemm(Problem &p) {
  double g = gammaF64(p.k);
  prepareF64(p.lo.data(), p.hi.data(), p.batch * p.k, g, p.c.data(), p.r.data());
  p.tc.resize(p.batch * p.m), p.tr.resize(p.batch * p.m);
  gemm(p.c.data(), p.w.data(), p.m, p.k, p.batch, p.tc.data());
  gemm(p.r.data(), p.wAbs.data(), p.m, p.k, p.batch, p.tr.data());
  finishAll(p.tc.data(), p.tr.data(), p.batch * p.m, absF64(p.k), p.yLo.data(), p.yHi.data());
}

void runMidrad2Sgemm(Problem &p) {
  double g = gammaF32Any(p.k);
  prepareF32(p.lo.data(), p.hi.data(), p.batch * p.k, g, p.cf.data(), p.rf.data());
  p.tcf.resize(p.batch * p.m), p.trf.resize(p.batch * p.m);
  gemm(p.cf.data(), p.wf.data(), p.m, p.k, p.batch, p.tcf.data());
  gemm(p.rf.data(), p.wfAbs.data(), p.m, p.k, p.batch, p.trf.data());
  p.tc.assign(p.tcf.begin(), p.tcf.end()), p.tr.assign(p.trf.begin(), p.trf.end());
  finishAll(p.tc.data(), p.tr.data(), p.batch * p.m, absF32(p.k), p.yLo.data(), p.yHi.data());
}

// Lower: [l - d, u + d]·[W⁺ W⁻]ᵀ, upper: [u + d, l - d]·[W⁺ W⁻]ᵀ, with
// d = g mag / (1 - g) (mag = max(|l|, |u|)), rounded up: the shift moves each
// side outward by |W| d, which covers the 2k-term product's error
// g |W| max(|l - d|, |u + d|). The shifted inputs are rounded outward by a
// relative 2^-50 (they are one or two roundings from exact).
__attribute__((target("avx512f,fma"))) void runPosNeg2Dgemm(Problem &p) {
  i64 k = p.k, k2 = 2 * k;
  double g = gammaF64(k2), scale = radiusScale(g);
  p.xLo.resize(p.batch * k2), p.xHi.resize(p.batch * k2), p.tc.resize(p.batch * p.m), p.tr.resize(p.batch * p.m);
  __m512d vg = _mm512_set1_pd(g * scale), e = _mm512_set1_pd(0x1p-50), vt = _mm512_set1_pd(kTiny);
  for (i64 b = 0; b < p.batch; ++b) {
    const double *lo = &p.lo[b * k], *hi = &p.hi[b * k];
    double *xl = &p.xLo[b * k2], *xh = &p.xHi[b * k2];
    i64 j = 0;
    for (; j + 8 <= k; j += 8) {
      __m512d l = _mm512_loadu_pd(lo + j), u = _mm512_loadu_pd(hi + j);
      __m512d d = _mm512_add_pd(_mm512_mul_pd(vg, _mm512_max_pd(_mm512_abs_pd(l), _mm512_abs_pd(u))), vt);
      __m512d ls = _mm512_sub_pd(l, d), us = _mm512_add_pd(u, d);
      ls = _mm512_sub_pd(ls, _mm512_add_pd(_mm512_mul_pd(_mm512_abs_pd(ls), e), vt));
      us = _mm512_add_pd(us, _mm512_add_pd(_mm512_mul_pd(_mm512_abs_pd(us), e), vt));
      _mm512_storeu_pd(xl + j, ls), _mm512_storeu_pd(xl + k + j, us);
      _mm512_storeu_pd(xh + j, us), _mm512_storeu_pd(xh + k + j, ls);
    }
    for (; j < k; ++j) {
      double d = g * scale * std::max(std::fabs(lo[j]), std::fabs(hi[j])) + kTiny;
      double ls = lo[j] - d, us = hi[j] + d;
      ls -= std::fabs(ls) * 0x1p-50 + kTiny, us += std::fabs(us) * 0x1p-50 + kTiny;
      xl[j] = ls, xl[k + j] = us, xh[j] = us, xh[k + j] = ls;
    }
  }
  gemm(p.xLo.data(), p.wPosNeg.data(), p.m, k2, p.batch, p.yLo.data());
  gemm(p.xHi.data(), p.wPosNeg.data(), p.m, k2, p.batch, p.yHi.data());
  double a = absF64(k2) + kTiny; // the folded shift covers the rounding; a covers underflow
  for (i64 i = 0; i < p.batch * p.m; ++i) {
    p.yLo[i] -= std::fabs(p.yLo[i]) * 0x1p-50 + a;
    p.yHi[i] += std::fabs(p.yHi[i]) * 0x1p-50 + a;
  }
}

// Checks the enclosure of the first two inputs against the exact interval;
// returns the mean relative widening, or a negative value on a failure.
double check(const Problem &p) {
  double widen = 0;
  i64 n = 0;
  for (i64 b = 0; b < std::min<i64>(p.batch, 2); ++b)
    for (i64 i = 0; i < p.m; ++i) {
      Quad lo = 0, hi = 0;
      for (i64 j = 0; j < p.k; ++j) {
        Quad w = p.w[i * p.k + j], l = p.lo[b * p.k + j], u = p.hi[b * p.k + j];
        lo += w > 0 ? w * l : w * u;
        hi += w > 0 ? w * u : w * l;
      }
      double yl = p.yLo[b * p.m + i], yh = p.yHi[b * p.m + i];
      if (!(static_cast<Quad>(yl) <= lo && static_cast<Quad>(yh) >= hi))
        return -1;
      widen += static_cast<double>((static_cast<Quad>(yh) - static_cast<Quad>(yl)) / (hi - lo)) - 1;
      ++n;
    }
  return widen / static_cast<double>(n);
}

template <void (*Run)(Problem &), bool NeedsAvx512>
void variant(benchmark::State &state) {
  if (NeedsAvx512 && !haveAvx512()) {
    state.SkipWithError("needs AVX-512");
    return;
  }
  Problem p = makeProblem(state.range(0), state.range(1), state.range(2));
  Run(p);
  double widen = check(p);
  if (widen < 0) {
    state.SkipWithError("result does not enclose the exact interval");
    return;
  }
  for (auto _ : state) {
    Run(p);
    benchmark::DoNotOptimize(p.yLo.data());
    benchmark::ClobberMemory();
  }
  state.counters["widen"] = widen;
  state.SetItemsProcessed(state.iterations() * p.m * p.k * p.batch);
}

void blas_dgemm(benchmark::State &state) {
  Problem p = makeProblem(state.range(0), state.range(1), state.range(2));
  for (auto _ : state) {
    gemm(p.lo.data(), p.w.data(), p.m, p.k, p.batch, p.yLo.data());
    benchmark::DoNotOptimize(p.yLo.data());
  }
  state.SetItemsProcessed(state.iterations() * p.m * p.k * p.batch);
}

void blas_sgemm(benchmark::State &state) {
  Problem p = makeProblem(state.range(0), state.range(1), state.range(2));
  std::vector<float> x(p.lo.begin(), p.lo.end()), y(p.batch * p.m);
  for (auto _ : state) {
    gemm(x.data(), p.wf.data(), p.m, p.k, p.batch, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * p.m * p.k * p.batch);
}

void shapes(benchmark::internal::Benchmark *b) {
  for (i64 batch : {1, 64}) {
    b->Args({256, 256, batch});
    b->Args({256, 784, batch});
  }
}

// The input product of a CROWN pass on mnist_fc 256x6 (rows on the 66 live
// first-layer neurons times W0 over the 784 inputs; 1 to 76 rows per call).
void inputShapes(benchmark::internal::Benchmark *b) {
  for (i64 rows : {24, 76})
    b->Args({784, 66, rows});
}

BENCHMARK(blas_sgemm)->Apply(shapes)->Apply(inputShapes);
BENCHMARK(blas_dgemm)->Apply(shapes)->Apply(inputShapes);
BENCHMARK(variant<runMidradF64, true>)->Name("midrad_f64")->Apply(shapes);
BENCHMARK(variant<runMidradF32, true>)->Name("midrad_f32")->Apply(shapes);
BENCHMARK(variant<runMidrad2Dgemm, true>)->Name("midrad_2dgemm")->Apply(shapes);
BENCHMARK(variant<runMidrad2Sgemm, true>)->Name("midrad_2sgemm")->Apply(shapes);
BENCHMARK(variant<runPosNeg2Dgemm, true>)->Name("posneg_2dgemm")->Apply(shapes);

// ---- IBP through the mnist_fc 256x6 shapes ----

struct Layer {
  i64 in, out;
  std::vector<float> wf;
  std::vector<double> b;
};

std::vector<Layer> mnistLayers() {
  std::mt19937_64 engine(11);
  std::vector<Layer> layers;
  i64 sizes[] = {784, 256, 256, 256, 256, 256, 256, 10};
  for (int i = 0; i + 1 < 8; ++i) {
    Layer l{sizes[i], sizes[i + 1], {}, {}};
    std::normal_distribution<double> normal(0.0, 1.0 / std::sqrt(static_cast<double>(l.in)));
    l.wf.resize(l.out * l.in);
    for (float &x : l.wf)
      x = static_cast<float>(normal(engine));
    l.b.resize(l.out);
    for (double &x : l.b)
      x = static_cast<float>(0.01 * normal(engine));
    layers.push_back(std::move(l));
  }
  return layers;
}

// bounds/dense_chain.cpp's affineIbp, unchanged.
void affineCurrent(const Layer &layer, const std::vector<double> &lo, const std::vector<double> &hi,
                   std::vector<double> &zLo, std::vector<double> &zHi, std::vector<double> &v) {
  std::size_t K = layer.in, N = layer.out;
  std::vector<double> c(K), r(K), a(K);
  for (std::size_t k = 0; k < K; ++k) {
    c[k] = 0.5 * lo[k] + 0.5 * hi[k];
    r[k] = std::max(fp::subUp(hi[k], c[k]), fp::subUp(c[k], lo[k]));
    a[k] = fp::addUp(std::fabs(c[k]), r[k]);
  }
  zLo.resize(N), zHi.resize(N), v.resize(N);
  for (std::size_t j = 0; j < N; ++j) {
    gm::bounds::kernels::AffineSums s =
        gm::bounds::kernels::affineRow(layer.wf.data() + j * K, K, c.data(), r.data(), a.data());
    v[j] = s.magnitude;
    double err = fp::sumError(K + 1, s.magnitude) * (1 + 0x1p-40);
    zLo[j] = fp::lowerOrInf(fp::subDown(fp::subDown(fp::addDown(s.centre, layer.b[j]), s.radius), err));
    zHi[j] = fp::upperOrInf(fp::addUp(fp::addUp(fp::addUp(s.centre, layer.b[j]), s.radius), err));
  }
}

template <int Kind> // 0 current, 1 midrad_f64 (f32 W), 2 midrad_f32
void ibp_chain(benchmark::State &state) {
  if (Kind != 0 && !haveAvx512()) {
    state.SkipWithError("needs AVX-512");
    return;
  }
  std::vector<Layer> layers = mnistLayers();
  std::vector<double> lo0(784), hi0(784);
  std::mt19937_64 engine(3);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int j = 0; j < 784; ++j) {
    double x = unit(engine);
    lo0[j] = std::max(0.0, x - 0.03), hi0[j] = std::min(1.0, x + 0.03);
  }
  std::vector<double> lo, hi, zLo, zHi, v, c, r;
  std::vector<float> cf, rf;
  i64 items = 0;
  for (const Layer &l : layers)
    items += l.in * l.out;
  for (auto _ : state) {
    lo = lo0, hi = hi0;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const Layer &l = layers[i];
      if (Kind == 0) {
        affineCurrent(l, lo, hi, zLo, zHi, v);
      } else {
        zLo.resize(l.out), zHi.resize(l.out);
        if (Kind == 1) {
          c.resize(l.in), r.resize(l.in);
          prepareF64(lo.data(), hi.data(), l.in, gammaF64(l.in + 1), c.data(), r.data());
          midradF64(l.wf.data(), l.out, l.in, 1, c.data(), r.data(), absF64(l.in), zLo.data(), zHi.data());
        } else {
          cf.resize(l.in), rf.resize(l.in);
          prepareF32(lo.data(), hi.data(), l.in, gammaF32Blocked(l.in + 1), cf.data(), rf.data());
          midradF32(l.wf.data(), l.out, l.in, 1, cf.data(), rf.data(), absF32(l.in), zLo.data(), zHi.data());
        }
        for (i64 j = 0; j < l.out; ++j) {
          zLo[j] = fp::addDown(zLo[j], l.b[j]);
          zHi[j] = fp::addUp(zHi[j], l.b[j]);
        }
      }
      if (i + 1 < layers.size())
        for (i64 j = 0; j < l.out; ++j)
          zLo[j] = std::max(zLo[j], 0.0), zHi[j] = std::max(zHi[j], 0.0);
      std::swap(lo, zLo), std::swap(hi, zHi);
    }
    benchmark::DoNotOptimize(lo.data());
    benchmark::DoNotOptimize(hi.data());
  }
  double width = 0;
  for (std::size_t j = 0; j < lo.size(); ++j)
    width += hi[j] - lo[j];
  state.counters["out_width"] = width / static_cast<double>(lo.size());
  state.SetItemsProcessed(state.iterations() * items);
}

BENCHMARK(ibp_chain<0>)->Name("ibp_chain_current")->Unit(benchmark::kMicrosecond);
BENCHMARK(ibp_chain<1>)->Name("ibp_chain_midrad_f64")->Unit(benchmark::kMicrosecond);
BENCHMARK(ibp_chain<2>)->Name("ibp_chain_midrad_f32")->Unit(benchmark::kMicrosecond);

// ---- hand-off latency of two threads ----

void busy(double us) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() < us) {
  }
}

void handoff_pool(benchmark::State &state) {
  gm::ThreadPool pool(2);
  double us = static_cast<double>(state.range(0));
  std::function<void(std::size_t)> task = [&](std::size_t) { busy(us); };
  for (auto _ : state)
    pool.parallelFor(2, task);
}

// One worker spinning on a generation counter (a prototype, not for use: it
// never sleeps).
class SpinWorker {
public:
  SpinWorker()
      : thread_([this] {
          unsigned seen = 0;
          while (!stop_.load(std::memory_order_relaxed)) {
            unsigned g = generation_.load(std::memory_order_acquire);
            if (g == seen) {
              __builtin_ia32_pause();
              continue;
            }
            seen = g;
            (*fn_)(1);
            done_.store(g, std::memory_order_release);
          }
        }) {}
  ~SpinWorker() {
    stop_ = true;
    thread_.join();
  }
  void runTwo(const std::function<void(std::size_t)> &fn) {
    fn_ = &fn;
    unsigned g = generation_.load(std::memory_order_relaxed) + 1;
    generation_.store(g, std::memory_order_release);
    fn(0);
    while (done_.load(std::memory_order_acquire) != g)
      __builtin_ia32_pause();
  }

private:
  std::atomic<unsigned> generation_{0}, done_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(std::size_t)> *fn_ = nullptr;
  std::thread thread_;
};

void handoff_spin(benchmark::State &state) {
  SpinWorker worker;
  double us = static_cast<double>(state.range(0));
  std::function<void(std::size_t)> task = [&](std::size_t) { busy(us); };
  for (auto _ : state)
    worker.runTwo(task);
}

BENCHMARK(handoff_pool)->Arg(10)->Arg(40)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(handoff_spin)->Arg(10)->Arg(40)->UseRealTime()->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
