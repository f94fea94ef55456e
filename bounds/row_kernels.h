// Per-row sums of the dense-chain backward passes (dense_chain.cpp).
//
// Branch-free and in interleaved partial sums so that they vectorise. Neither
// changes a bound: the error terms these sums feed (fp::sumError) hold for any
// summation order, and each selected product is one rounding because the
// product it is added to is an exact zero. A NaN or infinite coefficient makes
// every returned sum NaN, which the caller turns into an unbounded row.
#pragma once

#include <cstddef>

namespace gm::bounds::kernels {

struct RelaxSums {
  double bias, absBias, absCoef;
};
// a[c] <- a[c] * (a[c] > 0 ? kl[c] : ku[c]). Returns the sum of
// a[c] * (a[c] > 0 ? bl[c] : bu[c]), its absolute sum, and sum |new a[c]| * mag[c].
RelaxSums relaxRow(double *a, std::size_t m, const double *kl, const double *bl, const double *ku, const double *bu,
                   const double *mag);

struct DotSums {
  double sum, abs, weighted;
};
// sum a[c]*b[c], sum |a[c]*b[c]|, sum |a[c]|*v[c].
DotSums biasRow(const double *a, std::size_t m, const double *b, const double *v);

struct BoxSums {
  double sum, abs;
};
// sum (a[c] > 0 ? a[c]*lo[c] : a[c]*hi[c]) and its absolute sum.
BoxSums boxRow(const double *a, std::size_t n, const double *lo, const double *hi);

struct AffineSums {
  double centre, radius, magnitude;
};
// sum w[k]*c[k], sum |w[k]|*r[k], sum |w[k]|*a[k] over one row of a weight matrix.
AffineSums affineRow(const double *w, std::size_t n, const double *c, const double *r, const double *a);
// The same with the row in float (converted exactly): half the memory traffic.
AffineSums affineRow(const float *w, std::size_t n, const double *c, const double *r, const double *a);

} // namespace gm::bounds::kernels
