#include "codegen/target_machine.h"

#include "ir/error.h"

#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>

#include <mutex>

namespace gm::codegen {

void initializeLlvmTargets() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
  });
}

llvm::TargetOptions kernelTargetOptions() {
  llvm::TargetOptions options;
  options.AllowFPOpFusion = llvm::FPOpFusion::Strict;
  options.UnsafeFPMath = false;
  options.NoInfsFPMath = false;
  options.NoNaNsFPMath = false;
  options.NoSignedZerosFPMath = false;
  options.ApproxFuncFPMath = false;
  return options;
}

std::unique_ptr<llvm::TargetMachine> createTargetMachine(const TargetDesc &target) {
  initializeLlvmTargets();
  std::string error;
  const llvm::Target *backend = llvm::TargetRegistry::lookupTarget(target.triple, error);
  if (!backend)
    fail("--target", "no LLVM backend for '{}' ({}): {}", target.name, target.triple, error);
  std::unique_ptr<llvm::TargetMachine> machine(
      backend->createTargetMachine(target.triple, target.cpu, target.features, kernelTargetOptions(),
                                   llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    fail("--target", "LLVM cannot create a target machine for '{}' ({}, cpu {})", target.name, target.triple,
         target.cpu);
  return machine;
}

} // namespace gm::codegen
