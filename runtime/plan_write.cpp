#include "runtime/plan_write.h"

#include "ir/constant.h"
#include "ir/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

namespace gm {

namespace {

void putU32(std::string &out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putU64(std::string &out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putBlock(std::string &out, std::string_view bytes) {
  putU64(out, bytes.size());
  out.append(bytes);
}

} // namespace

// The sections in the order planHeaderText lists them.
std::string serializePlan(const PlanFile &plan) {
  std::string out(kPlanMagic);
  putU32(out, kPlanFormatVersion);
  putBlock(out, planHeaderText(plan.header));
  putBlock(out, plan.boundIr);
  putBlock(out, plan.object);
  return out;
}

void writePlan(const std::string &path, const PlanFile &plan) {
  std::string bytes = serializePlan(plan);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) || !out.flush())
    fail(path, "cannot write the plan");
}

std::optional<codegen::KernelSet> planKernels(const Graph &program) {
  codegen::KernelSet set;
  for (std::size_t id = 0; id < program.nodes().size(); ++id) {
    const Node &node = program.nodes()[id];
    if (node.op == Op::IbpMatMulPN) {
      const Shape &w = program.type(node.operands[0]).shape;
      if (w.size() != 2)
        return std::nullopt;
      set.products.push_back({fmt::format("pn{}", id), w[0], w[1]});
    } else if (node.op == Op::IbpChain) {
      codegen::IntervalChain chain{fmt::format("chain{}", id), {}};
      std::int64_t n = program.type(node.operands[0]).numElements();
      std::size_t operand = 2;
      std::string_view steps = node.attrs.getString("steps");
      while (!steps.empty()) {
        std::string_view step = steps.substr(0, steps.find(','));
        steps.remove_prefix(std::min(steps.size(), step.size() + 1));
        if (step == "relu") {
          chain.steps.push_back({codegen::StepKind::Relu});
          continue;
        }
        if (operand >= node.operands.size())
          return std::nullopt;
        ValueId v = node.operands[operand++];
        std::int64_t count = program.type(v).numElements();
        const Node &def = program.definingNode(v);
        bool add = step == "add";
        if (count == 1 && def.op == Op::Const)
          chain.steps.push_back({add ? codegen::StepKind::AddScalar : codegen::StepKind::MulScalar, def.constant->at(0)});
        else if (count == n)
          chain.steps.push_back({add ? codegen::StepKind::AddVector : codegen::StepKind::MulVector});
        else
          return std::nullopt;
      }
      set.chains.push_back(std::move(chain));
    }
  }
  return set;
}

} // namespace gm
