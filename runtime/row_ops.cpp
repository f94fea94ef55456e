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

// Index lists, grown once per thread and then reused.
std::vector<std::int64_t> &liveColumns() {
  thread_local std::vector<std::int64_t> cols;
  return cols;
}
std::vector<std::int64_t> &keptPairs() {
  thread_local std::vector<std::int64_t> pairs;
  return pairs;
}
std::vector<std::int64_t> &keptRows() {
  thread_local std::vector<std::int64_t> rows;
  return rows;
}

} // namespace

void magnitudes(const double *absW, const double *hlo, const double *hhi, std::int64_t m, std::int64_t kk,
                double *v, double *scratch) {
  for (std::int64_t q = 0; q < kk; ++q)
    scratch[q] = std::max(std::fabs(hlo[q]), std::fabs(hhi[q]));
  if (m > 0 && kk > 0)
    cblas_dgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(m), static_cast<int>(kk), 1.0, absW,
                static_cast<int>(kk), scratch, 1, 0.0, v, 1);
  else
    std::fill(v, v + m, 0.0);
}

void affine(const double *A, const double *c, const double *W, const double *v, const double *b, std::int64_t R,
            std::int64_t m, std::int64_t kk, double *outA, double *outC, double *scratch) {
  // Columns of A that are zero in every row (the neurons an inactive ReLU
  // cut off) add nothing, error terms included (a zero coefficient facing an
  // infinite magnitude adds 0, as in the interpreter): the sums and the
  // product run over the others only.
  double *live = scratch;
  k::columnMagnitudes(A, static_cast<std::size_t>(R), static_cast<std::size_t>(m), live);
  std::vector<std::int64_t> &cols = liveColumns();
  cols.clear();
  for (std::int64_t j = 0; j < m; ++j)
    if (live[j] != 0)
      cols.push_back(j);
  std::int64_t L = static_cast<std::int64_t>(cols.size());
  const double *Ap = A, *Wp = W, *bp = b, *vp = v;
  std::int64_t inner = m;
  if (L < m) {
    inner = L;
    double *Ag = scratch + m, *Wg = Ag + R * L, *bg = Wg + L * kk, *vg = bg + L;
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t x = 0; x < L; ++x)
        Ag[r * L + x] = A[r * m + cols[static_cast<std::size_t>(x)]];
    for (std::int64_t x = 0; x < L; ++x) {
      std::int64_t j = cols[static_cast<std::size_t>(x)];
      if (outA) // W's rows only where the product is wanted
        std::copy_n(W + j * kk, kk, Wg + x * kk);
      bg[x] = b ? b[j] : 0;
      vg[x] = v[j];
    }
    Ap = Ag, Wp = Wg, bp = bg, vp = vg;
  } else if (!b) {
    double *zero = scratch + m; // biasRows reads a bias
    std::fill(zero, zero + m, 0.0);
    bp = zero;
  }
  // c + A b less the product's error gamma_{m+1} |A| v (v_j >= sum_q |W_jq| |h_q|max).
  thread_local std::vector<k::DotSums> sums;
  sums.resize(static_cast<std::size_t>(R));
  k::biasRows(Ap, static_cast<std::size_t>(R), static_cast<std::size_t>(inner), bp, vp, sums.data());
  for (std::int64_t r = 0; r < R; ++r) {
    const k::DotSums &d = sums[static_cast<std::size_t>(r)];
    double slack = fp::sumError(static_cast<std::size_t>(m) + 1, d.weighted) * (1 + 0x1p-40);
    outC[r] = std::isnan(d.weighted) ? -kInf
                                     : fp::lowerSum(c[r] + d.sum, std::fabs(c[r]) + d.abs,
                                                    static_cast<std::size_t>(m) + 1, slack);
  }
  if (!outA)
    return;
  if (R == 0 || kk == 0 || inner == 0) {
    std::fill(outA, outA + R * kk, 0.0);
    return;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(R), static_cast<int>(kk),
              static_cast<int>(inner), 1.0, Ap, static_cast<int>(inner), Wp, static_cast<int>(kk), 0.0, outA,
              static_cast<int>(kk));
}

void product(const double *A, const double *W, std::int64_t R, std::int64_t m, std::int64_t kk, double *out) {
  if (R > 0 && kk > 0 && m > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(R), static_cast<int>(kk),
                static_cast<int>(m), 1.0, A, static_cast<int>(m), W, static_cast<int>(kk), 0.0, out,
                static_cast<int>(kk));
  else
    std::fill(out, out + R * kk, 0.0);
}

std::int64_t affineScratch(std::int64_t R, std::int64_t m, std::int64_t k) { return m + R * m + m * k + 2 * m; }

void relax(const double *A, const double *c, const double *kl, const double *bl, const double *ku,
           const double *bu, const double *zlo, const double *zhi, std::int64_t R, std::int64_t n, double *outA,
           double *outC, double *scratch) {
  for (std::int64_t j = 0; j < n; ++j)
    scratch[j] = std::max(std::fabs(zlo[j]), std::fabs(zhi[j]));
  thread_local std::vector<k::RelaxSums> sums; // grows once per thread, then reused
  sums.resize(static_cast<std::size_t>(R));
  k::relaxRows(A, outA, static_cast<std::size_t>(R), static_cast<std::size_t>(n), kl, bl, ku, bu, scratch, sums.data());
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

void settle(const double *A, const double *c, const double *zlo, const double *zhi, const double *W,
            const double *v, const double *hlo, const double *hhi, const double *b, std::int64_t R, std::int64_t m, std::int64_t kk,
            double *out, double *scratch) {
  std::int64_t q = R / 2;
  concretize(A, c, zlo, zhi, R, m, out);
  // Scratch: the gathered rows, their constants, the product, its
  // constants and bounds, then lb.affine's own scratch.
  double *Ag = scratch, *cg = Ag + q * m, *Ah = cg + q, *ch = Ah + q * kk, *lower = ch + q, *rest = lower + q;
  std::vector<std::int64_t> &rows = keptRows();
  auto exact = [&] {
    std::int64_t n = static_cast<std::int64_t>(rows.size());
    if (n == 0)
      return;
    for (std::int64_t x = 0; x < n; ++x) {
      std::copy_n(A + rows[static_cast<std::size_t>(x)] * m, m, Ag + x * m);
      cg[x] = c[rows[static_cast<std::size_t>(x)]];
    }
    affine(Ag, cg, W, v, b, n, m, kk, Ah, ch, rest);
    concretize(Ah, ch, hlo, hhi, n, kk, lower);
    for (std::int64_t x = 0; x < n; ++x)
      out[rows[static_cast<std::size_t>(x)]] = lower[x];
  };
  std::vector<std::int64_t> &kept = keptPairs();
  kept.clear();
  for (std::int64_t t = 0; t < q; ++t)
    if (!(out[t] >= 0 || -out[q + t] <= 0))
      kept.push_back(t);
  rows.clear();
  for (std::int64_t t : kept)
    rows.push_back(q + t);
  exact();
  rows.clear();
  for (std::int64_t t : kept)
    if (-out[q + t] > 0)
      rows.push_back(t);
  exact();
}

std::int64_t settleScratch(std::int64_t R, std::int64_t m, std::int64_t k) {
  std::int64_t q = R / 2;
  return q * m + q + q * k + 2 * q + affineScratch(q, m, k);
}

} // namespace gm::rowops
