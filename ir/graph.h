// The IR: a tensor dataflow graph in SSA form.
//
// Values are indices (ValueId) into Graph::values; nodes are plain structs in
// program order, each defining its results. Every value has exactly one
// defining node, sources included (Input and Const are nodes), so "defined
// before use" is the whole dominance rule. No pointers between nodes: passes
// rewrite by building new node lists, and ids stay cheap to copy.
#pragma once

#include "ir/attrs.h"
#include "ir/constant.h"
#include "ir/op.h"
#include "ir/shape.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gm {

using ValueId = std::uint32_t;
using NodeId = std::uint32_t;
constexpr ValueId kNoValue = ~ValueId(0);

struct Value {
  TensorType type;
  NodeId def = 0;           // the node that defines it
  std::uint32_t result = 0; // which of that node's results
};

struct Node {
  Op op = Op::Input;
  std::vector<ValueId> operands;
  std::vector<ValueId> results;
  Attrs attrs;
  std::shared_ptr<const Constant> constant; // Const only
  std::string name;                         // where it came from (ONNX node name), for messages
};

class Graph {
public:
  std::string name = "main";

  // Builders. add() infers result types from the operand types and attributes
  // by the op's type rule and throws InputError if they do not fit, so an
  // importer can never build an ill-typed graph.
  ValueId addInput(const std::string &inputName, TensorType type, std::string nodeName = {});
  ValueId addConst(std::shared_ptr<const Constant> constant, std::string nodeName = {});
  std::vector<ValueId> add(Op op, std::vector<ValueId> operands, Attrs attrs = {}, std::string nodeName = {});
  ValueId add1(Op op, std::vector<ValueId> operands, Attrs attrs = {}, std::string nodeName = {});
  // Appends a node with the given result types, unchecked (the parser uses it;
  // the verifier checks afterwards).
  std::vector<ValueId> addUnchecked(Node node, std::span<const TensorType> resultTypes);

  const Value &value(ValueId id) const { return values_[id]; }
  const TensorType &type(ValueId id) const { return values_[id].type; }
  const Node &node(NodeId id) const { return nodes_[id]; }
  const Node &definingNode(ValueId id) const { return nodes_[values_[id].def]; }
  std::size_t numValues() const { return values_.size(); }
  std::size_t numNodes() const { return nodes_.size(); }
  const std::vector<Node> &nodes() const { return nodes_; }

  // Input values in declaration order (results of Input nodes).
  std::vector<ValueId> inputs() const;
  const std::vector<ValueId> &outputs() const { return outputs_; }
  void setOutputs(std::vector<ValueId> outputs) { outputs_ = std::move(outputs); }

  // "node 'Conv_3' (conv)" or "node #12 (conv)": how messages name a node.
  std::string describe(NodeId id) const;

private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<ValueId> outputs_;
};

// The type rule of each op: result types from operand types and attributes.
// Throws InputError naming the problem (not the node; callers add that).
std::vector<TensorType> inferResultTypes(Op op, std::span<const TensorType> operands, const Attrs &attrs);

} // namespace gm
