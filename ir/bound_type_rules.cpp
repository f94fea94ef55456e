// Type rules of the bound-program ops (ir/ops.def, docs/IR.md "Bound
// programs"). Bound values are flat: an interval of n elements is a pair of
// f64[n] (the box may keep the network input's shape), a linear bound is
// (A f64[R, n], c f64[R]). Constant operands (weights, biases, scales) are
// matched by element count so that a network constant can be reused as is,
// keeping its file reference in the printed program.
#include "ir/bound_type_rules.h"

#include "ir/error.h"

#include <fmt/format.h>

#include <optional>

namespace gm {

namespace {

using Types = std::vector<TensorType>;

TensorType f64(Shape shape) { return TensorType{DType::F64, std::move(shape)}; }

void sameType(const TensorType &a, const TensorType &b, const char *what) {
  if (a != b)
    fail("", "{}: {} and {} differ", what, typeString(a), typeString(b));
}

void elements(const TensorType &t, std::int64_t n, const char *what) {
  if (t.numElements() != n)
    fail("", "{} has {} elements, expected {}", what, t.numElements(), n);
}

// A constant operand of an elementwise step: one element (a scalar) or one per element.
void stepOperand(const TensorType &t, std::int64_t n) {
  if (t.numElements() != n && t.numElements() != 1)
    fail("", "step operand {} has neither 1 nor {} elements", typeString(t), n);
}

void matrix(const TensorType &t, const char *what) {
  if (t.rank() != 2)
    fail("", "{} must be a matrix, got {}", what, typeString(t));
}

// fn of ibp.act and relax.
void activation(const Attrs &attrs, bool reluToo, bool others) {
  const std::string &fn = attrs.getString("fn");
  if ((fn == "relu" && reluToo) || ((fn == "sigmoid" || fn == "tanh") && others))
    return;
  fail("", "fn '{}' is not supported here", fn);
}

Types interval(const TensorType &lo) { return {lo, lo}; }

// y = W x with W [m, k] over the last dimension of x.
Types product(const TensorType &w, const TensorType &lo, const TensorType &hi) {
  matrix(w, "the weight");
  sameType(lo, hi, "interval ends");
  if (lo.rank() == 0 || lo.shape.back() != w.shape[1])
    fail("", "weight {} does not apply to an interval of {}", typeString(w), typeString(lo));
  Shape out = lo.shape;
  out.back() = w.shape[0];
  return interval(TensorType{lo.dtype, out});
}

// Rows (A [R, n], c [R]).
void rows(const TensorType &a, const TensorType &c) {
  matrix(a, "A");
  if (c.rank() != 1 || c.shape[0] != a.shape[0])
    fail("", "row constants {} do not match A {}", typeString(c), typeString(a));
}

// The network node's operand types (floats as f64, as the program holds
// them) and its result type.
TensorType asF64(TensorType t) {
  if (t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16)
    t.dtype = DType::F64;
  return t;
}

TensorType nodeResult(const NodeRule &rule, std::span<const TensorType> in, std::size_t perBounded,
                      std::vector<TensorType> *operandTypes = nullptr) {
  std::vector<TensorType> types;
  for (std::size_t k = 0; k < rule.group.size(); ++k) {
    const TensorType &t = in[rule.at[k]];
    if (rule.group[k] > 0)
      for (std::size_t e = 1; e < perBounded; ++e)
        sameType(t, in[rule.at[k] + e], "a bounded operand's interval tensors");
    types.push_back(asF64(t));
  }
  std::vector<TensorType> r = inferResultTypes(rule.op, types, rule.attrs);
  if (r.size() != 1)
    fail("", "{} has {} results; ibp.node and lb.node take single-result ops", opKeyword(rule.op), r.size());
  if (operandTypes)
    *operandTypes = std::move(types);
  return asF64(r[0]);
}

} // namespace

NodeRule nodeRule(const Attrs &attrs, std::size_t first, std::size_t perBounded, std::size_t numOperands) {
  const std::string &keyword = attrs.getString("op");
  std::optional<Op> op = opFromKeyword(keyword);
  if (!op || hasTrait(*op, OpTrait::Bound) || *op == Op::Input || *op == Op::Const)
    fail("", "op '{}' is not a network op", keyword);
  NodeRule rule{*op, {}, attrs.getInts("bounded"), {}, 0};
  for (const auto &[name, value] : attrs.entries())
    if (name != "op" && name != "bounded" && name != "simplex" && name != "arena")
      rule.attrs.set(name, value);
  const OpInfo &info = opInfo(*op);
  std::int64_t n = static_cast<std::int64_t>(rule.group.size());
  if (n < info.minOperands || (info.maxOperands != kVariadic && n > info.maxOperands))
    fail("", "bounded lists {} operands; {} takes {} to {}", n, keyword, info.minOperands, info.maxOperands);
  std::vector<std::size_t> start;
  std::size_t next = first;
  for (std::int64_t g : rule.group) {
    if (g < 0 || g > rule.numBounded + 1)
      fail("", "bounded group {} out of order (next new group is {})", g, rule.numBounded + 1);
    if (g == 0) {
      rule.at.push_back(next++);
    } else if (g == rule.numBounded + 1) {
      rule.numBounded = g;
      start.push_back(next);
      rule.at.push_back(next);
      next += perBounded;
    } else {
      rule.at.push_back(start[static_cast<std::size_t>(g - 1)]);
    }
  }
  if (rule.numBounded == 0)
    fail("", "{} has no bounded operand", keyword);
  if (next != numOperands)
    fail("", "bounded = [...] reads {} operands, the node has {}", next, numOperands);
  return rule;
}

std::vector<std::string> chainSteps(const Attrs &attrs) {
  const std::string &text = attrs.getString("steps");
  std::vector<std::string> steps;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    steps.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  for (const std::string &s : steps)
    if (s != "add" && s != "mul" && s != "relu")
      fail("", "unknown chain step '{}' (add, mul, relu)", s);
  return steps;
}

std::vector<TensorType> inferBoundResultTypes(Op op, std::span<const TensorType> in, const Attrs &attrs) {
  switch (op) {
  case Op::IbpAdd:
  case Op::IbpMul:
  case Op::IbpDiv:
    sameType(in[0], in[1], "interval ends");
    stepOperand(in[2], in[0].numElements());
    return interval(in[0]);
  case Op::IbpRelu:
    sameType(in[0], in[1], "interval ends");
    return interval(in[0]);
  case Op::IbpAct:
    activation(attrs, false, true);
    sameType(in[0], in[1], "interval ends");
    return interval(in[0]);
  case Op::IbpChain: {
    sameType(in[0], in[1], "interval ends");
    std::size_t operands = 2;
    for (const std::string &s : chainSteps(attrs))
      operands += s == "relu" ? 0 : 1;
    if (in.size() != operands)
      fail("", "the chain's steps read {} operands, got {}", operands - 2, in.size() - 2);
    for (std::size_t i = 2; i < in.size(); ++i)
      stepOperand(in[i], in[0].numElements());
    return interval(in[0]);
  }
  case Op::IbpIntersect:
    for (int i = 1; i < 4; ++i)
      sameType(in[0], in[i], "intervals");
    return interval(in[0]);
  case Op::IbpMatMul:
    if (in[0].shape != in[1].shape)
      fail("", "W+ {} and W- {} differ in shape", typeString(in[0]), typeString(in[1]));
    return product(in[0], in[2], in[3]);
  case Op::IbpMatMulPN:
    return product(in[0], in[1], in[2]);
  case Op::SplitSign:
    return {in[0], in[0]};
  case Op::Relax:
    activation(attrs, true, false);
    sameType(in[0], in[1], "interval ends");
    return {in[0], in[0], in[0], in[0]};
  case Op::LbIdentity: {
    std::int64_t n = attrs.getInt("size");
    if (n <= 0)
      fail("", "size {} is not positive", n);
    return {f64({2 * n, n}), f64({2 * n})};
  }
  case Op::LbAffine: {
    rows(in[0], in[1]);
    matrix(in[2], "W");
    std::int64_t m = in[2].shape[0], k = in[2].shape[1];
    if (in[0].shape[1] != m)
      fail("", "A {} does not multiply W {}", typeString(in[0]), typeString(in[2]));
    elements(in[3], k, "the interval of h");
    sameType(in[3], in[4], "interval ends");
    if (in.size() == 6)
      elements(in[5], m, "the bias");
    return {f64({in[0].shape[0], k}), in[1]};
  }
  case Op::LbRelax:
  case Op::LbRelaxPN: {
    std::size_t a = op == Op::LbRelax ? 2 : 1; // index of c
    rows(in[0], in[a]);
    if (op == Op::LbRelax)
      sameType(in[0], in[1], "A+ and A-");
    for (std::size_t i = a + 1; i < in.size(); ++i)
      elements(in[i], in[0].shape[1], "a line or interval operand");
    return {in[0], in[a]};
  }
  case Op::LbConcretize:
  case Op::LbConcretizePN: {
    std::size_t a = op == Op::LbConcretize ? 2 : 1;
    rows(in[0], in[a]);
    if (op == Op::LbConcretize)
      sameType(in[0], in[1], "A+ and A-");
    elements(in[a + 1], in[0].shape[1], "the interval");
    sameType(in[a + 1], in[a + 2], "interval ends");
    return {in[a]};
  }
  case Op::LbSettle: {
    rows(in[0], in[1]);
    if (in[0].shape[0] % 2 != 0)
      fail("", "lb.settle takes rows in [lower; upper] pairs, got {} rows", in[0].shape[0]);
    elements(in[2], in[0].shape[1], "the interval of z");
    sameType(in[2], in[3], "interval ends");
    matrix(in[4], "W");
    if (in[4].shape[0] != in[0].shape[1])
      fail("", "A {} does not multiply W {}", typeString(in[0]), typeString(in[4]));
    elements(in[5], in[4].shape[1], "the interval of h");
    sameType(in[5], in[6], "interval ends");
    if (in.size() == 8)
      elements(in[7], in[4].shape[0], "the bias");
    return {in[1]};
  }
  case Op::LbInterval:
    if (in[0].rank() != 1 || in[0].shape[0] % 2 != 0)
      fail("", "lower bounds of [I; -I] rows must be a vector of even length, got {}", typeString(in[0]));
    return {f64({in[0].shape[0] / 2}), f64({in[0].shape[0] / 2})};
  case Op::IbpNode: {
    NodeRule rule = nodeRule(attrs, 0, 2, in.size());
    return interval(nodeResult(rule, in, 2));
  }
  case Op::LbNode: {
    rows(in[0], in[1]);
    NodeRule rule = nodeRule(attrs, 2, 4, in.size());
    if (rule.numBounded > 2)
      fail("", "lb.node takes at most two distinct bounded operands, {} has {}", opKeyword(rule.op), rule.numBounded);
    std::vector<TensorType> types;
    TensorType y = nodeResult(rule, in, 4, &types);
    elements(in[0], in[0].shape[0] * y.numElements(), "A");
    std::int64_t R = in[0].shape[0], sizes[2] = {0, 0};
    for (std::size_t k = 0; k < rule.group.size(); ++k)
      if (rule.group[k] > 0)
        sizes[rule.group[k] - 1] = types[k].numElements();
    return {in[1], f64({R, sizes[0]}), f64({R, sizes[1]})};
  }
  case Op::LbMerge:
    sameType(in[0], in[1], "the two row sets");
    rows(in[0], in[2]);
    elements(in[3], in[0].shape[1], "the magnitude interval");
    sameType(in[3], in[4], "interval ends");
    return {in[0], in[2]};
  case Op::SpecRows: {
    rows(in[0], in[1]);
    elements(in[2], in[0].shape[1], "the output interval");
    sameType(in[2], in[3], "interval ends");
    return {f64({2 * in[0].shape[0], in[0].shape[1]}), f64({2 * in[0].shape[0]})};
  }
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#include "ir/ops.def"
    break;
  }
  fail("", "{} is not a bound-program op", opKeyword(op));
}

} // namespace gm
