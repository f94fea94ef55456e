#include "runtime/plan_kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace gm {

std::optional<std::vector<ChainKernelStep>> chainKernelSteps(const Graph &program, NodeId id) {
  const Node &node = program.node(id);
  std::int64_t n = program.type(node.operands[0]).numElements();
  std::size_t operand = 2;
  std::vector<ChainKernelStep> out;
  std::string_view steps = node.attrs.getString("steps");
  while (!steps.empty()) {
    std::string_view step = steps.substr(0, steps.find(','));
    steps.remove_prefix(std::min(steps.size(), step.size() + 1));
    if (step == "relu") {
      out.push_back({ChainKernelStep::Relu});
      continue;
    }
    if (operand >= node.operands.size() || (step != "add" && step != "mul"))
      return std::nullopt;
    ChainKernelStep s{step == "add" ? ChainKernelStep::Add : ChainKernelStep::Mul};
    s.operand = node.operands[operand++];
    std::int64_t count = program.type(s.operand).numElements();
    const Node &def = program.definingNode(s.operand);
    if (count == 1 && def.op == Op::Const) {
      s.scalar = true;
      s.value = def.constant->at(0);
    } else if (count != n) {
      return std::nullopt;
    }
    out.push_back(s);
  }
  if (operand != node.operands.size())
    return std::nullopt;
  return out;
}

std::string chainKernelName(const Graph &program, NodeId id, const std::vector<ChainKernelStep> &steps) {
  std::string name = fmt::format("chain{}.", id);
  for (const ChainKernelStep &s : steps)
    name += s.kind == ChainKernelStep::Relu
                ? "r"
                : fmt::format("{}{}", s.kind == ChainKernelStep::Add ? 'a' : 'm',
                              s.scalar ? fmt::format("s{:a}", s.value) : "v"); // the baked constant, exactly
  return name + fmt::format(".{}", program.type(program.node(id).operands[0]).numElements());
}

std::string productKernelName(const Graph &program, NodeId id) {
  const Shape &w = program.type(program.node(id).operands[0]).shape;
  return w.size() == 2 ? fmt::format("pn{}.{}x{}", id, w[0], w[1]) : fmt::format("pn{}", id);
}

} // namespace gm
