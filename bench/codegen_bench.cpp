// The JIT's fused pos/neg product against the C++ paths and OpenBLAS on the
// mnist_fc shapes (a 256x256 hidden layer, the 256x784 input layer), for one
// input interval and a batch of 64.
//
//   <name>/<m>/<k>/<batch>   items = m*k*batch weight-interval products
//
// jit_host / jit_v3:  the JIT kernel for this CPU (AVX-512 where present) and
//                     pinned to AVX2 (x86-64-v3), when the CPU runs it
// cpp_loop:           the straightforward loop of bounds/ibp.cpp (row-major)
// cpp_box_rows:       bounds/row_kernels.h boxRows, once per side (the
//                     vectorised C++ the dense-chain executor uses)
// blas_dgemm/sgemm:   one plain product W*x (no interval, no error term), the
//                     throughput a bound product is measured against
//
// Run with OPENBLAS_NUM_THREADS=1 so every entry uses one core.
#include "bounds/fp.h"
#include "bounds/row_kernels.h"
#include "codegen/jit.h"
#include "codegen/target_desc.h"

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace cg = gm::codegen;
namespace fp = gm::bounds::fp;

namespace {

struct Data {
  std::int64_t m, k, batch;
  std::vector<double> w, lo, hi, yLo, yHi;
  std::vector<float> wf, xf, yf;
  std::vector<double> xd, yd;
};

Data makeData(std::int64_t m, std::int64_t k, std::int64_t batch) {
  std::mt19937_64 engine(7);
  std::normal_distribution<double> normal(0.0, 0.05);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Data d;
  d.m = m, d.k = k, d.batch = batch;
  d.w.resize(m * k);
  for (double &w : d.w)
    w = normal(engine);
  d.lo.resize(batch * k), d.hi.resize(batch * k);
  for (std::int64_t i = 0; i < batch * k; ++i) {
    double c = unit(engine), r = 0.01 * unit(engine);
    d.lo[i] = c - r, d.hi[i] = c + r;
  }
  d.yLo.resize(batch * m), d.yHi.resize(batch * m);
  d.wf.assign(d.w.begin(), d.w.end());
  d.xd = d.lo;
  d.xf.assign(d.lo.begin(), d.lo.end());
  d.yd.resize(batch * m), d.yf.resize(batch * m);
  return d;
}

void setItems(benchmark::State &state, const Data &d) {
  state.SetItemsProcessed(state.iterations() * d.m * d.k * d.batch);
}

void jit(benchmark::State &state, const char *target) {
  if (!cg::missingHostFeatures(target).empty()) {
    state.SkipWithError("this CPU cannot run the target");
    return;
  }
  Data d = makeData(state.range(0), state.range(1), state.range(2));
  cg::KernelJit kernels(cg::KernelSet{{}, {{"pos_neg", 0, 0}}}, target);
  cg::PosNegFn kernel = kernels.product("pos_neg");
  for (auto _ : state) {
    kernel(d.w.data(), d.lo.data(), d.hi.data(), d.yLo.data(), d.yHi.data(), d.m, d.k, d.batch);
    benchmark::DoNotOptimize(d.yLo.data());
    benchmark::ClobberMemory();
  }
  setItems(state, d);
}
void jit_host(benchmark::State &state) { jit(state, "host"); }
void jit_v3(benchmark::State &state) { jit(state, "x86-64-v3"); }

void cpp_loop(benchmark::State &state) {
  Data d = makeData(state.range(0), state.range(1), state.range(2));
  for (auto _ : state) {
    for (std::int64_t b = 0; b < d.batch; ++b)
      for (std::int64_t i = 0; i < d.m; ++i) {
        const double *w = &d.w[i * d.k], *l = &d.lo[b * d.k], *u = &d.hi[b * d.k];
        double sl = 0, sh = 0, abs = 0;
        for (std::int64_t j = 0; j < d.k; ++j) {
          sl += w[j] * (w[j] >= 0 ? l[j] : u[j]);
          sh += w[j] * (w[j] >= 0 ? u[j] : l[j]);
          abs += std::fabs(w[j]) * std::max(std::fabs(l[j]), std::fabs(u[j]));
        }
        double e = fp::sumError(static_cast<std::size_t>(d.k), abs);
        d.yLo[b * d.m + i] = fp::lowerOrInf(fp::nextDown(sl - e));
        d.yHi[b * d.m + i] = fp::upperOrInf(fp::nextUp(sh + e));
      }
    benchmark::DoNotOptimize(d.yLo.data());
    benchmark::ClobberMemory();
  }
  setItems(state, d);
}

void cpp_box_rows(benchmark::State &state) {
  Data d = makeData(state.range(0), state.range(1), state.range(2));
  std::vector<gm::bounds::kernels::BoxSums> lo(d.m), hi(d.m);
  for (auto _ : state) {
    for (std::int64_t b = 0; b < d.batch; ++b) {
      const double *l = &d.lo[b * d.k], *u = &d.hi[b * d.k];
      gm::bounds::kernels::boxRows(d.w.data(), d.m, d.k, l, u, lo.data());
      gm::bounds::kernels::boxRows(d.w.data(), d.m, d.k, u, l, hi.data());
      for (std::int64_t i = 0; i < d.m; ++i) {
        double e = fp::sumError(static_cast<std::size_t>(d.k), std::max(lo[i].abs, hi[i].abs));
        d.yLo[b * d.m + i] = fp::lowerOrInf(fp::nextDown(lo[i].sum - e));
        d.yHi[b * d.m + i] = fp::upperOrInf(fp::nextUp(hi[i].sum + e));
      }
    }
    benchmark::DoNotOptimize(d.yLo.data());
    benchmark::ClobberMemory();
  }
  setItems(state, d);
}

// Y (batch x m) = X (batch x k) * W^T.
void blas_dgemm(benchmark::State &state) {
  Data d = makeData(state.range(0), state.range(1), state.range(2));
  int m = static_cast<int>(d.m), k = static_cast<int>(d.k), n = static_cast<int>(d.batch);
  for (auto _ : state) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0, d.xd.data(), k, d.w.data(), k, 0.0,
                d.yd.data(), m);
    benchmark::DoNotOptimize(d.yd.data());
  }
  setItems(state, d);
}

void blas_sgemm(benchmark::State &state) {
  Data d = makeData(state.range(0), state.range(1), state.range(2));
  int m = static_cast<int>(d.m), k = static_cast<int>(d.k), n = static_cast<int>(d.batch);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, d.xf.data(), k, d.wf.data(), k, 0.0f,
                d.yf.data(), m);
    benchmark::DoNotOptimize(d.yf.data());
  }
  setItems(state, d);
}

void shapes(benchmark::internal::Benchmark *b) {
  for (std::int64_t batch : {1, 64}) {
    b->Args({256, 256, batch});
    b->Args({256, 784, batch});
  }
}

BENCHMARK(jit_host)->Apply(shapes);
BENCHMARK(jit_v3)->Apply(shapes);
BENCHMARK(cpp_loop)->Apply(shapes);
BENCHMARK(cpp_box_rows)->Apply(shapes);
BENCHMARK(blas_dgemm)->Apply(shapes);
BENCHMARK(blas_sgemm)->Apply(shapes);

} // namespace

BENCHMARK_MAIN();
