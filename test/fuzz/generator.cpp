// The case generator: a random chain of op patterns over one input, with
// branches (a pattern may read any earlier value, and some read two), then a
// box and sometimes specification rows.
//
// Domains are kept by construction, not by luck: log, sqrt, pow 0.5 and
// denominators only ever see values that are positive for every real input
// (exp, sigmoid, softmax, |x|+c, x*x+c), and exp, sigmoid and softmax are only
// used as positive-makers where the probed range is small enough that float64
// cannot underflow them to 0 (which would make the oracle, not the bounds,
// wrong).
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "test/fuzz/graph_edit.h"
#include "test/fuzz/random.h"
#include "test/fuzz/soundness_fuzz.h"
#include "test/fuzz/transformer_patterns.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

namespace gm::fuzz {

namespace {

constexpr std::string_view kPatterns[] = {
    "relu",      "sigmoid",     "tanh",     "exp",          "log",        "erf",         "sqrt",
    "neg",       "abs",         "silu",     "gelu",         "add",      "sub",          "mul",        "div",         "pow",
    "matmul",    "conv",        "batch_norm", "max_pool",   "average_pool", "softmax",   "layer_norm",  "rms_norm",
    "reduce_mean", "reduce_sum", "reshape", "transpose",    "concat",     "slice",       "gather",
    "residual",  "dense_chain", "qwen3_block", "whisper_block",
};

using Ints = std::vector<std::int64_t>;

// A pattern that does not fit the value it was given; the caller tries another.
struct Reject {};

struct Live {
  ValueId id;
  bool positive; // > 0 for every real input
};

class Builder {
public:
  Builder(Rng &rng, const GenOptions &options) : rng_(rng), options_(options) {}

  Case build(std::uint64_t seed);

private:
  Rng &rng_;
  const GenOptions &options_;
  Graph g_;
  ValueId input_ = 0;
  std::vector<Live> live_;
  // Tags name the features a pattern used; they count only when the value the
  // pattern pushed is one the output reads.
  std::set<std::string> pending_, caseTags_;
  std::map<ValueId, std::set<std::string>> valueTags_;
  std::vector<std::vector<double>> probes_;
  bounds::Box box_;
  bool complete_ = false; // the graph is finished (a dense chain is a whole network)
  int blocks_ = 0;        // transformer blocks built, for their node names

  const Shape &shape(ValueId v) const { return g_.type(v).shape; }
  std::int64_t count(ValueId v) const { return g_.type(v).numElements(); }
  std::size_t rank(ValueId v) const { return g_.type(v).rank(); }
  void tag(std::string t) { pending_.insert(std::move(t)); }
  void caseTag(std::string t) { caseTags_.insert(std::move(t)); }

  ValueId node(Op op, std::vector<ValueId> operands, Attrs attrs = {}) {
    ValueId r = g_.add1(op, std::move(operands), std::move(attrs)); // InputError when shapes do not fit
    if (count(r) > options_.maxElements || count(r) < 1)
      throw Reject{};
    return r;
  }
  ValueId constant(Shape s, const std::vector<double> &values, DType dtype = DType::F32) {
    return g_.addConst(Constant::fromDoubles(TensorType{dtype, std::move(s)}, values));
  }
  std::vector<double> normals(std::int64_t n, double mean, double scale) {
    std::vector<double> v(static_cast<std::size_t>(n));
    for (double &x : v)
      x = mean + scale * rng_.normal();
    return v;
  }
  // Weights of realistic scale: He-like with a random gain.
  ValueId weights(Shape s, std::int64_t fanIn) {
    double scale = rng_.uniform(0.5, 2.0) / std::sqrt(double(std::max<std::int64_t>(fanIn, 1)));
    std::int64_t n = numElements(s);
    return constant(std::move(s), normals(n, 0.0, scale));
  }
  ValueId scalarConst(double value) {
    return rng_.chance(0.5) ? constant({}, {value}) : constant({1}, {value});
  }

  // Range of a value over the probe points (an estimate, used only to keep
  // magnitudes where float64 evaluates the real function faithfully).
  double probeMagnitude(ValueId v) {
    std::vector<ValueId> saved = g_.outputs();
    g_.setOutputs({v});
    double m = 0;
    for (const auto &p : probes_) {
      ref::Tensor t{shape(input_), p};
      std::vector<ref::Tensor> out = ref::evaluate(g_, std::span(&t, 1));
      for (double x : out[0].data)
        m = std::isfinite(x) ? std::max(m, std::fabs(x)) : INFINITY;
    }
    g_.setOutputs(saved);
    return m;
  }
  // Scales v down when it is too large for exp, pow 3 or a positive-maker.
  ValueId tame(ValueId v, double limit) {
    double m = probeMagnitude(v);
    if (m <= limit)
      return v;
    if (!std::isfinite(m))
      throw Reject{};
    tag("scaled");
    return node(Op::Mul, {v, scalarConst(0.5 * limit / m)});
  }

  Shape factorize(std::int64_t n, std::size_t r) {
    Shape dims(r, 1);
    for (std::int64_t p = 2; n > 1; ++p)
      while (n % p == 0) {
        dims[rng_.next() % r] *= p;
        n /= p;
      }
    return dims;
  }
  ValueId reshapeTo(ValueId v, Shape s) {
    if (s == shape(v))
      return v;
    Attrs a;
    a.set("shape", s);
    return node(Op::Reshape, {v}, a);
  }
  // Reshapes v to a rank in [lo, hi] when it has another.
  ValueId fitRank(ValueId v, std::size_t lo, std::size_t hi) {
    if (rank(v) >= lo && rank(v) <= hi)
      return v;
    return reshapeTo(v, factorize(count(v), std::size_t(rng_.integer(std::int64_t(lo), std::int64_t(hi)))));
  }
  // [N, C, D1..Dk] for conv and pools.
  ValueId fitSpatial(ValueId v, std::size_t k) {
    if (rank(v) == k + 2)
      return v;
    std::int64_t n = count(v);
    std::vector<std::int64_t> divisors;
    for (std::int64_t d = 1; d <= n; ++d)
      if (n % d == 0)
        divisors.push_back(d);
    std::int64_t c = rng_.pick(divisors);
    Shape s = {1, c};
    Shape spatial = factorize(n / c, k);
    s.insert(s.end(), spatial.begin(), spatial.end());
    return reshapeTo(v, s);
  }

  ValueId pick() {
    if (rng_.chance(0.7))
      return live_.back().id;
    return rng_.pick(live_).id;
  }
  bool isPositive(ValueId v) const {
    for (const Live &l : live_)
      if (l.id == v)
        return l.positive;
    return false;
  }
  void push(ValueId v, bool positive = false) { live_.push_back({v, positive}); }
  std::vector<std::string> liveTags(ValueId output) const;

  ValueId makePositive(ValueId v);
  ValueId derive(ValueId v);
  Shape broadcastPartner(const Shape &s);

  void unary(Op op);
  void binaryConst(Op op);
  void binaryBounded(Op op);
  void pow();
  void matmul();
  void conv();
  void batchNorm();
  void pool(Op op);
  void softmax();
  void normalization(Op op); // layer_norm, rms_norm
  void reduce(Op op);
  void reshape();
  void transpose();
  void concat();
  void slice();
  void gather();
  void residual();
  void denseChain();
  ValueId toTokens(ValueId v, std::int64_t tokens, std::int64_t hidden);
  void transformerBlock(bool qwen3);
  void apply(std::string_view pattern);

  void makeInputAndBox();
  std::optional<bounds::Spec> makeSpec(ValueId output);
};

ValueId Builder::makePositive(ValueId v) {
  if (isPositive(v))
    return v;
  switch (rng_.integer(0, 5)) {
  case 0:
    tag("positive-exp");
    return node(Op::Exp, {tame(v, 20)});
  case 1:
    tag("positive-sigmoid");
    return node(Op::Sigmoid, {tame(v, 20)});
  case 2:
    tag("positive-softmax");
    if (rank(v) == 0)
      throw Reject{};
    {
      Attrs a;
      a.set("axis", rng_.integer(0, std::int64_t(rank(v)) - 1));
      return node(Op::Softmax, {tame(v, 10)}, a);
    }
  case 3:
    tag("positive-exp+1");
    return node(Op::Add, {node(Op::Exp, {tame(v, 20)}), scalarConst(1.0)});
  case 4:
    tag("positive-square+c");
    return node(Op::Add, {node(Op::Mul, {v, v}), scalarConst(rng_.uniform(0.05, 1.0))});
  default:
    tag("positive-abs+c");
    return node(Op::Add, {node(Op::Abs, {v}), scalarConst(rng_.uniform(0.05, 1.0))});
  }
}

// A value of the same shape computed from v: the second operand of an op with
// two bounded operands when no other live value fits.
ValueId Builder::derive(ValueId v) {
  switch (rng_.integer(0, 4)) {
  case 0:
    tag("same-value-twice");
    return v;
  case 1:
    return node(Op::Relu, {v});
  case 2:
    return node(Op::Tanh, {v});
  case 3:
    return node(Op::Sigmoid, {v});
  default:
    if (rank(v) == 0)
      return node(Op::Neg, {v});
    std::int64_t k = shape(v).back();
    return node(Op::Add, {node(Op::MatMul, {v, weights({k, k}, k)}), constant({k}, normals(k, 0, 0.3))});
  }
}

// A shape that broadcasts with s: equal, scalar, a suffix with some 1s, or one
// that makes the result larger than s.
Shape Builder::broadcastPartner(const Shape &s) {
  double u = rng_.uniform();
  if (u < 0.3 || s.empty())
    return u < 0.15 ? Shape{} : s;
  if (u < 0.4)
    return Shape{1};
  if (u < 0.75) {
    Shape p(s.begin() + rng_.integer(0, std::int64_t(s.size()) - 1), s.end());
    for (auto &d : p)
      if (rng_.chance(0.4))
        d = 1;
    return p;
  }
  Shape p = s;
  std::vector<std::size_t> ones;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] == 1)
      ones.push_back(i);
  if (!ones.empty() && rng_.chance(0.5))
    p[rng_.pick(ones)] = rng_.integer(2, 3);
  else if (p.size() < 4)
    p.insert(p.begin(), 2);
  return p;
}

void Builder::unary(Op op) {
  ValueId v = pick();
  switch (op) {
  case Op::Exp:
    push(node(op, {tame(v, 20)}), true);
    return;
  case Op::Log:
    push(node(op, {makePositive(v)}));
    return;
  case Op::Sqrt:
    push(node(op, {makePositive(v)}), true);
    return;
  case Op::Sigmoid:
    push(node(op, {v}), probeMagnitude(v) < 20);
    return;
  default:
    push(node(op, {v}));
  }
}

void Builder::binaryConst(Op op) {
  ValueId v = pick();
  Shape cs = broadcastPartner(shape(v));
  if (cs != shape(v))
    tag("broadcast");
  std::int64_t n = numElements(cs);
  bool constFirst = op != Op::Div && rng_.chance(0.4);
  std::vector<double> values = normals(n, 0, op == Op::Mul ? 1.0 : 0.7);
  if (op == Op::Div) {
    if (rng_.chance(0.5)) {
      // x / c with c bounded away from zero.
      for (double &x : values)
        x = (rng_.chance(0.5) ? 1 : -1) * rng_.uniform(0.5, 2.0);
      push(node(op, {v, constant(cs, values)}));
      tag("div-by-const");
      return;
    }
    ValueId d = makePositive(v);
    if (rng_.chance(0.3)) {
      d = node(Op::Neg, {d});
      tag("div-negative-denominator");
    }
    push(node(op, {constant(cs, values), d}));
    tag("div-const-by-bounded");
    return;
  }
  ValueId c = constant(cs, values);
  push(constFirst ? node(op, {c, v}) : node(op, {v, c}));
  tag(std::string(opKeyword(op)) + "-const");
}

void Builder::binaryBounded(Op op) {
  ValueId a = pick();
  std::vector<ValueId> partners;
  for (const Live &l : live_) {
    Shape out;
    if (l.id != a && broadcastShapes(shape(a), shape(l.id), out) && numElements(out) <= options_.maxElements)
      partners.push_back(l.id);
  }
  ValueId b = !partners.empty() && rng_.chance(0.6) ? rng_.pick(partners) : derive(a);
  if (op == Op::Div) {
    b = makePositive(b);
    if (rng_.chance(0.3)) {
      b = node(Op::Neg, {b});
      tag("div-negative-denominator");
    }
  }
  if (shape(a) != shape(b))
    tag("broadcast-bounded");
  bool swap = op != Op::Div && rng_.chance(0.5); // the denominator stays positive
  push(swap ? node(op, {b, a}) : node(op, {a, b}));
  tag(std::string(opKeyword(op)) + "-bounded");
}

void Builder::pow() {
  ValueId v = pick();
  double e = rng_.pick(std::vector<double>{2.0, 3.0, 0.5});
  if (e == 0.5)
    v = makePositive(v);
  if (e == 3.0)
    v = tame(v, 50);
  push(node(Op::Pow, {v, scalarConst(e)}), e == 0.5);
  tag(e == 2.0 ? "pow2" : e == 3.0 ? "pow3" : "pow0.5");
}

void Builder::matmul() {
  ValueId v = pick();
  if (rank(v) == 0)
    v = reshapeTo(v, {1});
  double u = rng_.uniform();
  if (u < 0.4) {
    std::int64_t k = shape(v).back(), m = rng_.integer(1, 6);
    Shape ws = {k, m};
    if (rank(v) >= 3 && rng_.chance(0.5)) {
      Shape batch(shape(v).begin(), shape(v).end() - 2);
      for (auto &d : batch)
        if (rng_.chance(0.5))
          d = 1;
      ws.insert(ws.begin(), batch.begin(), batch.end());
      tag("matmul-batch");
    }
    if (rank(v) == 1)
      tag("matmul-1d");
    ValueId r = node(Op::MatMul, {v, weights(ws, k)});
    if (rng_.chance(0.5))
      r = node(Op::Add, {r, constant({m}, normals(m, 0, 0.3))});
    push(r);
    tag("matmul-const-right");
  } else if (u < 0.65) {
    std::int64_t r = rank(v) == 1 ? shape(v)[0] : shape(v)[rank(v) - 2], m = rng_.integer(1, 6);
    push(node(Op::MatMul, {weights({m, r}, r), v}));
    tag("matmul-const-left");
  } else {
    tag("matmul-bounded");
    if (rank(v) == 1) {
      tag("matmul-bounded-dot");
      push(node(Op::MatMul, {v, derive(v)}));
      return;
    }
    Ints perm(rank(v));
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
    Attrs t;
    t.set("perm", perm);
    std::int64_t k = shape(v).back();
    if (rng_.chance(0.5)) {
      // Attention scores: (x Wq)(x Wk)^T.
      std::int64_t d = rng_.integer(1, 4);
      ValueId q = node(Op::MatMul, {v, weights({k, d}, k)});
      ValueId kk = node(Op::MatMul, {v, weights({k, d}, k)});
      push(node(Op::MatMul, {q, node(Op::Transpose, {kk}, t)}));
      tag("matmul-bounded-qk");
    } else {
      ValueId vt = node(Op::Transpose, {derive(v)}, t);
      push(rng_.chance(0.5) ? node(Op::MatMul, {v, vt}) : node(Op::MatMul, {vt, v}));
      tag("matmul-bounded-gram");
    }
  }
}

void Builder::conv() {
  std::size_t k = rng_.chance(0.4) ? 1 : rng_.chance(0.9) ? 2 : 3;
  ValueId x = fitSpatial(pick(), k);
  std::int64_t c = shape(x)[1];
  std::vector<std::int64_t> divisors;
  for (std::int64_t d = 1; d <= c; ++d)
    if (c % d == 0)
      divisors.push_back(d);
  std::int64_t group = rng_.chance(0.5) ? 1 : rng_.pick(divisors);
  std::int64_t m = group * rng_.integer(1, 3);
  Shape ws = {m, c / group};
  Ints strides, pads(2 * k), dilations;
  for (std::size_t i = 0; i < k; ++i) {
    std::int64_t size = shape(x)[2 + i];
    ws.push_back(rng_.integer(1, std::min<std::int64_t>(3, size + 2)));
    strides.push_back(rng_.chance(0.7) ? 1 : rng_.integer(2, 3));
    dilations.push_back(rng_.chance(0.8) ? 1 : 2);
    pads[i] = rng_.chance(0.6) ? 0 : rng_.integer(1, 2);
    pads[k + i] = rng_.chance(0.7) ? pads[i] : rng_.integer(0, 2);
  }
  Attrs a;
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("dilations", dilations);
  a.set("group", group);
  std::int64_t fanIn = numElements(ws) / m;
  std::vector<ValueId> operands = {x, weights(ws, fanIn)};
  if (rng_.chance(0.7))
    operands.push_back(constant({m}, normals(m, 0, 0.3)));
  push(node(Op::Conv, operands, a));
  tag(fmt::format("conv{}d", k));
  if (group > 1)
    tag(group == c ? "conv-depthwise" : "conv-group");
  if (std::any_of(strides.begin(), strides.end(), [](auto s) { return s > 1; }))
    tag("conv-stride");
  if (std::any_of(dilations.begin(), dilations.end(), [](auto s) { return s > 1; }))
    tag("conv-dilation");
  if (std::any_of(pads.begin(), pads.end(), [](auto s) { return s > 0; }))
    tag("conv-pad");
}

void Builder::batchNorm() {
  ValueId x = pick();
  if (rank(x) < 2)
    x = reshapeTo(x, rng_.chance(0.5) ? Shape{1, count(x)} : Shape{count(x), 1});
  std::int64_t c = shape(x)[1];
  std::vector<double> var(static_cast<std::size_t>(c));
  for (double &v : var)
    v = rng_.uniform(0.05, 2.0);
  Attrs a;
  a.set("epsilon", rng_.chance(0.5) ? 1e-5 : 1e-3);
  push(node(Op::BatchNorm,
            {x, constant({c}, normals(c, 1, 0.5)), constant({c}, normals(c, 0, 0.5)),
             constant({c}, normals(c, 0, 0.5)), constant({c}, var)},
            a));
}

void Builder::pool(Op op) {
  std::size_t k = rng_.chance(0.4) ? 1 : rng_.chance(0.9) ? 2 : 3;
  ValueId x = fitSpatial(pick(), k);
  Ints kernel, strides, pads(2 * k), dilations;
  for (std::size_t i = 0; i < k; ++i) {
    std::int64_t size = shape(x)[2 + i];
    std::int64_t kk = rng_.integer(1, std::min<std::int64_t>(3, size + 1));
    kernel.push_back(kk);
    strides.push_back(rng_.integer(1, 3));
    dilations.push_back(op == Op::MaxPool && rng_.chance(0.2) ? 2 : 1);
    // At most half the kernel (PyTorch's rule), so every window has an input tap.
    pads[i] = rng_.integer(0, kk / 2);
    pads[k + i] = rng_.integer(0, kk / 2);
  }
  bool ceil = rng_.chance(0.35);
  Attrs a;
  a.set("kernel", kernel);
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("ceil_mode", std::int64_t(ceil));
  std::string name(opKeyword(op));
  if (op == Op::MaxPool) {
    a.set("dilations", dilations);
    if (dilations != Ints(k, 1))
      tag("max_pool-dilation");
  } else {
    bool include = rng_.chance(0.5);
    a.set("count_include_pad", std::int64_t(include));
    if (include)
      tag("average_pool-count-include-pad");
  }
  push(node(op, {x}, a), isPositive(x));
  if (ceil)
    tag(name + "-ceil");
  if (std::any_of(pads.begin(), pads.end(), [](auto s) { return s > 0; }))
    tag(name + "-pad");
}

void Builder::softmax() {
  ValueId x = pick();
  if (rank(x) == 0)
    x = reshapeTo(x, {1});
  Attrs a;
  a.set("axis", rng_.integer(0, std::int64_t(rank(x)) - 1));
  push(node(Op::Softmax, {x}, a), probeMagnitude(x) < 10);
}

void Builder::normalization(Op op) {
  ValueId x = pick();
  if (rank(x) == 0)
    x = reshapeTo(x, {1});
  std::int64_t axis = rng_.integer(0, std::int64_t(rank(x)) - 1);
  Shape normalized(shape(x).begin() + axis, shape(x).end());
  auto param = [&](double mean) {
    Shape s = normalized;
    double u = rng_.uniform();
    if (u < 0.15)
      s = {};
    else if (u < 0.35) {
      s.erase(s.begin(), s.begin() + rng_.integer(0, std::int64_t(s.size()) - 1));
      for (auto &d : s)
        if (rng_.chance(0.4))
          d = 1;
    }
    if (s != normalized)
      tag(std::string(opInfo(op).keyword) + "-broadcast-param");
    return constant(s, normals(numElements(s), mean, 0.3));
  };
  std::vector<ValueId> operands = {x, param(1.0)};
  if (op == Op::LayerNorm && rng_.chance(0.7))
    operands.push_back(param(0.0));
  Attrs a;
  a.set("axis", axis);
  double u = rng_.uniform();
  a.set("epsilon", u < 0.1 ? 1e-12 : u < 0.8 ? 1e-5 : 1e-2);
  push(node(op, operands, a));
}

void Builder::reduce(Op op) {
  ValueId x = pick();
  if (rank(x) == 0)
    x = reshapeTo(x, {1});
  Ints axes;
  for (std::int64_t d = 0; d < std::int64_t(rank(x)); ++d)
    if (rng_.chance(0.5))
      axes.push_back(d);
  if (axes.empty())
    axes.push_back(rng_.integer(0, std::int64_t(rank(x)) - 1));
  bool keep = rng_.chance(0.5);
  Attrs a;
  a.set("axes", axes);
  a.set("keepdims", std::int64_t(keep));
  push(node(op, {x}, a), isPositive(x) && op == Op::ReduceMean);
  if (!keep && axes.size() == rank(x))
    tag("reduce-to-scalar");
}

void Builder::reshape() {
  ValueId x = pick();
  push(reshapeTo(x, factorize(count(x), std::size_t(rng_.integer(1, 4)))), isPositive(x));
}

void Builder::transpose() {
  ValueId x = pick();
  bool positive = isPositive(x);
  if (rank(x) < 2)
    x = reshapeTo(x, factorize(count(x), std::size_t(rng_.integer(2, 4))));
  Ints perm(rank(x));
  std::iota(perm.begin(), perm.end(), 0);
  for (std::size_t i = perm.size(); i > 1; --i)
    std::swap(perm[i - 1], perm[rng_.next() % i]);
  Attrs a;
  a.set("perm", perm);
  push(node(Op::Transpose, {x}, a), positive);
}

void Builder::concat() {
  ValueId x = pick();
  if (rank(x) == 0)
    x = reshapeTo(x, {1});
  std::int64_t axis = rng_.integer(0, std::int64_t(rank(x)) - 1);
  std::vector<ValueId> operands = {x};
  int n = rng_.chance(0.8) ? 1 : 2;
  for (int i = 0; i < n; ++i) {
    double u = rng_.uniform();
    if (u < 0.35) {
      Shape s = shape(x);
      s[axis] = rng_.integer(1, 3);
      operands.push_back(constant(s, normals(numElements(s), 0, 1)));
      tag("concat-const");
    } else if (u < 0.5) {
      operands.push_back(x);
      tag("concat-self");
    } else {
      ValueId other = x;
      for (const Live &l : live_) {
        Shape a = shape(l.id), b = shape(x);
        if (l.id != x && a.size() == b.size()) {
          a[axis] = b[axis] = 0;
          if (a == b && rng_.chance(0.5))
            other = l.id;
        }
      }
      operands.push_back(other == x ? derive(x) : other);
      tag("concat-bounded");
    }
  }
  std::shuffle(operands.begin(), operands.end(), std::mt19937_64(rng_.next()));
  Attrs a;
  a.set("axis", axis);
  push(node(Op::Concat, operands, a));
}

void Builder::slice() {
  ValueId x = pick();
  if (rank(x) == 0)
    x = reshapeTo(x, {1});
  Ints starts, ends, steps;
  for (std::int64_t dim : shape(x)) {
    double u = rng_.uniform();
    std::int64_t step = u < 0.55 ? 1 : u < 0.7 ? 2 : u < 0.8 ? 3 : u < 0.93 ? -1 : -2;
    std::int64_t start = rng_.integer(0, dim - 1);
    std::int64_t end = step > 0 ? rng_.integer(start + 1, dim) : rng_.integer(-1, start - 1);
    if (rng_.chance(0.3)) { // keep the whole dim now and then
      start = step > 0 ? 0 : dim - 1;
      end = step > 0 ? dim : -1;
    }
    starts.push_back(start);
    ends.push_back(end);
    steps.push_back(step);
    if (step < 0)
      tag("slice-negative-step");
    else if (step > 1)
      tag("slice-step");
  }
  Attrs a;
  a.set("starts", starts);
  a.set("ends", ends);
  a.set("steps", steps);
  push(node(Op::Slice, {x}, a), isPositive(x));
}

void Builder::gather() {
  ValueId x = pick();
  if (rank(x) == 0)
    x = reshapeTo(x, {1});
  std::int64_t axis = rng_.integer(0, std::int64_t(rank(x)) - 1), dim = shape(x)[axis];
  double u = rng_.uniform();
  Shape is = u < 0.3 ? Shape{} : u < 0.8 ? Shape{rng_.integer(1, 4)} : Shape{rng_.integer(1, 3), rng_.integer(1, 2)};
  std::vector<double> idx(static_cast<std::size_t>(numElements(is)));
  for (double &i : idx) {
    i = double(rng_.integer(-dim, dim - 1));
    if (i < 0)
      tag("gather-negative-index");
  }
  if (is.empty())
    tag("gather-scalar-index");
  Attrs a;
  a.set("axis", axis);
  push(node(Op::Gather, {x, constant(is, idx, rng_.chance(0.8) ? DType::I64 : DType::I32)}, a), isPositive(x));
}

void Builder::residual() {
  ValueId x = pick();
  switch (rng_.integer(0, 3)) {
  case 0: { // x + relu(x W + b)
    if (rank(x) == 0)
      x = reshapeTo(x, {1});
    std::int64_t k = shape(x).back();
    ValueId h = node(Op::Add, {node(Op::MatMul, {x, weights({k, k}, k)}), constant({k}, normals(k, 0, 0.3))});
    push(node(Op::Add, {x, node(Op::Relu, {h})}));
    tag("residual-mlp");
    return;
  }
  case 1: // x * sigmoid(x) (SiLU)
    push(node(Op::Mul, {x, node(Op::Sigmoid, {x})}));
    tag("residual-silu");
    return;
  case 2: // x - relu(x)
    push(node(Op::Sub, {x, node(Op::Relu, {x})}));
    tag("residual-sub");
    return;
  default: { // x + a * tanh(x)
    ValueId t = node(Op::Mul, {node(Op::Tanh, {x}), scalarConst(rng_.uniform(-2, 2))});
    push(node(Op::Add, {t, x}));
    tag("residual-tanh");
  }
  }
}

// A whole feed-forward network in the form bounds/dense_chain.h takes:
// normalisation, flatten, then dense layers with relu, sigmoid or tanh.
void Builder::denseChain() {
  if (live_.size() != 1)
    throw Reject{};
  ValueId v = input_;
  if (rng_.chance(0.5)) {
    v = node(Op::Sub, {v, constant(shape(v), normals(count(v), 0.0, 0.5))});
    tag("chain-normalise");
  }
  if (rng_.chance(0.4))
    v = node(Op::Div, {v, scalarConst(rng_.uniform(0.3, 3.0))});
  v = reshapeTo(v, {1, count(v)});
  int layers = int(rng_.integer(2, 4));
  for (int i = 0; i < layers; ++i) {
    bool last = i + 1 == layers;
    std::int64_t n = last ? rng_.integer(1, 6) : rng_.integer(2, 24);
    v = node(Op::MatMul, {v, weights({count(v), n}, count(v))});
    if (rng_.chance(0.8))
      v = node(Op::Add, {v, constant(rng_.chance(0.5) ? Shape{n} : Shape{1, n}, normals(n, 0.0, 0.5))});
    if (!last || rng_.chance(0.2)) {
      Op act = rng_.pick(std::vector<Op>{Op::Relu, Op::Relu, Op::Relu, Op::Sigmoid, Op::Tanh});
      v = node(act, {v});
      tag(last ? "chain-trailing-activation" : std::string("chain-") + std::string(opKeyword(act)));
    }
  }
  push(v);
  tag("dense-chain");
  complete_ = true;
}

// x as [1, tokens, hidden]: flattened, then cut to size or filled up with
// constants or repeats of itself (which gives tokens that move together).
ValueId Builder::toTokens(ValueId v, std::int64_t tokens, std::int64_t hidden) {
  std::int64_t n = count(v), need = tokens * hidden;
  ValueId flat = reshapeTo(v, {1, n});
  auto cut = [&](ValueId x) {
    if (count(x) == need)
      return x;
    Attrs a;
    a.set("starts", Ints{0, 0});
    a.set("ends", Ints{1, need});
    a.set("steps", Ints{1, 1});
    return node(Op::Slice, {x}, a);
  };
  Attrs axis1;
  axis1.set("axis", std::int64_t(1));
  if (n > need) {
    tag("block-input-cut");
    flat = cut(flat);
  } else if (n < need && rng_.chance(0.5)) {
    tag("block-input-padded");
    flat = node(Op::Concat, {flat, constant({1, need - n}, normals(need - n, 0, 1))}, axis1);
  } else if (n < need) {
    tag("block-input-repeated");
    flat = cut(node(Op::Concat, std::vector<ValueId>(std::size_t((need + n - 1) / n), flat), axis1));
  }
  return reshapeTo(flat, {1, tokens, hidden});
}

// One whole Qwen3 decoder or Whisper encoder block on the picked value; a
// value that already is [1, T, hidden] (another block's output) goes in as it is.
void Builder::transformerBlock(bool qwen3) {
  ValueId x = pick();
  auto fits = qwen3 ? qwen3BlockHidden : whisperBlockHidden;
  if (rank(x) == 3 && shape(x)[0] == 1 && shape(x)[1] <= 5 && fits(shape(x)[2])) {
    tag("block-input-as-is");
  } else {
    std::int64_t tokens = rng_.integer(2, 5);
    std::int64_t hidden = qwen3 ? rng_.integer(8, 16) : 2 * rng_.integer(4, 8);
    x = toTokens(x, tokens, hidden);
  }
  std::size_t before = g_.numValues();
  std::string name = (qwen3 ? "blk." : "layers.") + std::to_string(blocks_);
  BlockResult block = qwen3 ? qwen3Block(g_, x, rng_, name) : whisperBlock(g_, x, rng_, name);
  // Weights are not intermediate values: only what depends on the input is held to maxElements.
  std::vector<bool> fixed = constantValues(g_);
  for (std::size_t v = before; v < g_.numValues(); ++v)
    if (!fixed[v] && count(ValueId(v)) > options_.maxElements)
      throw Reject{};
  push(block.output);
  ++blocks_;
  tag(qwen3 ? "qwen3-block" : "whisper-block");
  for (std::string &t : block.tags)
    tag(std::move(t));
}

void Builder::apply(std::string_view p) {
  if (p == "dense_chain")
    return denseChain();
  if (p == "qwen3_block" || p == "whisper_block")
    return transformerBlock(p == "qwen3_block");
  std::optional<Op> op = opFromKeyword(p);
  if (p == "residual")
    return residual();
  switch (*op) {
  case Op::Relu:
  case Op::Sigmoid:
  case Op::Tanh:
  case Op::Exp:
  case Op::Log:
  case Op::Erf:
  case Op::Sqrt:
  case Op::Neg:
  case Op::Abs:
  case Op::Silu:
  case Op::Gelu:
    return unary(*op);
  case Op::Add:
  case Op::Sub:
  case Op::Mul:
  case Op::Div:
    return rng_.chance(0.5) ? binaryConst(*op) : binaryBounded(*op);
  case Op::Pow:
    return pow();
  case Op::MatMul:
    return matmul();
  case Op::Conv:
    return conv();
  case Op::BatchNorm:
    return batchNorm();
  case Op::MaxPool:
  case Op::AveragePool:
    return pool(*op);
  case Op::Softmax:
    return softmax();
  case Op::LayerNorm:
  case Op::RmsNorm:
    return normalization(*op);
  case Op::ReduceMean:
  case Op::ReduceSum:
    return reduce(*op);
  case Op::Reshape:
    return reshape();
  case Op::Transpose:
    return transpose();
  case Op::Concat:
    return concat();
  case Op::Slice:
    return slice();
  case Op::Gather:
    return gather();
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#include "ir/ops.def"
    fail("fuzz generator", "{}: bound-program op in a network graph", p);
  case Op::Input:
  case Op::Const:
    break;
  }
  GAMMA_ASSERT(false, "not a generator pattern");
}

void Builder::makeInputAndBox() {
  Shape s;
  do {
    double u = rng_.uniform();
    std::size_t r = u < 0.25 ? 1 : u < 0.55 ? 2 : u < 0.8 ? 3 : 4;
    s.assign(r, 1);
    for (auto &d : s)
      d = rng_.chance(0.3) ? 1 : rng_.integer(1, 6);
  } while (numElements(s) > std::min(options_.maxInputElements, options_.maxElements));
  input_ = g_.addInput("x", TensorType{DType::F32, s});
  push(input_);

  std::size_t n = static_cast<std::size_t>(numElements(s));
  double centreScale = rng_.pick(std::vector<double>{0.1, 1.0, 3.0});
  double u = rng_.uniform();
  double maxWidth = u < 0.3 ? 0.05 : u < 0.65 ? 0.5 : u < 0.9 ? 3.0 : 30.0;
  if (maxWidth >= 3.0)
    caseTag(maxWidth == 3.0 ? "wide-box" : "huge-box");
  bool point = rng_.chance(0.03);
  box_.lower.resize(n);
  box_.upper.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    double c = centreScale * rng_.normal();
    double w = rng_.uniform(0, maxWidth);
    double v = rng_.uniform();
    if (point || v < 0.08) {
      w = 0;
      caseTag("zero-width");
    } else if (v < 0.13) {
      w = 1e-9;
      caseTag("tiny-width");
    }
    box_.lower[i] = c - w;
    box_.upper[i] = c + w;
    if (!point && v >= 0.13 && v < 0.18) {
      // An edge exactly at 0, where relaxations switch between cases.
      if (rng_.chance(0.5))
        box_.lower[i] = 0, box_.upper[i] = 2 * w;
      else
        box_.lower[i] = -2 * w, box_.upper[i] = 0;
      caseTag("zero-edge");
    }
  }
  // Probe points: centre, corners, samples.
  for (int p = 0; p < 8; ++p) {
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i)
      x[i] = p == 0   ? 0.5 * (box_.lower[i] + box_.upper[i])
             : p < 4  ? (rng_.chance(0.5) ? box_.lower[i] : box_.upper[i])
                      : rng_.uniform(box_.lower[i], box_.upper[i]);
    probes_.push_back(std::move(x));
  }
}

std::optional<bounds::Spec> Builder::makeSpec(ValueId output) {
  if (!rng_.chance(0.4))
    return std::nullopt;
  caseTag("spec");
  bounds::Spec spec;
  spec.numOutputs = static_cast<std::size_t>(count(output));
  spec.numInputs = static_cast<std::size_t>(count(input_));
  std::size_t rows = std::size_t(rng_.integer(1, 3));
  bool withInput = rng_.chance(0.3);
  if (withInput)
    caseTag("spec-input");
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<double> c(spec.numOutputs, 0.0);
    double u = rng_.uniform();
    if (u < 0.4) { // y_i - y_j, the usual robustness row
      c[rng_.next() % c.size()] += 1;
      c[rng_.next() % c.size()] -= 1;
    } else if (u < 0.7) {
      for (double &x : c)
        x = rng_.chance(0.5) ? rng_.normal() : 0.0;
    } else {
      for (double &x : c)
        x = rng_.normal();
    }
    spec.outputCoeffs.insert(spec.outputCoeffs.end(), c.begin(), c.end());
    if (withInput)
      for (std::size_t i = 0; i < spec.numInputs; ++i)
        spec.inputCoeffs.push_back(rng_.chance(0.5) ? 0.5 * rng_.normal() : 0.0);
    spec.constants.push_back(rng_.normal());
  }
  return spec;
}

std::vector<std::string> Builder::liveTags(ValueId output) const {
  std::vector<bool> needed(g_.numValues(), false);
  needed[output] = true;
  for (NodeId id = NodeId(g_.numNodes()); id-- > 0;)
    if (needed[g_.node(id).results[0]])
      for (ValueId v : g_.node(id).operands)
        needed[v] = true;
  std::set<std::string> tags = caseTags_;
  for (const auto &[v, t] : valueTags_)
    if (needed[v])
      tags.insert(t.begin(), t.end());
  return {tags.begin(), tags.end()};
}

Case Builder::build(std::uint64_t seed) {
  makeInputAndBox();
  std::vector<std::string_view> allowed;
  for (std::string_view p : kPatterns)
    if (options_.patterns.empty() ||
        std::find(options_.patterns.begin(), options_.patterns.end(), p) != options_.patterns.end())
      allowed.push_back(p);
  GAMMA_ASSERT(!allowed.empty(), "no generator pattern selected");

  int steps = int(rng_.integer(1, options_.maxSteps));
  // Dense chains are whole graphs: often the first and only pattern.
  if (std::find(allowed.begin(), allowed.end(), "dense_chain") != allowed.end() &&
      (allowed.size() == 1 || rng_.chance(0.1)))
    allowed = {"dense_chain"};
  // A whole transformer block costs a hundred ops' evaluation at every point:
  // mixed with single ops it is drawn a sixth as often as one, so blocks do
  // not take most of a run's time.
  auto isBlock = [](std::string_view p) { return p == "qwen3_block" || p == "whisper_block"; };
  bool mixed = !std::all_of(allowed.begin(), allowed.end(), isBlock);
  auto draw = [&] {
    for (;;)
      if (std::string_view p = rng_.pick(allowed); !mixed || !isBlock(p) || rng_.chance(1.0 / 6))
        return p;
  };
  for (int s = 0; s < steps && !complete_; ++s)
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::size_t before = live_.size();
      try {
        apply(draw()); // pushes one value, the pattern's result
        valueTags_[live_.back().id].merge(pending_);
        pending_.clear();
        break;
      } catch (const Reject &) {
      } catch (const InputError &) {
      }
      live_.resize(before); // nodes a failed attempt added are dropped by the rebuild below
      pending_.clear();
    }
  if (live_.back().id == input_) // no pattern fitted: the graph still needs an op
    push(g_.add1(Op::Relu, {input_}));

  Case c;
  c.seed = seed;
  Edit edit;
  edit.output = live_.back().id;
  c.graph = applyEdit(g_, edit);
  c.graph.name = "fuzz";
  c.box = box_;
  c.spec = makeSpec(live_.back().id);
  c.intersectIbp = rng_.chance(0.3);
  if (c.intersectIbp)
    caseTag("intersect-ibp");
  c.tags = liveTags(live_.back().id);
  return c;
}

} // namespace

std::span<const std::string_view> patternNames() { return kPatterns; }

std::uint64_t caseSeed(std::uint64_t runSeed, std::uint64_t index) {
  return splitmix64(splitmix64(runSeed) ^ index);
}

Case generate(std::uint64_t seed, const GenOptions &options) {
  Rng rng(seed);
  return Builder(rng, options).build(seed);
}

} // namespace gm::fuzz
