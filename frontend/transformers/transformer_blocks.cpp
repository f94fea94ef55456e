#include "frontend/transformers/transformer_blocks.h"

#include "ir/error.h"

#include <cmath>

namespace gm::transformers {

namespace {

Attrs attrs(std::initializer_list<std::pair<const char *, AttrValue>> entries) {
  Attrs a;
  for (const auto &[key, value] : entries)
    a.set(key, value);
  return a;
}

std::int64_t lastAxis(const Graph &g, ValueId x) { return static_cast<std::int64_t>(g.type(x).rank()) - 1; }

} // namespace

ValueId scalarConstant(Graph &g, double value, const std::string &name) {
  return g.addConst(Constant::fromDoubles({DType::F32, {}}, std::span(&value, 1)), name);
}

ValueId linear(Graph &g, ValueId x, ValueId weight, std::optional<ValueId> bias, const std::string &name) {
  GAMMA_ASSERT(g.type(weight).rank() == 2, "linear weight must be [out, in]");
  ValueId weightT =
      g.add1(Op::Transpose, {weight}, attrs({{"perm", std::vector<std::int64_t>{1, 0}}}), name + ".weight_t");
  ValueId y = g.add1(Op::MatMul, {x, weightT}, {}, name);
  return bias ? g.add1(Op::Add, {y, *bias}, {}, name + ".add_bias") : y;
}

ValueId layerNorm(Graph &g, ValueId x, ValueId scale, std::optional<ValueId> bias, double epsilon,
                  const std::string &name) {
  std::vector<ValueId> operands = {x, scale};
  if (bias)
    operands.push_back(*bias);
  return g.add1(Op::LayerNorm, operands, attrs({{"axis", lastAxis(g, x)}, {"epsilon", epsilon}}), name);
}

ValueId geluErf(Graph &g, ValueId x, const std::string &name) { return g.add1(Op::Gelu, {x}, {}, name); }

ValueId splitHeads(Graph &g, ValueId x, std::int64_t heads, const std::string &name) {
  const Shape &s = g.type(x).shape;
  GAMMA_ASSERT(s.size() == 3 && heads > 0 && s[2] % heads == 0, "splitHeads expects [B, T, H*D]");
  Shape split = {s[0], s[1], heads, s[2] / heads};
  ValueId r = g.add1(Op::Reshape, {x}, attrs({{"shape", split}}), name + ".split");
  return g.add1(Op::Transpose, {r}, attrs({{"perm", std::vector<std::int64_t>{0, 2, 1, 3}}}), name + ".heads");
}

ValueId mergeHeads(Graph &g, ValueId x, const std::string &name) {
  const Shape s = g.type(x).shape; // a copy: adding nodes below may move the graph's values
  GAMMA_ASSERT(s.size() == 4, "mergeHeads expects [B, H, T, D]");
  ValueId t = g.add1(Op::Transpose, {x}, attrs({{"perm", std::vector<std::int64_t>{0, 2, 1, 3}}}), name + ".tokens");
  return g.add1(Op::Reshape, {t}, attrs({{"shape", Shape{s[0], s[2], s[1] * s[3]}}}), name + ".merge");
}

ValueId attention(Graph &g, ValueId q, ValueId k, ValueId v, std::optional<ValueId> mask, const std::string &name) {
  const Shape qs = g.type(q).shape, ks = g.type(k).shape;
  GAMMA_ASSERT(qs.size() == 4 && ks.size() == 4 && g.type(v).shape == ks && qs[0] == ks[0] && qs[3] == ks[3] &&
                   ks[1] > 0 && qs[1] % ks[1] == 0,
               "attention expects q [B,H,T,D], k and v [B,Hkv,S,D] with Hkv dividing H");
  std::int64_t b = qs[0], heads = qs[1], t = qs[2], d = qs[3], kvHeads = ks[1], s = ks[2];
  std::int64_t group = heads / kvHeads;
  ValueId kT = g.add1(Op::Transpose, {k}, attrs({{"perm", std::vector<std::int64_t>{0, 1, 3, 2}}}), name + ".k_t");
  auto reshape = [&](ValueId x, Shape shape, const char *part) {
    return g.add1(Op::Reshape, {x}, attrs({{"shape", std::move(shape)}}), name + part);
  };

  // Grouped heads share keys and values through matmul's batch broadcasting
  // ([B,Hkv,G,T,D] × [B,Hkv,1,D,S]) instead of repeating k and v G times.
  ValueId scores;
  if (group == 1) {
    scores = g.add1(Op::MatMul, {q, kT}, {}, name + ".scores");
  } else {
    ValueId qg = reshape(q, {b, kvHeads, group, t, d}, ".q_groups");
    ValueId kg = reshape(kT, {b, kvHeads, 1, d, s}, ".k_groups");
    scores = reshape(g.add1(Op::MatMul, {qg, kg}, {}, name + ".scores"), {b, heads, t, s}, ".scores_heads");
  }
  if (mask)
    scores = g.add1(Op::Add, {scores, *mask}, {}, name + ".mask");
  ValueId probs = g.add1(Op::Softmax, {scores}, attrs({{"axis", std::int64_t(3)}}), name + ".softmax");
  if (group == 1)
    return g.add1(Op::MatMul, {probs, v}, {}, name + ".context");
  ValueId pg = reshape(probs, {b, kvHeads, group, t, s}, ".p_groups");
  ValueId vg = reshape(v, {b, kvHeads, 1, s, d}, ".v_groups");
  return reshape(g.add1(Op::MatMul, {pg, vg}, {}, name + ".context"), {b, heads, t, d}, ".context_heads");
}

} // namespace gm::transformers
