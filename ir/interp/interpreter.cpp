// The reference interpreter: graph walk and per-op dispatch. The kernels live
// in kernels_*.cpp, grouped by op family.
#include "ir/interp/interpreter.h"

#include "ir/error.h"
#include "ir/interp/kernels.h"
#include "ir/linear_weights.h"

#include <cmath>
#include <fmt/format.h>
#include <optional>

namespace gm::ref {

Tensor Tensor::fromConstant(const Constant &constant) {
  Tensor t;
  t.shape = constant.type().shape;
  t.data = constant.toDoubles();
  GAMMA_ASSERT(static_cast<std::int64_t>(t.data.size()) == numElements(t.shape),
               "constant payload does not match its type");
  return t;
}

namespace {

Tensor evaluateSingle(Op op, const Attrs &attrs, std::span<const Tensor> in, bool integerResult) {
  namespace k = kernels;
  // Arity is checked by evaluateOp before this switch. No `default:`: a new op
  // in ops.def that is not handled here fails to compile (-Werror=switch).
  switch (op) {
  case Op::Input:
  case Op::Const:
    GAMMA_ASSERT(false, "evaluateOp on a source node (input/const are handled by evaluate)");
    return {};
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
    return k::unary(op, in[0]);
  case Op::Add:
  case Op::Sub:
  case Op::Mul:
  case Op::Div:
  case Op::Pow:
    return k::binary(op, in[0], in[1], integerResult);
  case Op::MatMul:
    return k::matmul(in[0], in[1]);
  case Op::Conv:
    return k::conv(attrs, in);
  case Op::BatchNorm:
    return k::batchNorm(attrs, in);
  case Op::MaxPool:
    return k::maxPool(attrs, in[0]);
  case Op::AveragePool:
    return k::averagePool(attrs, in[0]);
  case Op::Softmax:
    return k::softmax(attrs, in[0]);
  case Op::LayerNorm:
    return k::layerNorm(attrs, in);
  case Op::RmsNorm:
    return k::rmsNorm(attrs, in);
  case Op::ReduceMean:
  case Op::ReduceSum:
    return k::reduce(op, attrs, in[0]);
  case Op::Reshape:
    return k::reshape(attrs, in[0]);
  case Op::Transpose:
    return k::transpose(attrs, in[0]);
  case Op::Concat:
    return k::concat(attrs, in);
  case Op::Slice:
    return k::slice(attrs, in[0]);
  case Op::Gather:
    return k::gather(attrs, in[0], in[1]);
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#include "ir/ops.def"
    GAMMA_ASSERT(false, "bound-program ops have several results: evaluateOp runs them");
    return {};
  }
  GAMMA_ASSERT(false, "unknown op");
  return {};
}

std::string inputName(const Node &node) {
  if (const AttrValue *v = node.attrs.find("name"))
    if (const auto *s = std::get_if<std::string>(v))
      return *s;
  return node.name;
}

} // namespace

std::vector<Tensor> evaluateOp(Op op, const Attrs &attrs, std::span<const Tensor> operands,
                               std::span<const TensorType> resultTypes) {
  const OpInfo &info = opInfo(op);
  int n = static_cast<int>(operands.size());
  if (n < info.minOperands || (info.maxOperands != kVariadic && n > info.maxOperands))
    fail("", "{} takes {} operands, got {}", info.keyword,
         info.maxOperands == kVariadic            ? fmt::format("at least {}", info.minOperands)
         : info.minOperands == info.maxOperands ? fmt::format("{}", info.minOperands)
                                                : fmt::format("{} to {}", info.minOperands, info.maxOperands),
         n);
  for (const Tensor &t : operands)
    if (static_cast<std::int64_t>(t.data.size()) != numElements(t.shape))
      fail("", "{} operand has {} elements for shape {}", info.keyword, t.data.size(), shapeString(t.shape));
  GAMMA_ASSERT(resultTypes.empty() || static_cast<int>(resultTypes.size()) == info.numResults,
               fmt::format("{}: {} result types for {} results", info.keyword, resultTypes.size(),
                           info.numResults));

  bool integerResult = !resultTypes.empty() && isInteger(resultTypes[0].dtype);
  std::vector<Tensor> results;
  if (hasTrait(op, OpTrait::Bound))
    results = kernels::boundOp(op, attrs, operands, resultTypes);
  else
    results.push_back(evaluateSingle(op, attrs, operands, integerResult));

  for (std::size_t i = 0; i < results.size() && i < resultTypes.size(); ++i) {
    GAMMA_ASSERT(results[i].shape == resultTypes[i].shape,
                 fmt::format("{}: interpreter computed shape {} but the type rule says {}", info.keyword,
                             shapeString(results[i].shape), shapeString(resultTypes[i].shape)));
    // Results of integer dtype are rounded toward zero (integer div truncates).
    if (isInteger(resultTypes[i].dtype))
      for (double &v : results[i].data)
        v = std::trunc(v);
  }
  return results;
}

std::vector<Tensor> evaluate(const Graph &graph, std::span<const Tensor> inputs) {
  std::vector<ValueId> inputIds = graph.inputs();
  if (inputs.size() != inputIds.size())
    fail("", "graph '{}' takes {} input{}, got {}", graph.name, inputIds.size(), inputIds.size() == 1 ? "" : "s",
         inputs.size());

  std::vector<std::optional<Tensor>> values(graph.numValues());
  // Linear weights are read row by row; every value is dropped after its last
  // use, so a large model never has more than a layer's values alive.
  LinearWeights linear = findLinearWeights(graph, 0);
  std::vector<NodeId> lastUse(graph.numValues(), 0);
  std::vector<bool> isOutput(graph.numValues(), false);
  for (NodeId id = 0; id < graph.numNodes(); ++id)
    for (ValueId v : graph.node(id).operands)
      lastUse[v] = id;
  for (ValueId v : graph.outputs())
    isOutput[v] = true;
  std::size_t nextInput = 0;
  std::vector<Tensor> operands;
  std::vector<TensorType> resultTypes;
  for (NodeId id = 0; id < graph.numNodes(); ++id) {
    const Node &node = graph.node(id);
    if (node.op == Op::Input) {
      const Tensor &given = inputs[nextInput];
      const TensorType &type = graph.type(node.results[0]);
      if (given.shape != type.shape)
        fail("", "input {} '{}' expects shape {}, got {}", nextInput, inputName(node), shapeString(type.shape),
             shapeString(given.shape));
      if (static_cast<std::int64_t>(given.data.size()) != type.numElements())
        fail("", "input {} '{}' of shape {} has {} values, expected {}", nextInput, inputName(node),
             shapeString(type.shape), given.data.size(), type.numElements());
      values[node.results[0]] = given;
      ++nextInput;
      continue;
    }
    if (node.op == Op::Const) {
      GAMMA_ASSERT(node.constant != nullptr, fmt::format("{} has no payload", graph.describe(id)));
      if (!linear.unused[node.results[0]] || isOutput[node.results[0]])
        values[node.results[0]] = Tensor::fromConstant(*node.constant);
      continue;
    }
    if (linear.unused[node.results[0]] && !isOutput[node.results[0]])
      continue; // a weight's transpose that only row-reading matmuls use
    if (node.op == Op::MatMul && linear.rows[node.operands[1]] && !values[node.operands[1]]) {
      try {
        values[node.results[0]] = kernels::linearRows(*values[node.operands[0]], *linear.rows[node.operands[1]]);
      } catch (const InputError &e) {
        fail("", "{}: {}", graph.describe(id), e.what());
      }
      for (ValueId v : node.operands)
        if (lastUse[v] == id && !isOutput[v])
          values[v].reset();
      continue;
    }
    operands.clear();
    for (ValueId v : node.operands) {
      GAMMA_ASSERT(v < values.size() && values[v].has_value(),
                   fmt::format("{} uses a value before its definition", graph.describe(id)));
      operands.push_back(*values[v]);
    }
    resultTypes.clear();
    for (ValueId v : node.results)
      resultTypes.push_back(graph.type(v));
    std::vector<Tensor> results;
    try {
      results = evaluateOp(node.op, node.attrs, operands, resultTypes);
    } catch (const InputError &e) {
      fail("", "{}: {}", graph.describe(id), e.what());
    }
    GAMMA_ASSERT(results.size() == node.results.size(), "result count differs from the node's");
    for (std::size_t i = 0; i < results.size(); ++i)
      values[node.results[i]] = std::move(results[i]);
    for (ValueId v : node.operands)
      if (lastUse[v] == id && !isOutput[v])
        values[v].reset();
  }

  std::vector<Tensor> outputs;
  for (ValueId v : graph.outputs()) {
    GAMMA_ASSERT(v < values.size() && values[v].has_value(), "graph output is not defined");
    outputs.push_back(*values[v]);
  }
  return outputs;
}

} // namespace gm::ref
