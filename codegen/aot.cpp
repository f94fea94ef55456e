#include "codegen/aot.h"

#include "codegen/emit_kernels.h"
#include "codegen/target_machine.h"
#include "ir/error.h"

#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

namespace gm::codegen {

std::string compileKernels(const KernelSet &kernels, const TargetDesc &target, AotFormat format) {
  std::unique_ptr<llvm::TargetMachine> machine = createTargetMachine(target);
  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> module = emitKernels(context, kernels, target, *machine);
  optimizeModule(*module, *machine);

  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream out(bytes);
  if (format == AotFormat::LlvmIr) {
    module->print(out, nullptr);
  } else {
    // Machine code still goes through the legacy pass manager in LLVM 19.
    llvm::legacy::PassManager codegen;
    auto type = format == AotFormat::Object ? llvm::CodeGenFileType::ObjectFile : llvm::CodeGenFileType::AssemblyFile;
    if (machine->addPassesToEmitFile(codegen, out, nullptr, type))
      fail("--target", "LLVM cannot emit {} for '{}'", format == AotFormat::Object ? "object code" : "assembly",
           target.name);
    codegen.run(*module);
  }
  return std::string(bytes.data(), bytes.size());
}

} // namespace gm::codegen
