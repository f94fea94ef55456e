// Interval bound propagation, one rule per op (docs/SOUNDNESS.md, "IBP").
// Every endpoint is rounded outward: exactly for single operations (fp.h),
// with an error term for sums, with the libm budget for transcendental functions.
#include "bounds/engine.h"
#include "bounds/fp.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace gm::bounds {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

// Monotone increasing f with the libm error budget; `lo`, `hi` clamp to the range.
Interval monotone(const Interval &x, double (*f)(double), double lo, double hi) {
  Interval y{x.lo, x.hi};
  for (std::size_t i = 0; i < x.size(); ++i) {
    y.lo[i] = std::clamp(fp::libmDown(f(x.lo[i])), lo, hi);
    y.hi[i] = std::clamp(fp::libmUp(f(x.hi[i])), lo, hi);
  }
  return y;
}

// Unimodal activations (silu, gelu): decreasing left of the minimiser x*,
// increasing right of it. `left` < x* < `right` bracket the minimiser and
// `minimum` is below the minimum value; `f` returns a value with a relative
// error budget `rel(x)` (fp::libmDown/Up's when rel returns 0).
struct Unimodal {
  double left, right, minimum;
  double (*f)(double);
  double (*rel)(double);
};

Interval unimodal(const Interval &x, const Unimodal &fn) {
  // The limits at ±inf are exact (0 and +inf): no error term, which would be inf·0.
  auto error = [&](double v, double y) { return std::isfinite(y) ? std::fabs(y) * fn.rel(v) : 0.0; };
  auto down = [&](double v) {
    double y = fn.f(v);
    return std::max(fn.minimum, fp::libmDown(fp::subDown(y, error(v, y))));
  };
  auto up = [&](double v) {
    double y = fn.f(v);
    return fp::libmUp(fp::addUp(y, error(v, y)));
  };
  Interval y{x.lo, x.hi};
  for (std::size_t i = 0; i < x.size(); ++i) {
    double l = x.lo[i], u = x.hi[i];
    if (u <= fn.left) {
      y.lo[i] = down(u);
      y.hi[i] = up(l);
    } else if (l >= fn.right) {
      y.lo[i] = down(l);
      y.hi[i] = up(u);
    } else {
      y.lo[i] = fn.minimum;
      y.hi[i] = std::max(up(l), up(u));
    }
  }
  return y;
}

// silu(x) = x·σ(x): x is exact, σ costs exp, an add and a divide; the libm
// budget covers the lot. Minimiser x* = -1.2784645427610738 (root of
// 1 + x(1 − σ(x))), minimum x* + 1.
double silu(double x) { return std::isinf(x) ? (x > 0 ? x : 0.0) : x * sigmoid(x); }
constexpr Unimodal kSilu{-1.27846455, -1.27846454, -0.278464542762, silu, [](double) { return 0.0; }};

// gelu(x) = x·Φ(x) = x·erfc(−x/√2)/2. The argument −x/√2 carries a relative
// error of 2⁻⁵² (the constant and the divide), which erfc magnifies by its
// condition number |z·erfc'(z)/erfc(z)| <= 2z² + 1 (docs/SOUNDNESS.md).
// Minimiser x* = -0.7517915246935645 (root of Φ(x) + xφ(x)), minimum
// -0.16997120747990366.
double gelu(double x) { return std::isinf(x) ? (x > 0 ? x : 0.0) : 0.5 * x * std::erfc(-x / std::numbers::sqrt2); }
double geluRel(double x) {
  double z2 = x * x / 2;
  return std::isfinite(z2) ? (2 * z2 + 2) * 0x1p-51 : 0.0;
}
constexpr Unimodal kGelu{-0.75179153, -0.75179152, -0.169971207481, gelu, geluRel};

void mulInterval(double al, double ah, double bl, double bh, double &lo, double &hi) {
  double c[4][2] = {{al, bl}, {al, bh}, {ah, bl}, {ah, bh}};
  lo = kInf;
  hi = -kInf;
  for (auto &p : c) {
    lo = std::min(lo, fp::mulDown(p[0], p[1]));
    hi = std::max(hi, fp::mulUp(p[0], p[1]));
  }
}

void divInterval(double al, double ah, double bl, double bh, double &lo, double &hi) {
  if (bl <= 0 && bh >= 0) { // the divisor may be 0: no finite bound
    lo = -kInf;
    hi = kInf;
    return;
  }
  // With the divisor of one sign, a/b is monotone in each operand: the
  // extremes are among the four directed endpoint quotients.
  double c[4][2] = {{al, bl}, {al, bh}, {ah, bl}, {ah, bh}};
  lo = kInf;
  hi = -kInf;
  for (auto &p : c) {
    lo = std::min(lo, fp::divDown(p[0], p[1]));
    hi = std::max(hi, fp::divUp(p[0], p[1]));
  }
}

// x^p for a constant p, x in [l, u].
void powInterval(double l, double u, double p, double &lo, double &hi) {
  auto down = [](double v) { return fp::libmDown(v); };
  auto up = [](double v) { return fp::libmUp(v); };
  if (p == 1) {
    lo = l;
    hi = u;
    return;
  }
  bool integer = std::floor(p) == p && std::fabs(p) < 0x1p52;
  if (integer) {
    bool even = std::fmod(p, 2.0) == 0;
    if (p == 0) {
      lo = hi = 1;
      return;
    }
    if (p > 0 && !even) { // odd: increasing
      lo = down(std::pow(l, p));
      hi = up(std::pow(u, p));
      return;
    }
    if (p > 0) { // even: decreasing then increasing
      double a = std::pow(l, p), b = std::pow(u, p);
      hi = up(std::max(a, b));
      lo = (l <= 0 && u >= 0) ? 0 : down(std::min(a, b));
      return;
    }
    if (l <= 0 && u >= 0) { // negative power through 0
      lo = even ? 0 : -kInf;
      hi = kInf;
      return;
    }
    double a = std::pow(l, p), b = std::pow(u, p);
    lo = down(std::min(a, b));
    hi = up(std::max(a, b));
    return;
  }
  // Fractional power: defined for x >= 0 only; monotone there.
  double cl = std::max(l, 0.0), cu = std::max(u, 0.0);
  double a = std::pow(cl, p), b = std::pow(cu, p);
  lo = std::max(0.0, down(std::min(a, b)));
  hi = up(std::max(a, b));
}

Interval binary(const GraphInfo &info, const Node &node, const Interval &a, const Interval &b) {
  const Shape &out = info.shape(node.results[0]);
  std::vector<std::int64_t> ia = broadcastIndex(info.shape(node.operands[0]), out);
  std::vector<std::int64_t> ib = broadcastIndex(info.shape(node.operands[1]), out);
  std::size_t n = ia.size();
  Interval y{std::vector<double>(n), std::vector<double>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    double al = a.lo[ia[i]], ah = a.hi[ia[i]], bl = b.lo[ib[i]], bh = b.hi[ib[i]];
    double &lo = y.lo[i], &hi = y.hi[i];
    switch (node.op) {
    case Op::Add:
      lo = fp::addDown(al, bl);
      hi = fp::addUp(ah, bh);
      break;
    case Op::Sub:
      lo = fp::subDown(al, bh);
      hi = fp::subUp(ah, bl);
      break;
    case Op::Mul:
      mulInterval(al, ah, bl, bh, lo, hi);
      break;
    case Op::Div:
      divInterval(al, ah, bl, bh, lo, hi);
      break;
    case Op::Pow:
      if (bl != bh) { // x^y = exp(y log x) for x > 0
        if (al <= 0) {
          lo = -kInf;
          hi = kInf;
          break;
        }
        double ll = fp::libmDown(std::log(al)), lh = fp::libmUp(std::log(ah)), pl, ph;
        mulInterval(ll, lh, bl, bh, pl, ph);
        lo = fp::libmDown(std::exp(pl));
        hi = fp::libmUp(std::exp(ph));
        break;
      }
      powInterval(al, ah, bl, lo, hi);
      break;
    default:
      GAMMA_ASSERT(false, "not a binary op");
    }
    if (lo > hi || std::isnan(lo) || std::isnan(hi)) {
      lo = -kInf;
      hi = kInf;
    }
  }
  return y;
}

struct IntervalView {
  const double *lo, *hi;
  bool point;
};

// y = P·V where every row of P (m × k) is a softmax over the contracted axis,
// so P ≥ 0 and each row sums to exactly 1. For any real t,
//   y_ij ≤ t + Σ_p max(pl_ip·(vh_pj − t), ph_ip·(vh_pj − t))
//   y_ij ≥ t + Σ_p min(pl_ip·(vl_pj − t), ph_ip·(vl_pj − t))
// (docs/SOUNDNESS.md, "Products with a softmax"). Every t is sound, so t needs
// no rounding care; the one where greedily filling the unit mass from the
// largest vh (smallest vl) stops makes the bound the exact extreme over the
// boxes and the simplex. Tightens y (m × n) in place; non-finite inputs or
// results leave it alone.
void simplexProduct(std::int64_t m, std::int64_t k, std::int64_t n, const double *pl, const double *ph,
                    const double *vl, const double *vh, double *ylo, double *yhi) {
  std::vector<std::int64_t> byHi(k), byLo(k); // per column: shared by every row of P
  for (std::int64_t j = 0; j < n; ++j) {
    auto hiAt = [&](std::int64_t p) { return vh[p * n + j]; };
    auto loAt = [&](std::int64_t p) { return vl[p * n + j]; };
    bool finite = k > 0;
    for (std::int64_t p = 0; p < k; ++p) {
      finite = finite && std::isfinite(hiAt(p)) && std::isfinite(loAt(p));
      byHi[p] = byLo[p] = p;
    }
    if (!finite)
      continue;
    std::sort(byHi.begin(), byHi.end(), [&](std::int64_t x, std::int64_t z) { return hiAt(x) > hiAt(z); });
    std::sort(byLo.begin(), byLo.end(), [&](std::int64_t x, std::int64_t z) { return loAt(x) < loAt(z); });
    for (std::int64_t i = 0; i < m; ++i) {
      const double *rl = pl + i * k, *rh = ph + i * k;
      double base = 0;
      for (std::int64_t p = 0; p < k; ++p)
        base += rl[p];
      auto stop = [&](const std::vector<std::int64_t> &order, auto at) {
        double mass = base;
        for (std::int64_t p : order)
          if ((mass += rh[p] - rl[p]) >= 1)
            return at(p);
        return at(order.back());
      };
      double tu = stop(byHi, hiAt), tl = stop(byLo, loAt);
      fp::SumUp up;
      fp::SumDown down;
      up.add(tu);
      down.add(tl);
      for (std::int64_t p = 0; p < k; ++p) {
        double dh = fp::subUp(hiAt(p), tu), dl = fp::subDown(loAt(p), tl);
        up.add(std::max(fp::mulUp(rl[p], dh), fp::mulUp(rh[p], dh)));
        down.add(std::min(fp::mulDown(rl[p], dl), fp::mulDown(rh[p], dl)));
      }
      double u = up.value(), l = down.value();
      if (std::isfinite(u) && u < yhi[i * n + j])
        yhi[i * n + j] = u;
      if (std::isfinite(l) && l > ylo[i * n + j])
        ylo[i * n + j] = l;
    }
  }
}

// y[.., m, n] = sum_k a[.., m, k] * b[.., k, n] with broadcast batches.
Interval matmul(const GraphInfo &info, const Node &node, const IntervalView &a, const IntervalView &b) {
  Shape sa = info.shape(node.operands[0]), sb = info.shape(node.operands[1]);
  if (sa.size() == 1)
    sa.insert(sa.begin(), 1);
  if (sb.size() == 1)
    sb.push_back(1);
  std::int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2), batch;
  broadcastShapes(ba, bb, batch);
  std::vector<std::int64_t> ia = broadcastIndex(ba, batch), ib = broadcastIndex(bb, batch);
  std::size_t numOut = ia.size() * m * n;
  Interval y{std::vector<double>(numOut), std::vector<double>(numOut)};
  bool pointA = a.point, pointB = b.point;
  for (std::size_t t = 0; t < ia.size(); ++t) {
    const double *al = a.lo + ia[t] * m * k, *ah = a.hi + ia[t] * m * k;
    const double *bl = b.lo + ib[t] * k * n, *bh = b.hi + ib[t] * k * n;
    if (pointB && !pointA) {
      // Constant weights, row-major sweep: w⁺·l + w⁻·u with per-output sums
      // and absolute sums for the error term.
      std::vector<double> sl(n), sh(n), abs(n);
      for (std::int64_t i = 0; i < m; ++i) {
        std::fill(sl.begin(), sl.end(), 0.0);
        std::fill(sh.begin(), sh.end(), 0.0);
        std::fill(abs.begin(), abs.end(), 0.0);
        for (std::int64_t p = 0; p < k; ++p) {
          double xl = al[i * k + p], xh = ah[i * k + p], xm = std::max(std::fabs(xl), std::fabs(xh));
          const double *w = bl + p * n;
          for (std::int64_t j = 0; j < n; ++j) {
            double wj = w[j];
            sl[j] += wj * (wj >= 0 ? xl : xh);
            sh[j] += wj * (wj >= 0 ? xh : xl);
            abs[j] += std::fabs(wj) * xm;
          }
        }
        for (std::int64_t j = 0; j < n; ++j) {
          double e = fp::sumError(static_cast<std::size_t>(k), abs[j]);
          std::size_t o = (t * m + i) * n + j;
          y.lo[o] = fp::lowerOrInf(fp::nextDown(sl[j] - e));
          y.hi[o] = fp::upperOrInf(fp::nextUp(sh[j] + e));
        }
      }
      continue;
    }
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        fp::SumDown lo;
        fp::SumUp hi;
        for (std::int64_t p = 0; p < k; ++p) {
          double xl = al[i * k + p], xh = ah[i * k + p], wl = bl[p * n + j], wh = bh[p * n + j];
          if (pointB) { // weights: w⁺·l + w⁻·u, rounding covered by the sum's error term
            lo.add(wl >= 0 ? wl * xl : wl * xh);
            hi.add(wl >= 0 ? wl * xh : wl * xl);
          } else if (pointA) {
            lo.add(xl >= 0 ? xl * wl : xl * wh);
            hi.add(xl >= 0 ? xl * wh : xl * wl);
          } else {
            double pl, ph;
            mulInterval(xl, xh, wl, wh, pl, ph);
            lo.add(pl);
            hi.add(ph);
          }
        }
        std::size_t o = (t * m + i) * n + j;
        y.lo[o] = lo.value();
        y.hi[o] = hi.value();
      }
  }
  // A softmax over the contracted axis: its rows are probability vectors.
  if (!pointA && info.simplexRows[node.operands[0]])
    for (std::size_t t = 0; t < ia.size(); ++t)
      simplexProduct(m, k, n, a.lo + ia[t] * m * k, a.hi + ia[t] * m * k, b.lo + ib[t] * k * n,
                     b.hi + ib[t] * k * n, y.lo.data() + t * m * n, y.hi.data() + t * m * n);
  return y;
}

// matmul(x, transpose(W)) with W [N, K] read from the model a block of rows at
// a time (GraphInfo::streamed): per output feature j, w⁺·l + w⁻·u over the
// row with the same error term as the constant-weight sweep of matmul().
// Blocks of rows run on the shared pool; each output is one thread's sum in
// a fixed order, so the result does not depend on the thread count.
Interval streamedMatmul(const Interval &x, const Constant &w) {
  const std::int64_t N = w.type().shape[0], K = w.type().shape[1];
  const std::int64_t rows = static_cast<std::int64_t>(x.size()) / K;
  Interval y{std::vector<double>(rows * N), std::vector<double>(rows * N)};
  std::vector<double> mag(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    mag[i] = std::max(std::fabs(x.lo[i]), std::fabs(x.hi[i]));
  constexpr std::int64_t kBlock = 64;
  ThreadPool::shared().parallelFor(static_cast<std::size_t>((N + kBlock - 1) / kBlock), [&](std::size_t b) {
    std::int64_t j0 = static_cast<std::int64_t>(b) * kBlock, j1 = std::min(N, j0 + kBlock);
    std::vector<double> W(static_cast<std::size_t>((j1 - j0) * K));
    w.decode(j0 * K, (j1 - j0) * K, W.data());
    for (std::int64_t j = j0; j < j1; ++j) {
      const double *wr = W.data() + (j - j0) * K;
      for (std::int64_t i = 0; i < rows; ++i) {
        const double *xl = x.lo.data() + i * K, *xh = x.hi.data() + i * K, *xm = mag.data() + i * K;
        double sl = 0, sh = 0, abs = 0;
        for (std::int64_t p = 0; p < K; ++p) {
          double wj = wr[p];
          sl += wj * (wj >= 0 ? xl[p] : xh[p]);
          sh += wj * (wj >= 0 ? xh[p] : xl[p]);
          abs += std::fabs(wj) * xm[p];
        }
        double e = fp::sumError(static_cast<std::size_t>(K), abs);
        y.lo[i * N + j] = fp::lowerOrInf(fp::nextDown(sl - e));
        y.hi[i * N + j] = fp::upperOrInf(fp::nextUp(sh + e));
      }
    }
  });
  return y;
}

Interval conv(const GraphInfo &info, NodeId id, const Interval &x) {
  const Node &node = info.graph.node(id);
  const ref::Tensor &w = *info.consts[node.operands[1]];
  const ref::Tensor *bias = node.operands.size() == 3 ? &*info.consts[node.operands[2]] : nullptr;
  std::size_t n = info.size(node.results[0]);
  std::int64_t plane = n / info.shape(node.results[0])[1] / info.shape(node.results[0])[0];
  std::int64_t channels = info.shape(node.results[0])[1];
  Interval y{std::vector<double>(n), std::vector<double>(n)};
  forEachWindow(info, id, [&](std::int64_t o, std::span<const Tap> taps, std::int64_t) {
    fp::SumDown lo;
    fp::SumUp hi;
    for (const Tap &t : taps) {
      double wv = w.data[t.weight];
      lo.add(wv >= 0 ? wv * x.lo[t.in] : wv * x.hi[t.in]);
      hi.add(wv >= 0 ? wv * x.hi[t.in] : wv * x.lo[t.in]);
    }
    if (bias) {
      double b = bias->data[(o / plane) % channels];
      lo.add(b);
      hi.add(b);
    }
    y.lo[o] = lo.value();
    y.hi[o] = hi.value();
  });
  return y;
}

Interval pool(const GraphInfo &info, NodeId id, const Interval &x) {
  const Node &node = info.graph.node(id);
  std::size_t n = info.size(node.results[0]);
  Interval y{std::vector<double>(n), std::vector<double>(n)};
  forEachWindow(info, id, [&](std::int64_t o, std::span<const Tap> taps, std::int64_t divisor) {
    fp::SumDown lo;
    fp::SumUp hi;
    double ml = -kInf, mh = -kInf;
    for (const Tap &t : taps) {
      ml = std::max(ml, x.lo[t.in]);
      mh = std::max(mh, x.hi[t.in]);
      lo.add(x.lo[t.in]);
      hi.add(x.hi[t.in]);
    }
    if (node.op == Op::MaxPool) {
      y.lo[o] = ml;
      y.hi[o] = mh;
    } else {
      double d = static_cast<double>(divisor);
      y.lo[o] = d == 0 ? -kInf : fp::divDown(lo.value(), d);
      y.hi[o] = d == 0 ? kInf : fp::divUp(hi.value(), d);
    }
  });
  return y;
}

Interval batchNorm(const GraphInfo &info, const Node &node, const Interval &x) {
  // y = (x - mean) * k + bias, k = scale / sqrt(var + eps): each factor is an
  // outward interval, so the whole is interval arithmetic.
  const auto &scale = info.consts[node.operands[1]]->data, &bias = info.consts[node.operands[2]]->data;
  const auto &mean = info.consts[node.operands[3]]->data, &var = info.consts[node.operands[4]]->data;
  double eps = node.attrs.getFloat("epsilon");
  const Shape &s = info.shape(node.operands[0]);
  std::int64_t channels = s[1], plane = numElements(s) / s[0] / channels;
  Interval y{x.lo, x.hi};
  for (std::int64_t c = 0; c < channels; ++c) {
    double sl = fp::sqrtDown(fp::addDown(var[c], eps)), sh = fp::sqrtUp(fp::addUp(var[c], eps));
    double kl, kh;
    divInterval(scale[c], scale[c], sl, sh, kl, kh);
    for (std::int64_t b = 0; b < s[0]; ++b)
      for (std::int64_t p = 0; p < plane; ++p) {
        std::size_t i = (b * channels + c) * plane + p;
        double dl = fp::subDown(x.lo[i], mean[c]), dh = fp::subUp(x.hi[i], mean[c]), pl, ph;
        mulInterval(dl, dh, kl, kh, pl, ph);
        y.lo[i] = fp::addDown(pl, bias[c]);
        y.hi[i] = fp::addUp(ph, bias[c]);
      }
  }
  return y;
}

// softmax_i in [e^{l_i} / (e^{l_i} + sum_{j!=i} e^{u_j}), e^{u_i} / (e^{u_i} + sum_{j!=i} e^{l_j})],
// shifted by the row's largest upper bound so nothing overflows.
Interval softmax(const GraphInfo &info, const Node &node, const Interval &x) {
  const Shape &s = info.shape(node.operands[0]);
  std::int64_t axis;
  normalizeAxis(node.attrs.getInt("axis"), s.size(), axis);
  std::int64_t len = s[axis], inner = 1;
  for (std::size_t d = axis + 1; d < s.size(); ++d)
    inner *= s[d];
  std::int64_t outer = numElements(s) / len / inner;
  Interval y{x.lo, x.hi};
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t in = 0; in < inner; ++in) {
      auto at = [&](std::int64_t j) { return (o * len + j) * inner + in; };
      double shift = -kInf;
      for (std::int64_t j = 0; j < len; ++j)
        shift = std::max(shift, x.hi[at(j)]);
      if (!std::isfinite(shift)) {
        for (std::int64_t j = 0; j < len; ++j) {
          y.lo[at(j)] = 0;
          y.hi[at(j)] = 1;
        }
        continue;
      }
      std::vector<double> el(len), eh(len);
      fp::SumDown sumL;
      fp::SumUp sumH;
      for (std::int64_t j = 0; j < len; ++j) {
        el[j] = std::max(0.0, fp::libmDown(std::exp(fp::subDown(x.lo[at(j)], shift))));
        eh[j] = fp::libmUp(std::exp(fp::subUp(x.hi[at(j)], shift)));
        sumL.add(el[j]);
        sumH.add(eh[j]);
      }
      for (std::int64_t j = 0; j < len; ++j) {
        // Denominators: own term plus the others' opposite bounds.
        double othersHi = std::max(0.0, fp::subUp(sumH.value(), eh[j]) + 0), othersLo = std::max(0.0, fp::subDown(sumL.value(), el[j]));
        // subUp/subDown of the rounded totals over-/under-estimate the others' sums.
        double denLo = fp::addUp(el[j], othersHi), denHi = fp::addDown(eh[j], othersLo);
        y.lo[at(j)] = std::clamp(fp::divDown(el[j], denLo), 0.0, 1.0);
        y.hi[at(j)] = denHi <= 0 ? 1.0 : std::clamp(fp::divUp(eh[j], denHi), 0.0, 1.0);
      }
    }
  return y;
}

// (x - mean) / sqrt(var + eps) * scale + bias with every part an outward interval:
// x_i - mean = x_i (1 - 1/N) - sum_{j!=i} x_j / N; var from the intervals of the squares.
Interval layerNorm(const GraphInfo &info, const Node &node, const Interval &x, const std::vector<Interval> &all) {
  const Shape &s = info.shape(node.operands[0]);
  std::int64_t axis;
  normalizeAxis(node.attrs.getInt("axis"), s.size(), axis);
  Shape normalized(s.begin() + axis, s.end());
  std::int64_t inner = numElements(normalized), outer = numElements(s) / std::max<std::int64_t>(inner, 1);
  double eps = node.attrs.getFloat("epsilon");
  Interval scale = intervalOf(info, node.operands[1], all);
  std::vector<std::int64_t> is = broadcastIndex(info.shape(node.operands[1]), normalized);
  Interval bias;
  std::vector<std::int64_t> ib;
  if (node.operands.size() == 3) {
    bias = intervalOf(info, node.operands[2], all);
    ib = broadcastIndex(info.shape(node.operands[2]), normalized);
  }
  double N = static_cast<double>(inner);
  Interval y{x.lo, x.hi};
  for (std::int64_t o = 0; o < outer; ++o) {
    const double *xl = x.lo.data() + o * inner, *xh = x.hi.data() + o * inner;
    fp::SumDown totL;
    fp::SumUp totH;
    for (std::int64_t i = 0; i < inner; ++i) {
      totL.add(xl[i]);
      totH.add(xh[i]);
    }
    double sumL = totL.value(), sumH = totH.value();
    std::vector<double> dl(inner), dh(inner);
    fp::SumDown varL;
    fp::SumUp varH;
    for (std::int64_t i = 0; i < inner; ++i) {
      // x_i - mean = x_i (N-1)/N - (sum - x_i)/N, the two parts independent.
      double othersL = fp::subDown(sumL, xl[i]), othersH = fp::subUp(sumH, xh[i]);
      double f = fp::divDown(N - 1, N), fh = fp::divUp(N - 1, N), al, ah;
      mulInterval(xl[i], xh[i], f, fh, al, ah);
      dl[i] = fp::subDown(al, fp::divUp(othersH, N));
      dh[i] = fp::subUp(ah, fp::divDown(othersL, N));
      double ql = (dl[i] <= 0 && dh[i] >= 0) ? 0 : std::min(fp::mulDown(dl[i], dl[i]), fp::mulDown(dh[i], dh[i]));
      double qh = std::max(fp::mulUp(dl[i], dl[i]), fp::mulUp(dh[i], dh[i]));
      varL.add(ql);
      varH.add(qh);
    }
    double vl = std::max(0.0, fp::divDown(varL.value(), N)), vh = fp::divUp(varH.value(), N);
    double rl = fp::divDown(1.0, fp::sqrtUp(fp::addUp(vh, eps))), rh = fp::divUp(1.0, fp::sqrtDown(fp::addDown(vl, eps)));
    for (std::int64_t i = 0; i < inner; ++i) {
      double nl, nh, pl, ph;
      mulInterval(dl[i], dh[i], rl, rh, nl, nh);
      // |x_i - mean| / sd <= sqrt(N - 1) whatever the variance (Samuelson).
      double cap = fp::sqrtUp(N - 1 > 0 ? N - 1 : 0);
      nl = std::max(nl, -cap);
      nh = std::min(nh, cap);
      mulInterval(nl, nh, scale.lo[is[i]], scale.hi[is[i]], pl, ph);
      if (!ib.empty()) {
        pl = fp::addDown(pl, bias.lo[ib[i]]);
        ph = fp::addUp(ph, bias.hi[ib[i]]);
      }
      y.lo[o * inner + i] = pl;
      y.hi[o * inner + i] = ph;
    }
  }
  return y;
}

// rms_norm: y_i = g(x_i, S_i) · s_i with S_i = Σ_{j≠i} x_j² and
// g(t, S) = t / sqrt((t² + S)/N + ε). g is increasing in t and |g| decreasing
// in S, so over the box its extremes are at the ends of x_i with the others'
// sum of squares at the end that makes |g| largest on the negative side and
// smallest on the positive side. Every step is rounded in the direction that
// keeps the end outward; |g| <= sqrt(N) comes for free.
Interval rmsNorm(const GraphInfo &info, const Node &node, const Interval &x, const std::vector<Interval> &all) {
  const Shape &s = info.shape(node.operands[0]);
  std::int64_t axis;
  normalizeAxis(node.attrs.getInt("axis"), s.size(), axis);
  Shape normalized(s.begin() + axis, s.end());
  std::int64_t inner = numElements(normalized), outer = numElements(s) / std::max<std::int64_t>(inner, 1);
  double eps = node.attrs.getFloat("epsilon"), N = static_cast<double>(inner);
  Interval scale = intervalOf(info, node.operands[1], all);
  std::vector<std::int64_t> is = broadcastIndex(info.shape(node.operands[1]), normalized);
  // g at t with the others' squares summing to `others`, rounded down (up).
  auto gDown = [&](double t, double othersLo, double othersHi) {
    if (t >= 0) { // smallest: largest denominator
      double den = fp::sqrtUp(fp::addUp(fp::divUp(fp::addUp(fp::mulUp(t, t), othersHi), N), eps));
      return den == 0 ? 0.0 : fp::divDown(t, den);
    }
    double den = fp::sqrtDown(fp::addDown(fp::divDown(fp::addDown(fp::mulDown(t, t), othersLo), N), eps));
    return den == 0 ? -kInf : fp::divDown(t, den);
  };
  auto gUp = [&](double t, double othersLo, double othersHi) { return -gDown(-t, othersLo, othersHi); };
  Interval y{x.lo, x.hi};
  std::vector<double> sqL(inner), sqH(inner);
  for (std::int64_t o = 0; o < outer; ++o) {
    const double *xl = x.lo.data() + o * inner, *xh = x.hi.data() + o * inner;
    fp::SumDown totL;
    fp::SumUp totH;
    for (std::int64_t i = 0; i < inner; ++i) {
      double l = xl[i], u = xh[i];
      sqL[i] = (l <= 0 && u >= 0) ? 0 : std::min(fp::mulDown(l, l), fp::mulDown(u, u));
      sqH[i] = std::max(fp::mulUp(l, l), fp::mulUp(u, u));
      totL.add(sqL[i]);
      totH.add(sqH[i]);
    }
    double sumL = totL.value(), sumH = totH.value();
    for (std::int64_t i = 0; i < inner; ++i) {
      double othersLo = std::max(0.0, fp::subDown(sumL, sqL[i])), othersHi = fp::subUp(sumH, sqH[i]);
      double nl = std::max(gDown(xl[i], othersLo, othersHi), -fp::sqrtUp(N));
      double nh = std::min(gUp(xh[i], othersLo, othersHi), fp::sqrtUp(N));
      double pl, ph;
      if (std::isnan(nl) || std::isnan(nh))
        nl = -fp::sqrtUp(N), nh = fp::sqrtUp(N);
      mulInterval(nl, nh, scale.lo[is[i]], scale.hi[is[i]], pl, ph);
      y.lo[o * inner + i] = pl;
      y.hi[o * inner + i] = ph;
    }
  }
  return y;
}

Interval reduce(const GraphInfo &info, const Node &node, const Interval &x) {
  std::vector<std::int64_t> index = reduceIndex(info.shape(node.operands[0]), node.attrs.getInts("axes"));
  std::size_t n = info.size(node.results[0]);
  std::vector<fp::SumDown> lo(n);
  std::vector<fp::SumUp> hi(n);
  for (std::size_t i = 0; i < index.size(); ++i) {
    lo[index[i]].add(x.lo[i]);
    hi[index[i]].add(x.hi[i]);
  }
  double count = static_cast<double>(index.size() / std::max<std::size_t>(n, 1));
  Interval y{std::vector<double>(n), std::vector<double>(n)};
  for (std::size_t o = 0; o < n; ++o) {
    y.lo[o] = lo[o].value();
    y.hi[o] = hi[o].value();
    if (node.op == Op::ReduceMean) {
      y.lo[o] = fp::divDown(y.lo[o], count);
      y.hi[o] = fp::divUp(y.hi[o], count);
    }
  }
  return y;
}

} // namespace

Interval ibpNode(const GraphInfo &info, NodeId id, const std::vector<Interval> &intervals) {
  const Node &node = info.graph.node(id);
  auto operand = [&](std::size_t k) { return intervalOf(info, node.operands[k], intervals); };
  switch (node.op) {
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#include "ir/ops.def"
    fail(info.where(id), "bound-program op in a network graph");
  case Op::Input:
  case Op::Const:
    GAMMA_ASSERT(false, "sources have no IBP rule");
  case Op::Relu: {
    Interval y = operand(0);
    for (std::size_t i = 0; i < y.size(); ++i) {
      y.lo[i] = std::max(y.lo[i], 0.0);
      y.hi[i] = std::max(y.hi[i], 0.0);
    }
    return y;
  }
  case Op::Sigmoid:
    return monotone(operand(0), sigmoid, 0.0, 1.0);
  case Op::Tanh:
    return monotone(operand(0), [](double v) { return std::tanh(v); }, -1.0, 1.0);
  case Op::Exp:
    return monotone(operand(0), [](double v) { return std::exp(v); }, 0.0, kInf);
  case Op::Log: {
    Interval x = operand(0);
    for (double &v : x.lo)
      v = v < 0 ? 0 : v; // log is only defined for x >= 0: bound it there (-inf at 0)
    return monotone(x, [](double v) { return std::log(v); }, -kInf, kInf);
  }
  case Op::Erf:
    return monotone(operand(0), [](double v) { return std::erf(v); }, -1.0, 1.0);
  case Op::Silu:
    return unimodal(operand(0), kSilu);
  case Op::Gelu:
    return unimodal(operand(0), kGelu);
  case Op::Sqrt: {
    Interval x = operand(0), y = x;
    for (std::size_t i = 0; i < x.size(); ++i) {
      y.lo[i] = fp::sqrtDown(x.lo[i]); // sqrt is correctly rounded: one ulp outward
      y.hi[i] = fp::sqrtUp(x.hi[i]);
    }
    return y;
  }
  case Op::Neg: {
    Interval x = operand(0);
    Interval y{x.hi, x.lo};
    for (std::size_t i = 0; i < x.size(); ++i) {
      y.lo[i] = -x.hi[i];
      y.hi[i] = -x.lo[i];
    }
    return y;
  }
  case Op::Abs: {
    Interval x = operand(0), y = x;
    for (std::size_t i = 0; i < x.size(); ++i) {
      double l = x.lo[i], u = x.hi[i];
      y.lo[i] = l >= 0 ? l : (u <= 0 ? -u : 0.0);
      y.hi[i] = std::max(std::fabs(l), std::fabs(u));
    }
    return y;
  }
  case Op::Add:
  case Op::Sub:
  case Op::Mul:
  case Op::Div:
  case Op::Pow:
    return binary(info, node, operand(0), operand(1));
  case Op::MatMul: {
    if (const Constant *w = info.streamed[node.operands[1]])
      return streamedMatmul(operand(0), *w);
    // Constant weights are read in place rather than copied into an interval.
    auto view = [&](std::size_t k) {
      ValueId v = node.operands[k];
      return info.bounded[v] ? IntervalView{intervals[v].lo.data(), intervals[v].hi.data(), false}
                             : IntervalView{info.consts[v]->data.data(), info.consts[v]->data.data(), true};
    };
    return matmul(info, node, view(0), view(1));
  }
  case Op::Conv:
    if (info.bounded[node.operands[1]] || (node.operands.size() == 3 && info.bounded[node.operands[2]]))
      fail(info.where(id), "conv with input-dependent weights cannot be bounded");
    return conv(info, id, operand(0));
  case Op::BatchNorm:
    for (std::size_t k = 1; k < 5; ++k)
      if (info.bounded[node.operands[k]])
        fail(info.where(id), "batch_norm with input-dependent parameters cannot be bounded");
    return batchNorm(info, node, operand(0));
  case Op::MaxPool:
  case Op::AveragePool:
    return pool(info, id, operand(0));
  case Op::Softmax:
    return softmax(info, node, operand(0));
  case Op::LayerNorm:
    return layerNorm(info, node, operand(0), intervals);
  case Op::RmsNorm:
    return rmsNorm(info, node, operand(0), intervals);
  case Op::ReduceMean:
  case Op::ReduceSum:
    return reduce(info, node, operand(0));
  case Op::Reshape:
    return operand(0);
  case Op::Transpose:
  case Op::Concat:
  case Op::Slice:
  case Op::Gather: {
    MovementMap map = movementMap(info, id);
    std::vector<Interval> ops;
    for (std::size_t k = 0; k < node.operands.size(); ++k)
      ops.push_back(node.op == Op::Gather && k == 1 ? Interval{} : operand(k));
    std::size_t n = map.element.size();
    Interval y{std::vector<double>(n), std::vector<double>(n)};
    for (std::size_t i = 0; i < n; ++i) {
      y.lo[i] = ops[map.operand[i]].lo[map.element[i]];
      y.hi[i] = ops[map.operand[i]].hi[map.element[i]];
    }
    return y;
  }
  }
  GAMMA_ASSERT(false, "unhandled op");
}

} // namespace gm::bounds
