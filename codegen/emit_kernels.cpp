#include "codegen/emit_kernels.h"

#include "codegen/emit_ir.h"
#include "ir/error.h"

#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <set>
#include <string>

namespace gm::codegen {

std::unique_ptr<llvm::Module> emitKernels(llvm::LLVMContext &context, const KernelSet &kernels,
                                          const TargetDesc &target, llvm::TargetMachine &machine) {
  auto module = std::make_unique<llvm::Module>("gamma_kernels", context);
  module->setTargetTriple(machine.getTargetTriple().str());
  module->setDataLayout(machine.createDataLayout());
  std::set<std::string> names;
  for (const IntervalChain &chain : kernels.chains)
    emitChain(*module, chain, target, names);
  for (const PosNegProduct &product : kernels.products)
    emitProduct(*module, product, target, names);
  std::string problems;
  llvm::raw_string_ostream out(problems);
  GAMMA_ASSERT(!llvm::verifyModule(*module, &out), "emitted kernels do not verify: " + problems);
  return module;
}

void optimizeModule(llvm::Module &module, llvm::TargetMachine &machine) {
  // Declared in this order so they are destroyed in the reverse one (the
  // managers hold proxies to each other).
  llvm::LoopAnalysisManager loops;
  llvm::FunctionAnalysisManager functions;
  llvm::CGSCCAnalysisManager sccs;
  llvm::ModuleAnalysisManager modules;
  llvm::PassBuilder builder(&machine);
  builder.registerModuleAnalyses(modules);
  builder.registerCGSCCAnalyses(sccs);
  builder.registerFunctionAnalyses(functions);
  builder.registerLoopAnalyses(loops);
  builder.crossRegisterProxies(loops, functions, sccs, modules);
  builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, modules);
}

} // namespace gm::codegen
