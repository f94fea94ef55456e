// Kernel specs to LLVM IR (codegen-internal: uses LLVM types).
//
// The kernels are written as explicit <lanes x double> vector code for the
// target, with scalar tails, rather than scalar loops left to the
// vectoriser: a floating-point sum only vectorises under reassociation, which
// gamma never grants (docs/SOUNDNESS.md, "JIT kernels"). Partial sums in lanes
// are written out instead, which the error term allows for.
#pragma once

#include "codegen/kernel_spec.h"
#include "codegen/target_desc.h"

#include <memory>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
} // namespace llvm

namespace gm::codegen {

// One external function per kernel, named by its spec. The module is verified.
std::unique_ptr<llvm::Module> emitKernels(llvm::LLVMContext &context, const KernelSet &kernels,
                                          const TargetDesc &target, llvm::TargetMachine &machine);

// The new pass manager's O3 pipeline, with the target's cost model.
void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine);

} // namespace gm::codegen
