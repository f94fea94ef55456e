#include "runtime/plan_write.h"

#include "codegen/aot.h"
#include "ir/constant.h"
#include "ir/error.h"
#include "runtime/plan_kernels.h"

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
  for (NodeId id = 0; id < program.numNodes(); ++id) {
    const Node &node = program.node(id);
    if (node.op == Op::IbpMatMulPN) {
      const Shape &w = program.type(node.operands[0]).shape;
      if (w.size() != 2)
        return std::nullopt;
      set.products.push_back({productKernelName(program, id), w[0], w[1]});
    } else if (node.op == Op::IbpChain) {
      std::optional<std::vector<ChainKernelStep>> steps = chainKernelSteps(program, id);
      if (!steps)
        return std::nullopt;
      codegen::IntervalChain chain{chainKernelName(program, id, *steps), {}};
      for (const ChainKernelStep &s : *steps) {
        bool add = s.kind == ChainKernelStep::Add;
        if (s.kind == ChainKernelStep::Relu)
          chain.steps.push_back({codegen::StepKind::Relu});
        else if (s.scalar)
          chain.steps.push_back({add ? codegen::StepKind::AddScalar : codegen::StepKind::MulScalar, s.value});
        else
          chain.steps.push_back({add ? codegen::StepKind::AddVector : codegen::StepKind::MulVector});
      }
      set.chains.push_back(std::move(chain));
    }
  }
  return set;
}

void compilePlanKernels(PlanFile &plan, const Graph &program, const codegen::TargetDesc &target) {
  std::optional<codegen::KernelSet> kernels = planKernels(program);
  if (!kernels)
    return;
  PlanHeader &h = plan.header;
  h.kernels = "object";
  h.chainKernels = static_cast<std::int64_t>(kernels->chains.size());
  h.productKernels = static_cast<std::int64_t>(kernels->products.size());
  plan.object = codegen::compileKernels(*kernels, target, codegen::AotFormat::Object);
}

} // namespace gm
