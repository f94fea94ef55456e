#include "ir/graph.h"

#include "ir/error.h"

#include <fmt/format.h>

namespace gm {

std::vector<ValueId> Graph::addUnchecked(Node node, std::span<const TensorType> resultTypes) {
  NodeId id = static_cast<NodeId>(nodes_.size());
  node.results.clear();
  for (std::size_t i = 0; i < resultTypes.size(); ++i) {
    node.results.push_back(static_cast<ValueId>(values_.size()));
    values_.push_back(Value{resultTypes[i], id, static_cast<std::uint32_t>(i)});
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().results;
}

ValueId Graph::addInput(const std::string &inputName, TensorType type, std::string nodeName) {
  numElements(type.shape); // rejects hostile shapes before anyone allocates
  Node node;
  node.op = Op::Input;
  node.attrs.set("name", inputName);
  node.name = std::move(nodeName);
  TensorType types[] = {std::move(type)};
  return addUnchecked(std::move(node), types)[0];
}

ValueId Graph::addConst(std::shared_ptr<const Constant> constant, std::string nodeName) {
  GAMMA_ASSERT(constant != nullptr, "addConst without a constant");
  Node node;
  node.op = Op::Const;
  node.name = std::move(nodeName);
  TensorType types[] = {constant->type()};
  node.constant = std::move(constant);
  return addUnchecked(std::move(node), types)[0];
}

std::vector<ValueId> Graph::add(Op op, std::vector<ValueId> operands, Attrs attrs, std::string nodeName) {
  GAMMA_ASSERT(op != Op::Input && op != Op::Const, "use addInput/addConst for sources");
  std::vector<TensorType> operandTypes;
  operandTypes.reserve(operands.size());
  for (ValueId v : operands) {
    GAMMA_ASSERT(v < values_.size(), "operand id out of range");
    operandTypes.push_back(values_[v].type);
  }
  std::vector<TensorType> resultTypes = inferResultTypes(op, operandTypes, attrs);
  Node node;
  node.op = op;
  node.operands = std::move(operands);
  node.attrs = std::move(attrs);
  node.name = std::move(nodeName);
  return addUnchecked(std::move(node), resultTypes);
}

ValueId Graph::add1(Op op, std::vector<ValueId> operands, Attrs attrs, std::string nodeName) {
  std::vector<ValueId> results = add(op, std::move(operands), std::move(attrs), std::move(nodeName));
  GAMMA_ASSERT(results.size() == 1, "add1 on an op with several results");
  return results[0];
}

std::vector<ValueId> Graph::inputs() const {
  std::vector<ValueId> ids;
  for (const Node &node : nodes_)
    if (node.op == Op::Input)
      ids.push_back(node.results[0]);
  return ids;
}

std::string Graph::describe(NodeId id) const {
  const Node &n = nodes_[id];
  if (!n.name.empty())
    return fmt::format("node '{}' ({})", n.name, opKeyword(n.op));
  return fmt::format("node #{} ({})", id, opKeyword(n.op));
}

} // namespace gm
