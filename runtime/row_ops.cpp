#include "runtime/row_ops.h"

#include "bounds/fp.h"
#include "bounds/row_kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace gm::rowops {

namespace {

namespace fp = bounds::fp;
namespace k = bounds::kernels;
constexpr double kInf = std::numeric_limits<double>::infinity();


} // namespace

void affine(const double *A, const double *c, const double *W, const double *hlo, const double *hhi,
            const double *b, std::int64_t R, std::int64_t m, std::int64_t kk, double *outA, double *outC,
            double *scratch) {
  // v_j = sum_q |W_jq| |h_q|max: the product's error is gamma_{m+1} |A| v.
  double *v = scratch;
  for (std::int64_t j = 0; j < m; ++j) {
    double s = 0;
    for (std::int64_t q = 0; q < kk; ++q)
      s += std::fabs(W[j * kk + q]) * std::max(std::fabs(hlo[q]), std::fabs(hhi[q]));
    v[j] = s;
  }
  if (R > 0 && kk > 0 && m > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(R), static_cast<int>(kk),
                static_cast<int>(m), 1.0, A, static_cast<int>(m), W, static_cast<int>(kk), 0.0, outA,
                static_cast<int>(kk));
  else
    std::fill(outA, outA + R * kk, 0.0);
  for (std::int64_t r = 0; r < R; ++r) {
    const double *a = A + r * m;
    double sum = c[r], abs = std::fabs(c[r]), weighted = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      double p = b ? a[j] * b[j] : 0;
      sum += p;
      abs += std::fabs(p);
      weighted += std::fabs(a[j]) * v[j];
    }
    double slack = fp::sumError(static_cast<std::size_t>(m) + 1, weighted) * (1 + 0x1p-40);
    outC[r] = fp::lowerSum(sum, abs, static_cast<std::size_t>(m) + 1, slack);
  }
}

void relax(const double *A, const double *c, const double *kl, const double *bl, const double *ku,
           const double *bu, const double *zlo, const double *zhi, std::int64_t R, std::int64_t n, double *outA,
           double *outC, double *scratch) {
  for (std::int64_t j = 0; j < n; ++j)
    scratch[j] = std::max(std::fabs(zlo[j]), std::fabs(zhi[j]));
  std::copy(A, A + R * n, outA);
  thread_local std::vector<k::RelaxSums> sums; // grows once per thread, then reused
  sums.resize(static_cast<std::size_t>(R));
  k::relaxRows(outA, static_cast<std::size_t>(R), static_cast<std::size_t>(n), kl, bl, ku, bu, scratch, sums.data());
  for (std::int64_t r = 0; r < R; ++r) {
    const k::RelaxSums &s = sums[static_cast<std::size_t>(r)];
    double slack = fp::sumError(1, s.absCoef) * (1 + 0x1p-40);
    // A non-finite coefficient makes the sums NaN: the row is unbounded.
    outC[r] = std::isnan(s.absCoef) ? -kInf
                                    : fp::lowerSum(c[r] + s.bias, std::fabs(c[r]) + s.absBias,
                                                    static_cast<std::size_t>(n) + 1, slack);
  }
}

void concretize(const double *A, const double *c, const double *lo, const double *hi, std::int64_t R,
                std::int64_t n, double *out) {
  thread_local std::vector<k::BoxSums> sums;
  sums.resize(static_cast<std::size_t>(R));
  k::boxRows(A, static_cast<std::size_t>(R), static_cast<std::size_t>(n), lo, hi, sums.data());
  for (std::int64_t r = 0; r < R; ++r) {
    const k::BoxSums &s = sums[static_cast<std::size_t>(r)];
    out[r] = fp::lowerSum(c[r] + s.sum, std::fabs(c[r]) + s.abs, static_cast<std::size_t>(n) + 1, 0);
  }
}

} // namespace gm::rowops
