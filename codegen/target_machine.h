// LLVM's view of a TargetDesc (codegen-internal: includes LLVM).
#pragma once

#include "codegen/target_desc.h"

#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <memory>

namespace gm::codegen {

// Registers every backend once (the cross targets too: aarch64 code is
// emitted and checked on x86 machines).
void initializeLlvmTargets();

// Options every kernel is compiled with: no fast-math, and no fusion of a
// separate multiply and add into an fma (only fmas the emitter writes itself).
llvm::TargetOptions kernelTargetOptions();

// Position-independent, optimised for speed.
std::unique_ptr<llvm::TargetMachine> createTargetMachine(const TargetDesc &target);

} // namespace gm::codegen
