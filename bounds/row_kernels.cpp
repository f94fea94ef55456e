// Written with GCC vector extensions over 8 doubles and compiled for the
// host's widest vectors through function clones (the default clone is the
// target's baseline); no fast-math and no contraction, so every operation is
// the one written. Lane l of an accumulator sums the elements l, l+8, ...:
// any order is fine for the error bounds these sums feed.
#include "bounds/row_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

// Not under ThreadSanitizer: the clones' resolver runs while the dynamic
// loader relocates, before the sanitizer's runtime is up, and crashes there.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define GAMMA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GAMMA_CLONES
#endif

namespace gm::bounds::kernels {

namespace {
constexpr std::size_t kLanes = 8;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

typedef double V __attribute__((vector_size(kLanes * sizeof(double))));
typedef std::int64_t M __attribute__((vector_size(kLanes * sizeof(double))));

inline V load(const double *p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(double *p, V v) { std::memcpy(p, &v, sizeof v); }
inline V vabs(V x) { return (V)((M)x & ((M){} + INT64_MAX)); } // clears the sign bits
inline V pos(V x) { return (V)((M)x & (x > 0)); } // x if x > 0 else +0
inline V neg(V x) { return (V)((M)x & (x < 0)); } // x if x < 0 else +0
inline double sum(V v) {
  double s = 0;
  for (std::size_t l = 0; l < kLanes; ++l)
    s += v[l];
  return s;
}

inline double pos(double x) { return x > 0 ? x : 0.0; }
inline double neg(double x) { return x < 0 ? x : 0.0; }
} // namespace

__attribute__((always_inline)) inline RelaxSums relaxRow(const double *src, double *a, std::size_t m, const double *kl, const double *bl, const double *ku,
                                const double *bu, const double *mag) {
  V s = {}, sb = {}, sk = {}, bad = {};
  auto step = [&](V x, V kL, V bL, V kU, V bU, V mg) {
    V xp = pos(x), xn = neg(x);
    V y = xp * kL + xn * kU; // one product is an exact zero
    V p = xp * bL + xn * bU;
    s += p;
    sb += vabs(p);
    sk += vabs(y) * mg;
    bad += x - x; // NaN for a NaN or infinite coefficient
    return y;
  };
  std::size_t c = 0;
  for (; c + kLanes <= m; c += kLanes)
    store(a + c, step(load(src + c), load(kl + c), load(bl + c), load(ku + c), load(bu + c), load(mag + c)));
  RelaxSums r{sum(s), sum(sb), sum(sk)};
  double b = sum(bad);
  for (; c < m; ++c) { // the same in scalars
    double x = src[c], xp = pos(x), xn = neg(x);
    double y = xp * kl[c] + xn * ku[c], p = xp * bl[c] + xn * bu[c];
    a[c] = y;
    r.bias += p;
    r.absBias += std::fabs(p);
    r.absCoef += std::fabs(y) * mag[c];
    b += x - x;
  }
  if (b != 0 || std::isnan(b))
    return {kNaN, kNaN, kNaN};
  return r;
}

__attribute__((always_inline)) inline DotSums biasRow(const double *a, std::size_t m, const double *b, const double *v) {
  V s = {}, sa = {}, sw = {};
  auto step = [&](V x, V bb, V vv) {
    V p = x * bb;
    s += p;
    sa += vabs(p);
    sw += vabs(x) * vv;
  };
  std::size_t c = 0;
  for (; c + kLanes <= m; c += kLanes)
    step(load(a + c), load(b + c), load(v + c));
  DotSums r{sum(s), sum(sa), sum(sw)};
  for (; c < m; ++c) {
    double p = a[c] * b[c];
    r.sum += p;
    r.abs += std::fabs(p);
    r.weighted += std::fabs(a[c]) * v[c];
  }
  return r;
}

__attribute__((always_inline)) inline BoxSums boxRow(const double *a, std::size_t n, const double *lo, const double *hi) {
  V s = {}, sa = {}, bad = {};
  auto step = [&](V x, V l, V h) {
    // Masked, not multiplied by zero: a side the coefficient does not pick
    // may be infinite (0 * inf would make the row unbounded).
    V t = (V)((M)(x * l) & (x > 0)) + (V)((M)(x * h) & (x < 0));
    s += t;
    sa += vabs(t);
    bad += x - x;
  };
  std::size_t c = 0;
  for (; c + kLanes <= n; c += kLanes)
    step(load(a + c), load(lo + c), load(hi + c));
  BoxSums r{sum(s), sum(sa)};
  double b = sum(bad);
  for (; c < n; ++c) {
    double t = a[c] > 0 ? a[c] * lo[c] : a[c] < 0 ? a[c] * hi[c] : 0.0;
    r.sum += t;
    r.abs += std::fabs(t);
    b += a[c] - a[c];
  }
  if (b != 0 || std::isnan(b))
    return {kNaN, kNaN};
  return r;
}

GAMMA_CLONES void relaxRows(const double *src, double *a, std::size_t R, std::size_t m, const double *kl,
                           const double *bl, const double *ku, const double *bu, const double *mag, RelaxSums *out) {
  for (std::size_t r = 0; r < R; ++r)
    out[r] = relaxRow(src + r * m, a + r * m, m, kl, bl, ku, bu, mag);
}

GAMMA_CLONES void columnMagnitudes(const double *a, std::size_t R, std::size_t m, double *out) {
  std::fill(out, out + m, 0.0);
  for (std::size_t r = 0; r < R; ++r) {
    const double *row = a + r * m;
    std::size_t c = 0;
    for (; c + kLanes <= m; c += kLanes)
      store(out + c, load(out + c) + vabs(load(row + c)));
    for (; c < m; ++c)
      out[c] += std::fabs(row[c]);
  }
}

GAMMA_CLONES void biasRows(const double *a, std::size_t R, std::size_t m, const double *b, const double *v,
                           DotSums *out) {
  for (std::size_t r = 0; r < R; ++r)
    out[r] = biasRow(a + r * m, m, b, v);
}

GAMMA_CLONES void boxRows(const double *a, std::size_t R, std::size_t n, const double *lo, const double *hi,
                          BoxSums *out) {
  for (std::size_t r = 0; r < R; ++r)
    out[r] = boxRow(a + r * n, n, lo, hi);
}

GAMMA_CLONES AffineSums affineRow(const double *w, std::size_t n, const double *c, const double *r, const double *a) {
  V sc = {}, sr = {}, sa = {};
  auto step = [&](V x, V cc, V rr, V aa) {
    V ax = vabs(x);
    sc += x * cc;
    sr += ax * rr;
    sa += ax * aa;
  };
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    step(load(w + k), load(c + k), load(r + k), load(a + k));
  AffineSums s{sum(sc), sum(sr), sum(sa)};
  for (; k < n; ++k) {
    double ax = std::fabs(w[k]);
    s.centre += w[k] * c[k];
    s.radius += ax * r[k];
    s.magnitude += ax * a[k];
  }
  return s;
}

GAMMA_CLONES AffineSums affineRow(const float *w, std::size_t n, const double *c, const double *r, const double *a) {
  typedef float F __attribute__((vector_size(kLanes * sizeof(float))));
  V sc = {}, sr = {}, sa = {};
  std::size_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    F f;
    std::memcpy(&f, w + k, sizeof f);
    V x = __builtin_convertvector(f, V), ax = vabs(x);
    sc += x * load(c + k);
    sr += ax * load(r + k);
    sa += ax * load(a + k);
  }
  AffineSums s{sum(sc), sum(sr), sum(sa)};
  for (; k < n; ++k) {
    double x = w[k], ax = std::fabs(x);
    s.centre += x * c[k];
    s.radius += ax * r[k];
    s.magnitude += ax * a[k];
  }
  return s;
}

} // namespace gm::bounds::kernels
