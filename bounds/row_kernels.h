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
// For each of R rows x = src of length m (one after the other):
// a[c] <- x[c] * (x[c] > 0 ? kl[c] : ku[c]); out[r] holds the sum of
// x[c] * (x[c] > 0 ? bl[c] : bu[c]), its absolute sum, and sum |a[c]| * mag[c].
// src may be a (in place) or not overlap it.
void relaxRows(const double *src, double *a, std::size_t R, std::size_t m, const double *kl, const double *bl,
               const double *ku, const double *bu, const double *mag, RelaxSums *out);

// out[c] = sum over the R rows of |a[c]|: zero exactly where the column is
// zero in every row (a sum of non-negative terms does not round to zero).
void columnMagnitudes(const double *a, std::size_t R, std::size_t m, double *out);

struct DotSums {
  double sum, abs, weighted;
};
// sum a[c]*b[c], sum |a[c]*b[c]|, sum |a[c]|*v[c], for each of R rows of length m.
void biasRows(const double *a, std::size_t R, std::size_t m, const double *b, const double *v, DotSums *out);

struct BoxSums {
  double sum, abs;
};
// sum (a[c] > 0 ? a[c]*lo[c] : a[c] < 0 ? a[c]*hi[c] : 0) and its absolute
// sum, for each of R rows of length n (the side not picked may be infinite).
void boxRows(const double *a, std::size_t R, std::size_t n, const double *lo, const double *hi, BoxSums *out);

struct AffineSums {
  double centre, radius, magnitude;
};
// sum w[k]*c[k], sum |w[k]|*r[k], sum |w[k]|*a[k] over one row of a weight matrix.
AffineSums affineRow(const double *w, std::size_t n, const double *c, const double *r, const double *a);
// The same with the row in float (converted exactly): half the memory traffic.
AffineSums affineRow(const float *w, std::size_t n, const double *c, const double *r, const double *a);

} // namespace gm::bounds::kernels
