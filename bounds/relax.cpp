// Relaxations (docs/SOUNDNESS.md, "Relaxations"): line choice, then a proof of
// validity in floating point that moves the intercept outward where needed.
#include "bounds/relax.h"

#include "bounds/fp.h"
#include "bounds/relu_lines.h"
#include "ir/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

namespace gm::bounds {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A smooth function with its derivative and where it is convex: on x <= 0
// and on x >= 0 separately (S-shaped functions change at 0).
struct Fn {
  double (*f)(double);
  double (*df)(double);
  bool convexLeft, convexRight; // convexity on (-inf, 0] and [0, inf)
  bool sShaped;                 // auto_LiRPA's S-shaped rules (sigmoid, tanh, erf)
};

double sigmoidF(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
double sigmoidD(double x) {
  double s = sigmoidF(x);
  return s * (1 - s);
}
double tanhF(double x) { return std::tanh(x); }
double tanhD(double x) {
  double t = std::tanh(x);
  return 1 - t * t;
}
double erfF(double x) { return std::erf(x); }
double erfD(double x) { return 1.1283791670955126 * std::exp(-x * x); }
double expF(double x) { return std::exp(x); }
double logF(double x) { return std::log(x); }
double logD(double x) { return 1 / x; }
double sqrtF(double x) { return std::sqrt(x); }
double sqrtD(double x) { return 0.5 / std::sqrt(x); }
double sqF(double x) { return x * x; }
double sqD(double x) { return 2 * x; }

const Fn kSigmoid{sigmoidF, sigmoidD, true, false, true};
const Fn kTanh{tanhF, tanhD, true, false, true};
const Fn kErf{erfF, erfD, true, false, true};
const Fn kExp{expF, expF, true, true, false};
const Fn kLog{logF, logD, false, false, false};
const Fn kSqrt{sqrtF, sqrtD, false, false, false};
const Fn kSquare{sqF, sqD, true, true, false};

// Enclosure of f(x): libm results carry at most kLibmRel relative error.
void enclose(const Fn &fn, double x, double &lo, double &hi) {
  double v = fn.f(x);
  lo = fp::libmDown(v);
  hi = fp::libmUp(v);
}

// Returns delta >= 0 such that  sign*(f(x) - (k*x + b)) + delta >= 0  on [l, u]
// (sign = +1: the line is a lower bound; -1: an upper bound). The argument, per
// piece where sign*f is convex or concave (docs/SOUNDNESS.md):
//  - concave: g = sign*(f - line) is concave, its minimum is at an endpoint;
//  - convex:  g lies above its tangent at any y, so min g >= g(y) + min over x
//    of g'(y) (x - y); y is the hint (the tangent point of the line).
double deficit(const Fn &fn, int sign, double k, double b, double l, double u, double hint) {
  auto lineLo = [&](double x) { return fp::addDown(fp::mulDown(k, x), b); };
  auto lineHi = [&](double x) { return fp::addUp(fp::mulUp(k, x), b); };
  auto gLow = [&](double x) { // lower bound of g(x)
    double fl, fh;
    enclose(fn, x, fl, fh);
    return sign > 0 ? fp::subDown(fl, lineHi(x)) : fp::subDown(lineLo(x), fh);
  };
  double worst = kInf;
  auto piece = [&](double a, double c, bool fConvex) {
    if (!(a <= c))
      return;
    bool gConvex = sign > 0 ? fConvex : !fConvex;
    if (!gConvex) {
      worst = std::min({worst, gLow(a), gLow(c)});
      return;
    }
    // Each y gives a valid bound; the line's tangent point and the piece's
    // ends (where a chord touches) are the candidates, the best one counts.
    double best = -kInf;
    for (double y : {std::clamp(hint, a, c), a, c}) {
      double d = fn.df(y);
      // Derivative's evaluation error: relative for products and quotients,
      // plus an absolute part for the cancellation in s(1-s) and 1-t² (a few
      // ulp of 1, where the derivative itself is tiny).
      double slack = std::fabs(d) * 0x1p-40 + 0x1p-48;
      double gl = sign * (d - k) - slack, gh = sign * (d - k) + slack;
      // min over x in [a, c] of g'(y) (x - y), g'(y) in [gl, gh]
      double lo = kInf;
      for (double gp : {gl, gh})
        for (double dx : {fp::subDown(a, y), fp::subUp(c, y)})
          lo = std::min(lo, fp::mulDown(gp, dx));
      best = std::max(best, fp::addDown(gLow(y), lo));
    }
    worst = std::min(worst, best);
  };
  if (fn.convexLeft == fn.convexRight) {
    piece(l, u, fn.convexLeft);
  } else {
    piece(l, std::min(u, 0.0), fn.convexLeft);
    piece(std::max(l, 0.0), u, fn.convexRight);
  }
  if (std::isnan(worst))
    return kInf;
  return worst >= 0 ? 0 : -worst;
}

struct Line {
  double k, b, hint;
};

Line tangent(const Fn &fn, double p) {
  double k = fn.df(p);
  return {k, fn.f(p) - k * p, p};
}
Line chord(const Fn &fn, double l, double u) {
  double fl = fn.f(l), fu = fn.f(u);
  double k = (fu - fl) / std::max(u - l, 1e-8);
  return {k, fl - k * l, l};
}

// auto_LiRPA's tangent-point tables for S-shaped functions (README of the
// reference bounds, "Sigmoid relaxation"): step 0.01, looked up at the grid
// point just above the bound. Entries are computed on first use.
class TangentTable {
public:
  static constexpr double kStep = 0.01;
  static constexpr std::size_t kSize = 50005;
  explicit TangentTable(const Fn &fn) : fn_(fn), low_(kSize, std::nan("")), up_(kSize, std::nan("")) {}

  static std::size_t index(double v) {
    double t = std::trunc(v / kStep);
    return static_cast<std::size_t>(std::max(0.0, std::min(t, static_cast<double>(kSize)))) + 1;
  }
  // Largest d <= 0 whose tangent is below f at g = i*step (or NaN past the end).
  double low(std::size_t i) {
    if (i >= kSize)
      return std::nan("");
    std::lock_guard<std::mutex> lock(mutex_);
    if (std::isnan(low_[i])) {
      double g = static_cast<double>(i) * kStep;
      auto valid = [&](double d) { return fn_.df(d) * (g - d) + fn_.f(d) <= fn_.f(g); };
      double l = -1, r = 0;
      while (!valid(l))
        l *= 2;
      for (int it = 0; it < 100; ++it) {
        double m = (l + r) / 2;
        (valid(m) ? l : r) = m;
      }
      low_[i] = l;
    }
    return low_[i];
  }
  // Smallest d >= 0 whose tangent is above f at -g.
  double up(std::size_t i) {
    if (i >= kSize)
      return std::nan("");
    std::lock_guard<std::mutex> lock(mutex_);
    if (std::isnan(up_[i])) {
      double g = -static_cast<double>(i) * kStep;
      auto valid = [&](double d) { return fn_.df(d) * (g - d) + fn_.f(d) >= fn_.f(g); };
      double l = 0, r = 1;
      while (!valid(r))
        r *= 2;
      for (int it = 0; it < 100; ++it) {
        double m = (l + r) / 2;
        (valid(m) ? r : l) = m;
      }
      up_[i] = r;
    }
    return up_[i];
  }

private:
  const Fn &fn_;
  std::vector<double> low_, up_;
  std::mutex mutex_;
};

TangentTable &tableFor(const Fn &fn) {
  static TangentTable sigmoid(kSigmoid), tanh(kTanh), erf(kErf);
  return &fn == &kSigmoid ? sigmoid : &fn == &kTanh ? tanh : erf;
}

// auto_LiRPA 0.7.1's S-shaped relaxation (BoundSigmoid/BoundTanh, non-optimised,
// with its "smoothness enhancement"), in the order it assigns the lines.
void sShaped(const Fn &fn, double l, double u, Line &lower, Line &upper) {
  double m = (l + u) / 2;
  Line ch = chord(fn, l, u);
  if (u <= 0) {
    upper = ch;
    lower = tangent(fn, m);
  } else if (l >= 0) {
    lower = ch;
    upper = tangent(fn, m);
  }
  TangentTable &table = tableFor(fn);
  double dl = table.low(TangentTable::index(u)), du = table.up(TangentTable::index(-l));
  if (std::isnan(dl))
    dl = l;
  if (std::isnan(du))
    du = u;
  if (l < 0 && u > 0) {
    lower = ch.k < fn.df(l) ? ch : tangent(fn, dl);
    upper = ch.k < fn.df(u) ? ch : tangent(fn, du);
  }
  if (fn.f(l) < fn.f(u)) {
    if (dl >= m && l < 0 && u > 0)
      lower = tangent(fn, m);
    if (du < m && l < 0 && u > 0)
      upper = tangent(fn, m);
  }
}

void choose(Op op, double l, double u, Line &lower, Line &upper, double exponent) {
  double m = (l + u) / 2;
  switch (op) {
  case Op::Sigmoid:
    return sShaped(kSigmoid, l, u, lower, upper);
  case Op::Tanh:
    return sShaped(kTanh, l, u, lower, upper);
  case Op::Erf:
    return sShaped(kErf, l, u, lower, upper);
  case Op::Exp: // convex: tangent below (auto_LiRPA: at min(m, l + 0.99)), chord above
    lower = tangent(kExp, std::min(m, l + 0.99));
    upper = chord(kExp, l, u);
    return;
  case Op::Log:
  case Op::Sqrt: { // concave: chord below, tangent at m above
    const Fn &fn = op == Op::Log ? kLog : kSqrt;
    lower = chord(fn, l, u);
    upper = tangent(fn, m);
    return;
  }
  case Op::Pow:
    GAMMA_ASSERT(exponent == 2, "only x^2 is relaxed");
    lower = tangent(kSquare, m);
    upper = chord(kSquare, l, u);
    return;
  default:
    GAMMA_ASSERT(false, "no smooth relaxation for this op");
  }
}

const Fn &fnOf(Op op) {
  switch (op) {
  case Op::Sigmoid:
    return kSigmoid;
  case Op::Tanh:
    return kTanh;
  case Op::Erf:
    return kErf;
  case Op::Exp:
    return kExp;
  case Op::Log:
    return kLog;
  case Op::Sqrt:
    return kSqrt;
  default:
    return kSquare;
  }
}


void absLines(double l, double u, double &kl, double &bl, double &ku, double &bu) {
  bl = 0;
  if (l >= 0) {
    kl = ku = 1;
    bu = 0;
    return;
  }
  if (u <= 0) {
    kl = ku = -1;
    bu = 0;
    return;
  }
  kl = u > -l ? 1.0 : -1.0; // |x| >= x and |x| >= -x
  // chord through (l, -l) and (u, u); |x| is convex, so check both ends.
  ku = (u + l) / (u - l);
  bu = std::max(fp::subUp(-l, fp::mulDown(ku, l)), fp::subUp(u, fp::mulDown(ku, u)));
  if (!std::isfinite(bu)) {
    ku = 0;
    bu = kInf;
  }
}

} // namespace

bool hasRelaxation(Op op) {
  switch (op) {
  case Op::Relu:
  case Op::Sigmoid:
  case Op::Tanh:
  case Op::Exp:
  case Op::Log:
  case Op::Erf:
  case Op::Sqrt:
  case Op::Abs:
  case Op::Pow:
    return true;
  default:
    return false;
  }
}

Lines relax(Op op, const std::vector<double> &lower, const std::vector<double> &upper, double exponent) {
  std::size_t n = lower.size();
  Lines lines{std::vector<double>(n), std::vector<double>(n), std::vector<double>(n), std::vector<double>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    double l = lower[i], u = upper[i];
    double &kl = lines.kl[i], &bl = lines.bl[i], &ku = lines.ku[i], &bu = lines.bu[i];
    if (op == Op::Relu) {
      reluLines(l, u, kl, bl, ku, bu);
      continue;
    }
    if (op == Op::Abs) {
      absLines(l, u, kl, bl, ku, bu);
      continue;
    }
    if (!std::isfinite(l) || !std::isfinite(u) || ((op == Op::Log || op == Op::Sqrt) && l <= 0)) {
      // No finite linear bound: constant lines from the interval of f where it
      // has one, else an unbounded intercept.
      kl = ku = 0;
      bl = -kInf;
      bu = kInf;
      if (op == Op::Sigmoid)
        bl = 0, bu = 1;
      if (op == Op::Tanh || op == Op::Erf)
        bl = -1, bu = 1;
      if (op == Op::Exp || op == Op::Sqrt || (op == Op::Pow))
        bl = 0;
      if (op == Op::Sqrt && std::isfinite(u))
        bu = fp::sqrtUp(std::max(u, 0.0));
      if (op == Op::Log && std::isfinite(u) && u > 0)
        bu = fp::libmUp(std::log(u));
      continue;
    }
    const Fn &fn = fnOf(op);
    if (l == u) { // a point: both lines constant at f(l)
      double lo, hi;
      enclose(fn, l, lo, hi);
      kl = ku = 0;
      bl = lo;
      bu = hi;
      continue;
    }
    Line lo{}, up{};
    choose(op, l, u, lo, up, exponent);
    kl = lo.k;
    ku = up.k;
    bl = fp::subDown(lo.b, deficit(fn, +1, lo.k, lo.b, l, u, lo.hint));
    bu = fp::addUp(up.b, deficit(fn, -1, up.k, up.b, l, u, up.hint));
  }
  return lines;
}

Planes mulLowerPlane(double lx, double ux, double ly, double uy) {
  (void)ux;
  (void)uy;
  // x*y - (ly x + lx y - lx ly) = (x - lx)(y - ly) >= 0
  return {ly, lx, -fp::mulUp(lx, ly)};
}

Planes mulUpperPlane(double lx, double ux, double ly, double uy) {
  (void)lx;
  (void)uy;
  // (ly x + ux y - ux ly) - x*y = (ux - x)(y - ly) >= 0
  return {ly, ux, -fp::mulDown(ux, ly)};
}

} // namespace gm::bounds
