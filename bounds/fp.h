// Outward rounding without touching the CPU rounding mode.
//
// Two tools, both argued in docs/SOUNDNESS.md ("Floating point"):
//  - exact directed rounding of one operation, from the error-free
//    transformations (TwoSum, and fma for products and quotients): the result
//    is the correctly rounded value, stepped one ulp outward only when inexact;
//  - an outward error term for long sums (dot products, matrix products in any
//    summation order, BLAS included): |fl(sum) - sum| <= gamma_n * sum|terms|.
// libm functions (exp, log, tanh, erf) are not correctly rounded; their results
// are widened by kLibmRel relative error (docs/SOUNDNESS.md gives the budget).
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>

namespace gm::bounds::fp {

inline double nextDown(double x) { return std::nextafter(x, -std::numeric_limits<double>::infinity()); }
inline double nextUp(double x) { return std::nextafter(x, std::numeric_limits<double>::infinity()); }

// NaN only arises from inf - inf or 0 * inf on unbounded inputs; the sound
// reading of an undefined bound is "no bound".
inline double lowerOrInf(double x) { return std::isnan(x) ? -std::numeric_limits<double>::infinity() : x; }
inline double upperOrInf(double x) { return std::isnan(x) ? std::numeric_limits<double>::infinity() : x; }

// Directed sum: TwoSum gives the exact error e = (a + b) - fl(a + b).
inline double addDown(double a, double b) {
  double s = a + b;
  if (!std::isfinite(s))
    return lowerOrInf(s);
  double bb = s - a, e = (a - (s - bb)) + (b - bb);
  return e < 0 ? nextDown(s) : s;
}
inline double addUp(double a, double b) {
  double s = a + b;
  if (!std::isfinite(s))
    return upperOrInf(s);
  double bb = s - a, e = (a - (s - bb)) + (b - bb);
  return e > 0 ? nextUp(s) : s;
}
inline double subDown(double a, double b) { return addDown(a, -b); }
inline double subUp(double a, double b) { return addUp(a, -b); }

// Directed product: fma(a, b, -p) is the exact error of p = fl(a*b) (away from
// underflow, where one ulp step covers it anyway). 0 * inf is 0: an unbounded
// side multiplied by an exact zero contributes nothing.
inline double mulDown(double a, double b) {
  if (a == 0 || b == 0)
    return 0;
  double p = a * b;
  if (!std::isfinite(p))
    return lowerOrInf(p);
  double e = std::fma(a, b, -p);
  if (e < 0 || (p != 0 && std::fabs(p) < 0x1p-1000))
    return nextDown(p);
  return p == 0 ? -0x1p-1074 * (std::signbit(a) != std::signbit(b)) : p;
}
inline double mulUp(double a, double b) { return -mulDown(-a, b); }

// Directed quotient: r = a - q*b is exact (fma), its sign says which side q is.
inline double divDown(double a, double b) {
  double q = a / b;
  if (!std::isfinite(q) || b == 0)
    return lowerOrInf(q);
  double r = std::fma(-q, b, a); // a - q*b
  bool below = (r > 0) == (b > 0); // true quotient is above q
  if ((r != 0 && !below) || (q != 0 && std::fabs(q) < 0x1p-1000))
    return nextDown(q);
  return q;
}
inline double divUp(double a, double b) { return -divDown(-a, b); }

inline double sqrtDown(double a) { return a <= 0 ? 0 : nextDown(std::sqrt(a)); }
inline double sqrtUp(double a) { return a <= 0 ? 0 : nextUp(std::sqrt(a)); }

// Bound on the error of an n-term sum or dot product evaluated in double in any
// order, relative to the sum of absolute terms: >= 2*gamma_n (twice the
// classical bound, so that computing the error term itself in floating point
// cannot make it too small). Plus an absolute term for underflowed products.
inline double sumErrorRel(std::size_t n) { return static_cast<double>(n + 2) * 0x1p-52; }
inline double sumErrorAbs(std::size_t n) { return static_cast<double>(n + 1) * 0x1p-1000; }
inline double sumError(std::size_t n, double absSum) { return sumErrorRel(n) * absSum + sumErrorAbs(n); }

// The lower bound of a sum of n terms computed as `sum` (any order), whose
// absolute values sum to `absSum`, less `extra`: rounded down; NaN -> -inf.
inline double lowerSum(double sum, double absSum, std::size_t n, double extra) {
  if (std::isnan(sum))
    return -std::numeric_limits<double>::infinity();
  return lowerOrInf(subDown(sum, addUp(sumError(n, absSum), extra)));
}

// Relative error allowed for a libm result (glibc documents at most a few ulp
// for exp, log, tanh, erf on x86-64 and aarch64; this allows 16).
constexpr double kLibmRel = 0x1p-48;
inline double libmDown(double v) { return std::isfinite(v) ? nextDown(v - std::fabs(v) * kLibmRel) - 0x1p-1000 : v; }
inline double libmUp(double v) { return std::isfinite(v) ? nextUp(v + std::fabs(v) * kLibmRel) + 0x1p-1000 : v; }

// A lower (upper) bound accumulated as a double sum with a known error bound.
struct SumDown {
  double sum = 0, abs = 0;
  std::size_t n = 0;
  void add(double t) { sum += t; abs += std::fabs(t); ++n; }
  double value() const { return lowerOrInf(nextDown(sum - sumError(n, abs))); }
};
struct SumUp {
  double sum = 0, abs = 0;
  std::size_t n = 0;
  void add(double t) { sum += t; abs += std::fabs(t); ++n; }
  double value() const { return upperOrInf(nextUp(sum + sumError(n, abs))); }
};

} // namespace gm::bounds::fp
