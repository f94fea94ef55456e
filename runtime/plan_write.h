// Writing plans, for gammac: the kernels a bound program's fused ops become,
// and the bytes of the file runtime/plan_file.h describes. A library of its
// own, so that gamma-run (which only reads plans) links no writer and no
// codegen.
#pragma once

#include "codegen/kernel_spec.h"
#include "codegen/target_desc.h"
#include "ir/graph.h"
#include "runtime/plan_file.h"

#include <optional>
#include <string>

namespace gm {

std::string serializePlan(const PlanFile &plan);
void writePlan(const std::string &path, const PlanFile &plan);

// The codegen kernels of the program's fused ops: an IntervalChain per
// ibp.chain, a PosNegProduct (shape baked in) per ibp.matmul_pn, named as
// runtime/plan_kernels.h says. Empty when some operand is not what a kernel
// takes (a run-time scalar, a broadcast): the plan is then interpreted.
std::optional<codegen::KernelSet> planKernels(const Graph &program);

// Compiles planKernels(program) for `target` into plan.object and records
// them in the header (kernels "object"); leaves an interpreted plan when
// planKernels has none to offer.
void compilePlanKernels(PlanFile &plan, const Graph &program, const codegen::TargetDesc &target);

} // namespace gm
