// The rules behind the bound program's ibp.node and lb.node (ir/ops.def): the
// network node is rebuilt as a one-node graph from the bound node's attributes
// and operands and given to the same ibpNode and backward step the direct
// methods use, so a lowered program and the direct engine compute every
// number the same way (docs/IR.md, "Bound programs").
#include "bounds/bounds.h"
#include "bounds/engine.h"
#include "ir/bound_type_rules.h"
#include "ir/error.h"

#include <fmt/format.h>

namespace gm::bounds {

namespace {

struct OneNode {
  Graph graph;
  NodeId node = 0;
  std::vector<ValueId> bounded; // the graph value of each distinct bounded operand
};

OneNode oneNode(const NodeRule &rule, std::span<const ref::Tensor> in) {
  OneNode m;
  std::vector<ValueId> operands;
  for (std::size_t k = 0; k < rule.group.size(); ++k) {
    const ref::Tensor &t = in[rule.at[k]];
    std::int64_t g = rule.group[k];
    if (g == 0) {
      // gather's indices are the one integer operand a bound rule reads.
      DType dtype = rule.op == Op::Gather && k == 1 ? DType::I64 : DType::F64;
      operands.push_back(m.graph.addConst(Constant::fromDoubles(TensorType{dtype, t.shape}, t.data)));
    } else if (g > static_cast<std::int64_t>(m.bounded.size())) {
      m.bounded.push_back(m.graph.addInput(fmt::format("x{}", g), TensorType{DType::F64, t.shape}));
      operands.push_back(m.bounded.back());
    } else {
      operands.push_back(m.bounded[static_cast<std::size_t>(g - 1)]);
    }
  }
  ValueId y = m.graph.add1(rule.op, operands, rule.attrs);
  m.graph.setOutputs({y});
  m.node = static_cast<NodeId>(m.graph.numNodes() - 1);
  return m;
}

Interval intervalAt(std::span<const ref::Tensor> in, std::size_t k) { return {in[k].data, in[k + 1].data}; }

std::vector<ref::Tensor> ibp(const Attrs &attrs, std::span<const ref::Tensor> in) {
  NodeRule rule = nodeRule(attrs, 0, 2, in.size());
  OneNode m = oneNode(rule, in);
  GraphInfo info(m.graph, -1, /*oneInput=*/false);
  if (attrs.getInt("simplex", 0) == 1)
    info.simplexRows[m.graph.node(m.node).operands[0]] = true;
  std::vector<Interval> intervals(m.graph.numValues());
  for (std::size_t k = 0; k < rule.group.size(); ++k)
    if (rule.group[k] > 0)
      intervals[m.bounded[static_cast<std::size_t>(rule.group[k] - 1)]] = intervalAt(in, rule.at[k]);
  Interval y = ibpNode(info, m.node, intervals);
  const Shape &shape = m.graph.type(m.graph.outputs()[0]).shape;
  return {{shape, std::move(y.lo)}, {shape, std::move(y.hi)}};
}

std::vector<ref::Tensor> backwardRule(const Attrs &attrs, std::span<const ref::Tensor> in) {
  NodeRule rule = nodeRule(attrs, 2, 4, in.size());
  OneNode m = oneNode(rule, in);
  GraphInfo info(m.graph, -1, /*oneInput=*/false);
  std::vector<Interval> used(m.graph.numValues()), magnitudes(m.graph.numValues());
  for (std::size_t k = 0; k < rule.group.size(); ++k)
    if (rule.group[k] > 0) {
      ValueId v = m.bounded[static_cast<std::size_t>(rule.group[k] - 1)];
      used[v] = intervalAt(in, rule.at[k]);
      magnitudes[v] = intervalAt(in, rule.at[k] + 2);
    }
  Box none;
  BackwardInputs inputs{info, none, used, magnitudes};
  std::int64_t R = in[0].shape[0];
  StepRows s = backwardStep(inputs, m.node, static_cast<std::size_t>(R), in[0].data, in[1].data);
  std::vector<ref::Tensor> out{{Shape{R}, std::move(s.c)}};
  for (std::size_t j = 0; j < 2; ++j) {
    std::int64_t n = j < m.bounded.size() ? m.graph.type(m.bounded[j]).numElements() : 0;
    out.push_back({Shape{R, n}, j < s.A.size() ? std::move(s.A[j]) : std::vector<double>()});
  }
  return out;
}

std::vector<ref::Tensor> programRule(Op op, const Attrs &attrs, std::span<const ref::Tensor> in) {
  if (op == Op::IbpNode)
    return ibp(attrs, in);
  GAMMA_ASSERT(op == Op::LbNode, "program rule for another op");
  return backwardRule(attrs, in);
}

} // namespace

void registerProgramRules() { ref::setNodeRuleKernel(programRule); }

} // namespace gm::bounds
