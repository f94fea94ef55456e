#include "ir/verifier.h"

#include "ir/error.h"

#include <fmt/format.h>

namespace gm {

namespace {

void checkNode(const Graph &graph, NodeId id) {
  const Node &node = graph.node(id);
  for (ValueId v : node.operands) {
    if (v >= graph.numValues())
      fail("", "operand %{} does not exist", v);
    if (graph.value(v).def >= id)
      fail("", "operand %{} is used before it is defined", v);
  }
  for (std::size_t i = 0; i < node.results.size(); ++i) {
    ValueId v = node.results[i];
    if (v >= graph.numValues() || graph.value(v).def != id || graph.value(v).result != i)
      fail("", "result {} is not defined by this node", i);
  }
  if (static_cast<int>(node.results.size()) != opInfo(node.op).numResults)
    fail("", "has {} results, expected {}", node.results.size(), opInfo(node.op).numResults);
  if (node.op == Op::Input) {
    node.attrs.getString("name");
    numElements(graph.type(node.results[0]).shape);
    return;
  }
  if (node.op == Op::Const) {
    if (!node.constant)
      fail("", "const without a value");
    if (!(node.constant->type() == graph.type(node.results[0])))
      fail("", "const value is {} but the result is declared {}", typeString(node.constant->type()),
           typeString(graph.type(node.results[0])));
    return;
  }
  if (node.constant)
    fail("", "only const carries a value");
  std::vector<TensorType> operandTypes;
  for (ValueId v : node.operands)
    operandTypes.push_back(graph.type(v));
  std::vector<TensorType> expected = inferResultTypes(node.op, operandTypes, node.attrs);
  for (std::size_t i = 0; i < expected.size(); ++i)
    if (!(expected[i] == graph.type(node.results[i])))
      fail("", "result {} is declared {} but the op gives {}", i, typeString(graph.type(node.results[i])),
           typeString(expected[i]));
}

} // namespace

void verify(const Graph &graph, const std::string &where) {
  for (NodeId id = 0; id < graph.numNodes(); ++id) {
    try {
      checkNode(graph, id);
    } catch (const InputError &e) {
      fail(where, "{}: {}", graph.describe(id), e.what());
    }
  }
  if (graph.outputs().empty())
    fail(where, "graph has no outputs");
  for (ValueId v : graph.outputs())
    if (v >= graph.numValues())
      fail(where, "output %{} does not exist", v);
}

} // namespace gm
