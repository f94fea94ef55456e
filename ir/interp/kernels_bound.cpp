// Kernels of the bound-program ops: the reference semantics of docs/IR.md
// ("Bound programs"). The rounding arguments are those of bounds/ibp.cpp,
// bounds/crown.cpp and bounds/dense_chain.cpp (docs/SOUNDNESS.md); the
// elementwise steps round exactly as codegen's IntervalChain kernels do (every
// rounded end one ulp outward), so a JIT chain can be checked bit for bit.
// fp.h is a header of pure arithmetic; including it keeps one definition of
// the error terms instead of a copy here.
#include "bounds/fp.h"
#include "bounds/relu_lines.h"
#include "ir/bound_type_rules.h"
#include "ir/error.h"
#include "ir/interp/kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gm::ref::kernels {

namespace {

namespace fp = bounds::fp;
constexpr double kInf = std::numeric_limits<double>::infinity();

double outDown(double x) { return std::isnan(x) ? -kInf : fp::nextDown(x); }
double outUp(double x) { return std::isnan(x) ? kInf : fp::nextUp(x); }

Tensor like(const Tensor &t) { return makeTensor(t.shape); }
Tensor vec(std::int64_t n) { return makeTensor(Shape{n}); }

// The constant operand of a step at element i: a scalar or one per element.
double at(const Tensor &c, std::size_t i) { return c.data.size() == 1 ? c.data[0] : c.data[i]; }

void addStep(double &lo, double &hi, double b) {
  lo = outDown(lo + b);
  hi = outUp(hi + b);
}

void mulStep(double &lo, double &hi, double c) {
  if (c == 0) { // exactly zero, also where a side is infinite
    lo = hi = 0;
    return;
  }
  double a = c * lo, b = c * hi;
  lo = outDown(c > 0 ? a : b);
  hi = outUp(c > 0 ? b : a);
}

void reluStep(double &lo, double &hi) {
  lo = std::isnan(lo) ? 0 : std::max(lo, 0.0);
  hi = std::isnan(hi) ? kInf : std::max(hi, 0.0);
}

std::vector<Tensor> elementwise(const Tensor &lo, const Tensor &hi, auto &&step) {
  Tensor l = lo, h = hi;
  for (std::size_t i = 0; i < l.data.size(); ++i)
    step(i, l.data[i], h.data[i]);
  return {std::move(l), std::move(h)};
}

double sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

// y = W x, W [m, k], over the last dimension of x: bounds/ibp.cpp's constant
// matmul rule, terms in ascending k. `weight(i, j)` is W_ij (W+ + W- is exact:
// one of the two is zero), so the split and the fused op agree bit for bit.
std::vector<Tensor> product(std::int64_t m, std::int64_t k, auto &&weight, const Tensor &lo, const Tensor &hi) {
  Shape shape = lo.shape;
  shape.back() = m;
  Tensor yl = makeTensor(shape), yh = makeTensor(shape);
  std::int64_t batch = static_cast<std::int64_t>(lo.data.size()) / k;
  for (std::int64_t t = 0; t < batch; ++t) {
    const double *l = lo.data.data() + t * k, *u = hi.data.data() + t * k;
    for (std::int64_t i = 0; i < m; ++i) {
      double sl = 0, sh = 0, abs = 0;
      for (std::int64_t j = 0; j < k; ++j) {
        double w = weight(i, j);
        sl += w * (w >= 0 ? l[j] : u[j]);
        sh += w * (w >= 0 ? u[j] : l[j]);
        abs += std::fabs(w) * std::max(std::fabs(l[j]), std::fabs(u[j]));
      }
      double e = fp::sumError(static_cast<std::size_t>(k), abs);
      yl.data[t * m + i] = fp::lowerOrInf(fp::nextDown(sl - e));
      yh.data[t * m + i] = fp::upperOrInf(fp::nextUp(sh + e));
    }
  }
  return {std::move(yl), std::move(yh)};
}


double mag(const Tensor &lo, const Tensor &hi, std::size_t j) {
  return std::max(std::fabs(lo.data[j]), std::fabs(hi.data[j]));
}

// c + sum - err, rounded down; the sum of n terms has absolute sum `abs`.
double lowerConstant(double sum, double abs, std::size_t n, double extra) {
  if (std::isnan(sum))
    return -kInf;
  return fp::lowerOrInf(fp::subDown(sum, fp::addUp(fp::sumError(n, abs), extra)));
}

// Rows through the relaxation lines (bounds/dense_chain.cpp's relaxStep):
// a > 0 takes the lower line, a < 0 the upper one, a = 0 nothing (exact).
std::vector<Tensor> relaxRows(std::int64_t R, std::int64_t n, auto &&coeff, const Tensor &c,
                              std::span<const Tensor> lines, const Tensor &zlo, const Tensor &zhi) {
  const Tensor &kl = lines[0], &bl = lines[1], &ku = lines[2], &bu = lines[3];
  Tensor a = makeTensor(Shape{R, n}), c2 = c;
  for (std::int64_t r = 0; r < R; ++r) {
    double sum = c.data[r], abs = std::fabs(c.data[r]), absCoef = 0;
    bool bad = false;
    for (std::int64_t j = 0; j < n; ++j) {
      double x = coeff(r, j), y = 0, p = 0;
      bad = bad || !std::isfinite(x);
      if (x > 0)
        y = x * kl.data[j], p = x * bl.data[j];
      else if (x < 0)
        y = x * ku.data[j], p = x * bu.data[j];
      a.data[r * n + j] = y;
      sum += p;
      abs += std::fabs(p);
      absCoef += std::fabs(y) * mag(zlo, zhi, static_cast<std::size_t>(j));
    }
    double slack = fp::sumError(1, absCoef) * (1 + 0x1p-40);
    c2.data[r] = bad ? -kInf : lowerConstant(sum, abs, static_cast<std::size_t>(n) + 1, slack);
  }
  return {std::move(a), std::move(c2)};
}

// Rows against a box: c + sum a+ lo + a- hi (crown.cpp's concretize).
Tensor concretize(std::int64_t R, std::int64_t n, auto &&coeff, const Tensor &c, const Tensor &lo, const Tensor &hi) {
  Tensor out = c;
  for (std::int64_t r = 0; r < R; ++r) {
    double sum = c.data[r], abs = std::fabs(c.data[r]);
    bool bad = false;
    for (std::int64_t j = 0; j < n; ++j) {
      double x = coeff(r, j), t = 0;
      bad = bad || !std::isfinite(x);
      if (x > 0)
        t = x * lo.data[j];
      else if (x < 0)
        t = x * hi.data[j];
      sum += t;
      abs += std::fabs(t);
    }
    out.data[r] = bad ? -kInf : lowerConstant(sum, abs, static_cast<std::size_t>(n) + 1, 0);
  }
  return out;
}

// Rows on z = W h + b -> rows on h (dense_chain.cpp's biasStep and product):
// A' = A W in any order, c' = c + A b minus the product's error
// gamma_{m+1} |A| (|W| |h|max) and the bias sum's.
std::vector<Tensor> affineBack(std::span<const Tensor> in) {
  const Tensor &A = in[0], &c = in[1], &W = in[2], &hlo = in[3], &hhi = in[4];
  std::int64_t R = A.shape[0], m = W.shape[0], k = W.shape[1];
  std::vector<double> v(static_cast<std::size_t>(m), 0.0);
  for (std::int64_t j = 0; j < m; ++j)
    for (std::int64_t q = 0; q < k; ++q)
      v[j] += std::fabs(W.data[j * k + q]) * mag(hlo, hhi, static_cast<std::size_t>(q));
  Tensor a = makeTensor(Shape{R, k}), c2 = c;
  for (std::int64_t r = 0; r < R; ++r) {
    const double *ar = A.data.data() + r * m;
    double *out = a.data.data() + r * k;
    double sum = c.data[r], abs = std::fabs(c.data[r]), weighted = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      double p = in.size() == 6 ? ar[j] * in[5].data[j] : 0;
      sum += p;
      abs += std::fabs(p);
      weighted += std::fabs(ar[j]) * v[j];
      if (ar[j] != 0)
        for (std::int64_t q = 0; q < k; ++q)
          out[q] += ar[j] * W.data[j * k + q];
    }
    double slack = fp::sumError(static_cast<std::size_t>(m) + 1, weighted) * (1 + 0x1p-40);
    c2.data[r] = lowerConstant(sum, abs, static_cast<std::size_t>(m) + 1, slack);
  }
  return {std::move(a), std::move(c2)};
}

// The spec as rows [C; -C] with constants moved outward by one ulp of each
// parsed decimal times what it multiplies (bounds/compute.cpp's specRows).
std::vector<Tensor> specRows(const Tensor &C, const Tensor &d, const Tensor &ylo, const Tensor &yhi) {
  std::int64_t R = C.shape[0], n = C.shape[1];
  Tensor A = makeTensor(Shape{2 * R, n}), c = vec(2 * R);
  auto ulp = [](double v) { return std::fabs(fp::nextUp(std::fabs(v)) - std::fabs(v)); };
  for (std::int64_t r = 0; r < R; ++r) {
    double fuzz = ulp(d.data[r]);
    for (std::int64_t j = 0; j < n; ++j) {
      double x = C.data[r * n + j];
      A.data[r * n + j] = x;
      A.data[(R + r) * n + j] = -x;
      if (x != 0)
        fuzz += ulp(x) * mag(ylo, yhi, static_cast<std::size_t>(j));
    }
    fuzz = fp::nextUp(fuzz * (1 + 0x1p-40));
    c.data[r] = fp::subDown(d.data[r], fuzz);
    c.data[R + r] = fp::subDown(-d.data[r], fuzz);
  }
  return {std::move(A), std::move(c)};
}

// Rows of two users of one value summed (crown.cpp's accumulate): each merged
// coefficient rounds once, covered by twice the sum error against |v|max.
std::vector<Tensor> mergeRows(std::span<const Tensor> in) {
  const Tensor &A1 = in[0], &A2 = in[1], &c = in[2], &mlo = in[3], &mhi = in[4];
  std::int64_t R = A1.shape[0], n = A1.shape[1];
  Tensor a = A1, c2 = c;
  for (std::int64_t r = 0; r < R; ++r) {
    double s = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      double &x = a.data[r * n + j];
      x += A2.data[r * n + j];
      s += std::fabs(x) * mag(mlo, mhi, static_cast<std::size_t>(j));
    }
    double slack = fp::addUp(fp::sumError(static_cast<std::size_t>(n), s), fp::sumError(static_cast<std::size_t>(n), s));
    c2.data[r] = fp::lowerOrInf(fp::subDown(c.data[r], slack));
  }
  return {std::move(a), std::move(c2)};
}

NodeRuleKernel nodeRules = nullptr;

} // namespace

std::vector<Tensor> boundOp(Op op, const Attrs &attrs, std::span<const Tensor> in) {
  switch (op) {
  case Op::IbpAdd:
    return elementwise(in[0], in[1], [&](std::size_t i, double &l, double &h) { addStep(l, h, at(in[2], i)); });
  case Op::IbpMul:
    return elementwise(in[0], in[1], [&](std::size_t i, double &l, double &h) { mulStep(l, h, at(in[2], i)); });
  case Op::IbpDiv:
    return elementwise(in[0], in[1], [&](std::size_t i, double &l, double &h) {
      double c = at(in[2], i);
      if (c == 0 || std::isnan(c)) {
        l = -kInf, h = kInf;
        return;
      }
      double a = c > 0 ? l : h, b = c > 0 ? h : l;
      l = fp::divDown(a, c);
      h = fp::divUp(b, c);
    });
  case Op::IbpRelu:
    return elementwise(in[0], in[1], [](std::size_t, double &l, double &h) { reluStep(l, h); });
  case Op::IbpAct: {
    bool isSigmoid = attrs.getString("fn") == "sigmoid";
    double (*f)(double) = isSigmoid ? sigmoid : [](double x) { return std::tanh(x); };
    double floor = isSigmoid ? 0 : -1;
    return elementwise(in[0], in[1], [&](std::size_t, double &l, double &h) {
      l = std::clamp(fp::libmDown(f(l)), floor, 1.0);
      h = std::clamp(fp::libmUp(f(h)), floor, 1.0);
    });
  }
  case Op::IbpChain: {
    std::vector<std::string> steps = chainSteps(attrs);
    return elementwise(in[0], in[1], [&](std::size_t i, double &l, double &h) {
      std::size_t next = 2;
      for (const std::string &s : steps) {
        if (s == "relu")
          reluStep(l, h);
        else if (s == "add")
          addStep(l, h, at(in[next++], i));
        else
          mulStep(l, h, at(in[next++], i));
      }
    });
  }
  case Op::IbpIntersect:
    return elementwise(in[0], in[1], [&](std::size_t i, double &l, double &h) {
      l = std::max(l, in[2].data[i]);
      h = std::min(h, in[3].data[i]);
    });
  case Op::IbpMatMul: {
    std::int64_t m = in[0].shape[0], k = in[0].shape[1];
    return product(m, k, [&](std::int64_t i, std::int64_t j) { return in[0].data[i * k + j] + in[1].data[i * k + j]; },
                   in[2], in[3]);
  }
  case Op::IbpMatMulPN: {
    std::int64_t m = in[0].shape[0], k = in[0].shape[1];
    return product(m, k, [&](std::int64_t i, std::int64_t j) { return in[0].data[i * k + j]; }, in[1], in[2]);
  }
  case Op::SplitSign: {
    Tensor p = in[0], n = in[0];
    for (std::size_t i = 0; i < p.data.size(); ++i) {
      p.data[i] = in[0].data[i] > 0 ? in[0].data[i] : 0;
      n.data[i] = in[0].data[i] < 0 ? in[0].data[i] : 0;
    }
    return {std::move(p), std::move(n)};
  }
  case Op::Relax: {
    Tensor kl = like(in[0]), bl = like(in[0]), ku = like(in[0]), bu = like(in[0]);
    for (std::size_t i = 0; i < kl.data.size(); ++i)
      bounds::reluLines(in[0].data[i], in[1].data[i], kl.data[i], bl.data[i], ku.data[i], bu.data[i]);
    return {std::move(kl), std::move(bl), std::move(ku), std::move(bu)};
  }
  case Op::LbIdentity: {
    std::int64_t n = attrs.getInt("size");
    Tensor a = makeTensor(Shape{2 * n, n});
    for (std::int64_t j = 0; j < n; ++j) {
      a.data[j * n + j] = 1;
      a.data[(n + j) * n + j] = -1;
    }
    return {std::move(a), vec(2 * n)};
  }
  case Op::LbAffine:
    return affineBack(in);
  case Op::LbRelax: {
    std::int64_t n = in[0].shape[1];
    return relaxRows(
        in[0].shape[0], n, [&](std::int64_t r, std::int64_t j) { return in[0].data[r * n + j] + in[1].data[r * n + j]; },
        in[2], in.subspan(3, 4), in[7], in[8]);
  }
  case Op::LbRelaxPN: {
    std::int64_t n = in[0].shape[1];
    return relaxRows(
        in[0].shape[0], n, [&](std::int64_t r, std::int64_t j) { return in[0].data[r * n + j]; }, in[1],
        in.subspan(2, 4), in[6], in[7]);
  }
  case Op::LbConcretize: {
    std::int64_t n = in[0].shape[1];
    return {concretize(
        in[0].shape[0], n, [&](std::int64_t r, std::int64_t j) { return in[0].data[r * n + j] + in[1].data[r * n + j]; },
        in[2], in[3], in[4])};
  }
  case Op::LbConcretizePN: {
    std::int64_t n = in[0].shape[1];
    return {concretize(
        in[0].shape[0], n, [&](std::int64_t r, std::int64_t j) { return in[0].data[r * n + j]; }, in[1], in[2], in[3])};
  }
  case Op::LbInterval: {
    std::int64_t n = in[0].shape[0] / 2;
    Tensor lo = vec(n), hi = vec(n);
    for (std::int64_t j = 0; j < n; ++j) {
      lo.data[j] = in[0].data[j];
      hi.data[j] = -in[0].data[n + j];
    }
    return {std::move(lo), std::move(hi)};
  }
  case Op::IbpNode:
  case Op::LbNode:
    if (!nodeRules)
      fail("", "{} needs the rules of bounds/; call bounds::registerProgramRules() first", opKeyword(op));
    return nodeRules(op, attrs, in);
  case Op::LbMerge:
    return mergeRows(in);
  case Op::SpecRows:
    return specRows(in[0], in[1], in[2], in[3]);
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#include "ir/ops.def"
    break;
  }
  GAMMA_ASSERT(false, "boundOp on a network op");
  return {};
}

} // namespace gm::ref::kernels

namespace gm::ref {
void setNodeRuleKernel(NodeRuleKernel kernel) { kernels::nodeRules = kernel; }
} // namespace gm::ref
