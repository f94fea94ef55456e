#include "frontend/transformers/decoder_blocks.h"

#include "frontend/transformers/transformer_blocks.h"
#include "ir/error.h"

#include <cmath>

namespace gm::transformers {

namespace {

std::int64_t lastAxis(const Graph &g, ValueId x) { return static_cast<std::int64_t>(g.type(x).rank()) - 1; }

// x[..., begin:end] along the last axis.
ValueId sliceLast(Graph &g, ValueId x, std::int64_t begin, std::int64_t end, const std::string &name) {
  const Shape &s = g.type(x).shape;
  std::vector<std::int64_t> starts(s.size(), 0), ends(s.begin(), s.end()), steps(s.size(), 1);
  starts.back() = begin;
  ends.back() = end;
  Attrs a;
  a.set("starts", starts);
  a.set("ends", ends);
  a.set("steps", steps);
  return g.add1(Op::Slice, {x}, a, name);
}

ValueId tableConstant(Graph &g, std::int64_t tokens, std::int64_t headDim, const std::vector<double> &values,
                      const std::string &name) {
  return g.addConst(Constant::fromDoubles({DType::F32, {tokens, headDim}}, values), name);
}

} // namespace

ValueId rmsNorm(Graph &g, ValueId x, ValueId scale, double epsilon, const std::string &name) {
  Attrs a;
  a.set("axis", lastAxis(g, x));
  a.set("epsilon", epsilon);
  return g.add1(Op::RmsNorm, {x, scale}, a, name);
}

ValueId silu(Graph &g, ValueId x, const std::string &name) { return g.add1(Op::Silu, {x}, {}, name); }

RopeTables ropeTables(Graph &g, std::int64_t tokens, std::int64_t headDim, double base, const std::string &name) {
  GAMMA_ASSERT(headDim > 0 && headDim % 2 == 0 && tokens > 0, "RoPE needs an even head dimension");
  std::int64_t half = headDim / 2;
  std::vector<double> cosines(static_cast<std::size_t>(tokens * headDim)), sines(cosines.size());
  for (std::int64_t t = 0; t < tokens; ++t)
    for (std::int64_t i = 0; i < headDim; ++i) {
      double theta = std::pow(base, -2.0 * static_cast<double>(i % half) / static_cast<double>(headDim));
      double angle = static_cast<double>(t) * theta;
      cosines[t * headDim + i] = std::cos(angle);
      sines[t * headDim + i] = std::sin(angle);
    }
  ValueId c = tableConstant(g, tokens, headDim, cosines, name + ".cos");
  ValueId s = tableConstant(g, tokens, headDim, sines, name + ".sin");
  return {c, s};
}

ValueId ropeNeox(Graph &g, ValueId x, const RopeTables &tables, const std::string &name) {
  std::int64_t dim = g.type(x).shape.back(), half = dim / 2;
  GAMMA_ASSERT(dim % 2 == 0, "RoPE needs an even head dimension");
  ValueId first = sliceLast(g, x, 0, half, name + ".first_half");
  ValueId second = sliceLast(g, x, half, dim, name + ".second_half");
  ValueId negated = g.add1(Op::Neg, {second}, {}, name + ".neg_second_half");
  Attrs lastAxisAttr;
  lastAxisAttr.set("axis", lastAxis(g, x));
  ValueId rotated = g.add1(Op::Concat, {negated, first}, lastAxisAttr, name + ".rotate_half");
  ValueId cosPart = g.add1(Op::Mul, {x, tables.cos}, {}, name + ".mul_cos");
  ValueId sinPart = g.add1(Op::Mul, {rotated, tables.sin}, {}, name + ".mul_sin");
  return g.add1(Op::Add, {cosPart, sinPart}, {}, name);
}

ValueId causalMask(Graph &g, std::int64_t tokens, const std::string &name) {
  std::vector<double> mask(static_cast<std::size_t>(tokens * tokens), 0.0);
  for (std::int64_t query = 0; query < tokens; ++query)
    for (std::int64_t key = query + 1; key < tokens; ++key)
      mask[query * tokens + key] = kMaskedScore;
  return g.addConst(Constant::fromDoubles({DType::F32, {tokens, tokens}}, mask), name);
}

} // namespace gm::transformers
