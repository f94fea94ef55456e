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

using Out = std::span<double>;

// The constant operand of a step at element i: a scalar or one per element.
double at(const View &c, std::size_t i) { return c.data.size() == 1 ? c.data[0] : c.data[i]; }

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

void elementwise(const View &lo, const View &hi, Out outLo, Out outHi, auto &&step) {
  for (std::size_t i = 0; i < lo.data.size(); ++i) {
    double l = lo.data[i], h = hi.data[i];
    step(i, l, h);
    outLo[i] = l;
    outHi[i] = h;
  }
}

double sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

// y = W x, W [m, k], over the last dimension of x: bounds/ibp.cpp's constant
// matmul rule, terms in ascending k. `weight(i, j)` is W_ij (W+ + W- is exact:
// one of the two is zero), so the split and the fused op agree bit for bit.
void product(std::int64_t m, std::int64_t k, auto &&weight, const View &lo, const View &hi, Out yl, Out yh) {
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
      yl[t * m + i] = fp::lowerOrInf(fp::nextDown(sl - e));
      yh[t * m + i] = fp::upperOrInf(fp::nextUp(sh + e));
    }
  }
}

double mag(const View &lo, const View &hi, std::size_t j) {
  return std::max(std::fabs(lo.data[j]), std::fabs(hi.data[j]));
}

// Rows through the relaxation lines (bounds/dense_chain.cpp's relaxStep):
// a > 0 takes the lower line, a < 0 the upper one, a = 0 nothing (exact).
void relaxRows(std::int64_t R, std::int64_t n, auto &&coeff, const View &c, std::span<const View> lines,
               const View &zlo, const View &zhi, Out a, Out c2) {
  const View &kl = lines[0], &bl = lines[1], &ku = lines[2], &bu = lines[3];
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
      a[r * n + j] = y;
      sum += p;
      abs += std::fabs(p);
      absCoef += std::fabs(y) * mag(zlo, zhi, static_cast<std::size_t>(j));
    }
    double slack = fp::sumError(1, absCoef) * (1 + 0x1p-40);
    c2[r] = bad ? -kInf : fp::lowerSum(sum, abs, static_cast<std::size_t>(n) + 1, slack);
  }
}

// Rows against a box: c + sum a+ lo + a- hi (crown.cpp's concretize).
void concretize(std::int64_t R, std::int64_t n, auto &&coeff, const View &c, const View &lo, const View &hi, Out out) {
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
    out[r] = bad ? -kInf : fp::lowerSum(sum, abs, static_cast<std::size_t>(n) + 1, 0);
  }
}

// Rows on z = W h + b -> rows on h (dense_chain.cpp's biasStep and product):
// A' = A W in any order, c' = c + A b minus the product's error
// gamma_{m+1} |A| (|W| |h|max) and the bias sum's.
void affineBack(std::span<const View> in, Out a, Out c2) {
  const View &A = in[0], &c = in[1], &W = in[2], &hlo = in[3], &hhi = in[4];
  std::int64_t R = A.shape[0], m = W.shape[0], k = W.shape[1];
  std::vector<double> v(static_cast<std::size_t>(m), 0.0);
  for (std::int64_t j = 0; j < m; ++j)
    for (std::int64_t q = 0; q < k; ++q)
      v[j] += std::fabs(W.data[j * k + q]) * mag(hlo, hhi, static_cast<std::size_t>(q));
  std::fill(a.begin(), a.end(), 0.0);
  for (std::int64_t r = 0; r < R; ++r) {
    const double *ar = A.data.data() + r * m;
    double *out = a.data() + r * k;
    double sum = c.data[r], abs = std::fabs(c.data[r]), weighted = 0;
    for (std::int64_t j = 0; j < m; ++j) {
      double p = in.size() == 6 ? ar[j] * in[5].data[j] : 0;
      sum += p;
      abs += std::fabs(p);
      if (ar[j] != 0) { // a zero coefficient contributes nothing, error terms included
        weighted += std::fabs(ar[j]) * v[j];
        for (std::int64_t q = 0; q < k; ++q)
          out[q] += ar[j] * W.data[j * k + q];
      }
    }
    double slack = fp::sumError(static_cast<std::size_t>(m) + 1, weighted) * (1 + 0x1p-40);
    c2[r] = fp::lowerSum(sum, abs, static_cast<std::size_t>(m) + 1, slack);
  }
}

// lb.settle (bounds/dense_chain.cpp's settling, docs/SOUNDNESS.md): every
// row bounded against z's interval first; pairs (t, q + t) that bound proves
// stable keep it (a stable ReLU's lines do not depend on the exact values).
// The others go through W to h's box, upper rows first: a neuron whose upper
// bound comes out <= 0 is inactive, so its lower row keeps the cheap bound.
void settleRows(std::span<const View> in, Out lower) {
  const View &A = in[0], &c = in[1];
  std::int64_t R = A.shape[0], m = A.shape[1], q = R / 2, k = in[4].shape[1];
  auto coeffOf = [](const View &a, std::int64_t n) {
    return [&a, n](std::int64_t r, std::int64_t j) { return a.data[r * n + j]; };
  };
  concretize(R, m, coeffOf(A, m), c, in[2], in[3], lower);
  auto exact = [&](const std::vector<std::int64_t> &rows) {
    std::int64_t n = static_cast<std::int64_t>(rows.size());
    std::vector<double> a(static_cast<std::size_t>(n * m)), cc(static_cast<std::size_t>(n));
    for (std::int64_t x = 0; x < n; ++x) {
      std::copy_n(A.data.begin() + rows[x] * m, m, a.begin() + x * m);
      cc[x] = c.data[rows[x]];
    }
    std::int64_t aShape[2] = {n, m}, cShape[1] = {n}, outShape[2] = {n, k};
    std::vector<View> ops{{a, aShape}, {cc, cShape}, in[4], in[5], in[6]};
    if (in.size() == 8)
      ops.push_back(in[7]);
    std::vector<double> a2(static_cast<std::size_t>(n * k)), c2(static_cast<std::size_t>(n)),
        out(static_cast<std::size_t>(n));
    affineBack(ops, a2, c2);
    View a2v{a2, outShape}, c2v{c2, cShape};
    concretize(n, k, coeffOf(a2v, k), c2v, in[5], in[6], out);
    for (std::int64_t x = 0; x < n; ++x)
      lower[rows[x]] = out[x];
  };
  std::vector<std::int64_t> kept, rows;
  for (std::int64_t t = 0; t < q; ++t)
    if (!(lower[t] >= 0 || -lower[q + t] <= 0))
      kept.push_back(t);
  for (std::int64_t t : kept)
    rows.push_back(q + t);
  exact(rows);
  rows.clear();
  for (std::int64_t t : kept)
    if (-lower[q + t] > 0)
      rows.push_back(t);
  exact(rows);
}

// The spec as rows [C; -C] with constants moved outward by one ulp of each
// parsed decimal times what it multiplies (bounds/compute.cpp's specRows).
void specRows(const View &C, const View &d, const View &ylo, const View &yhi, Out A, Out c) {
  std::int64_t R = C.shape[0], n = C.shape[1];
  auto ulp = [](double v) { return std::fabs(fp::nextUp(std::fabs(v)) - std::fabs(v)); };
  for (std::int64_t r = 0; r < R; ++r) {
    double fuzz = ulp(d.data[r]);
    for (std::int64_t j = 0; j < n; ++j) {
      double x = C.data[r * n + j];
      A[r * n + j] = x;
      A[(R + r) * n + j] = -x;
      if (x != 0)
        fuzz += ulp(x) * mag(ylo, yhi, static_cast<std::size_t>(j));
    }
    fuzz = fp::nextUp(fuzz * (1 + 0x1p-40));
    c[r] = fp::subDown(d.data[r], fuzz);
    c[R + r] = fp::subDown(-d.data[r], fuzz);
  }
}

// Rows of two users of one value summed (crown.cpp's accumulate): each merged
// coefficient rounds once, covered by twice the sum error against |v|max.
void mergeRows(std::span<const View> in, Out a, Out c2) {
  const View &A1 = in[0], &A2 = in[1], &c = in[2], &mlo = in[3], &mhi = in[4];
  std::int64_t R = A1.shape[0], n = A1.shape[1];
  for (std::int64_t r = 0; r < R; ++r) {
    double s = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      double &x = a[r * n + j];
      x = A1.data[r * n + j] + A2.data[r * n + j];
      s += std::fabs(x) * mag(mlo, mhi, static_cast<std::size_t>(j));
    }
    double slack = fp::addUp(fp::sumError(static_cast<std::size_t>(n), s), fp::sumError(static_cast<std::size_t>(n), s));
    c2[r] = fp::lowerOrInf(fp::subDown(c.data[r], slack));
  }
}

NodeRuleKernel nodeRules = nullptr;

} // namespace

bool boundInto(Op op, const Attrs &attrs, std::span<const View> in, std::span<const std::span<double>> out) {
  switch (op) {
  case Op::IbpAdd:
    elementwise(in[0], in[1], out[0], out[1], [&](std::size_t i, double &l, double &h) { addStep(l, h, at(in[2], i)); });
    return true;
  case Op::IbpMul:
    elementwise(in[0], in[1], out[0], out[1], [&](std::size_t i, double &l, double &h) { mulStep(l, h, at(in[2], i)); });
    return true;
  case Op::IbpDiv:
    elementwise(in[0], in[1], out[0], out[1], [&](std::size_t i, double &l, double &h) {
      double c = at(in[2], i);
      if (c == 0 || std::isnan(c)) {
        l = -kInf, h = kInf;
        return;
      }
      double a = c > 0 ? l : h, b = c > 0 ? h : l;
      l = fp::divDown(a, c);
      h = fp::divUp(b, c);
    });
    return true;
  case Op::IbpRelu:
    elementwise(in[0], in[1], out[0], out[1], [](std::size_t, double &l, double &h) { reluStep(l, h); });
    return true;
  case Op::IbpAct: {
    bool isSigmoid = attrs.getString("fn") == "sigmoid";
    double (*f)(double) = isSigmoid ? sigmoid : [](double x) { return std::tanh(x); };
    double floor = isSigmoid ? 0 : -1;
    elementwise(in[0], in[1], out[0], out[1], [&](std::size_t, double &l, double &h) {
      l = std::clamp(fp::libmDown(f(l)), floor, 1.0);
      h = std::clamp(fp::libmUp(f(h)), floor, 1.0);
    });
    return true;
  }
  case Op::IbpChain: {
    std::vector<std::string> steps = chainSteps(attrs);
    elementwise(in[0], in[1], out[0], out[1], [&](std::size_t i, double &l, double &h) {
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
    return true;
  }
  case Op::IbpIntersect:
    elementwise(in[0], in[1], out[0], out[1], [&](std::size_t i, double &l, double &h) {
      l = std::max(l, in[2].data[i]);
      h = std::min(h, in[3].data[i]);
    });
    return true;
  case Op::IbpMatMul: {
    std::int64_t m = in[0].shape[0], k = in[0].shape[1];
    product(m, k, [&](std::int64_t i, std::int64_t j) { return in[0].data[i * k + j] + in[1].data[i * k + j]; }, in[2],
            in[3], out[0], out[1]);
    return true;
  }
  case Op::IbpMatMulPN: {
    std::int64_t m = in[0].shape[0], k = in[0].shape[1];
    product(m, k, [&](std::int64_t i, std::int64_t j) { return in[0].data[i * k + j]; }, in[1], in[2], out[0], out[1]);
    return true;
  }
  case Op::SplitSign:
    for (std::size_t i = 0; i < in[0].data.size(); ++i) {
      out[0][i] = in[0].data[i] > 0 ? in[0].data[i] : 0;
      out[1][i] = in[0].data[i] < 0 ? in[0].data[i] : 0;
    }
    return true;
  case Op::Relax:
    for (std::size_t i = 0; i < in[0].data.size(); ++i)
      bounds::reluLines(in[0].data[i], in[1].data[i], out[0][i], out[1][i], out[2][i], out[3][i]);
    return true;
  case Op::LbIdentity: {
    std::int64_t n = attrs.getInt("size");
    std::fill(out[0].begin(), out[0].end(), 0.0);
    std::fill(out[1].begin(), out[1].end(), 0.0);
    for (std::int64_t j = 0; j < n; ++j) {
      out[0][j * n + j] = 1;
      out[0][(n + j) * n + j] = -1;
    }
    return true;
  }
  case Op::LbAffine:
    affineBack(in, out[0], out[1]);
    return true;
  case Op::LbRelax: {
    std::int64_t n = in[0].shape[1];
    relaxRows(
        in[0].shape[0], n, [&](std::int64_t r, std::int64_t j) { return in[0].data[r * n + j] + in[1].data[r * n + j]; },
        in[2], in.subspan(3, 4), in[7], in[8], out[0], out[1]);
    return true;
  }
  case Op::LbRelaxPN: {
    std::int64_t n = in[0].shape[1];
    relaxRows(
        in[0].shape[0], n, [&](std::int64_t r, std::int64_t j) { return in[0].data[r * n + j]; }, in[1],
        in.subspan(2, 4), in[6], in[7], out[0], out[1]);
    return true;
  }
  case Op::LbConcretize: {
    std::int64_t n = in[0].shape[1];
    concretize(
        in[0].shape[0], n, [&](std::int64_t r, std::int64_t j) { return in[0].data[r * n + j] + in[1].data[r * n + j]; },
        in[2], in[3], in[4], out[0]);
    return true;
  }
  case Op::LbConcretizePN: {
    std::int64_t n = in[0].shape[1];
    concretize(
        in[0].shape[0], n, [&](std::int64_t r, std::int64_t j) { return in[0].data[r * n + j]; }, in[1], in[2], in[3],
        out[0]);
    return true;
  }
  case Op::LbSettle:
    settleRows(in, out[0]);
    return true;
  case Op::LbInterval: {
    std::int64_t n = in[0].shape[0] / 2;
    for (std::int64_t j = 0; j < n; ++j) {
      out[0][j] = in[0].data[j];
      out[1][j] = -in[0].data[n + j];
    }
    return true;
  }
  case Op::LbMerge:
    mergeRows(in, out[0], out[1]);
    return true;
  case Op::SpecRows:
    specRows(in[0], in[1], in[2], in[3], out[0], out[1]);
    return true;
  case Op::IbpNode:
  case Op::LbNode:
    return false; // bounds/'s rules, through nodeRules
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#include "ir/ops.def"
    break;
  }
  GAMMA_ASSERT(false, "boundInto on a network op");
  return false;
}

std::vector<Tensor> boundOp(Op op, const Attrs &attrs, std::span<const Tensor> in,
                            std::span<const TensorType> resultTypes) {
  if (op == Op::IbpNode || op == Op::LbNode) {
    if (!nodeRules)
      fail("", "{} needs the rules of bounds/; call bounds::registerProgramRules() first", opKeyword(op));
    return nodeRules(op, attrs, in);
  }
  std::vector<View> views;
  for (const Tensor &t : in)
    views.push_back({t.data, t.shape});
  std::vector<TensorType> inferred;
  if (resultTypes.empty()) { // a caller without the node's types
    std::vector<TensorType> operandTypes;
    for (const Tensor &t : in)
      operandTypes.push_back({DType::F64, t.shape});
    inferred = inferBoundResultTypes(op, operandTypes, attrs);
    resultTypes = inferred;
  }
  std::vector<Tensor> results;
  std::vector<std::span<double>> out;
  for (const TensorType &t : resultTypes)
    results.push_back(makeTensor(t.shape));
  for (Tensor &t : results)
    out.push_back(t.data);
  boundInto(op, attrs, views, out);
  return results;
}

} // namespace gm::ref::kernels

namespace gm::ref {
void setNodeRuleKernel(NodeRuleKernel kernel) { kernels::nodeRules = kernel; }
bool boundOpInto(Op op, const Attrs &attrs, std::span<const View> operands, std::span<const std::span<double>> results) {
  return kernels::boundInto(op, attrs, operands, results);
}
} // namespace gm::ref
