#include "codegen/jit.h"

#include "codegen/emit_kernels.h"
#include "codegen/target_machine.h"
#include "ir/error.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <map>
#include <string>

namespace gm::codegen {

struct KernelJit::Impl {
  TargetDesc target;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::map<std::string, ChainFn, std::less<>> chains;
  std::map<std::string, PosNegFn, std::less<>> products;

  // Looking every entry up links the module now, so a failure shows here and
  // the accessors are plain map reads.
  void resolve(const KernelSet &kernels);
};

namespace {

template <typename T> T orFail(llvm::Expected<T> value, std::string_view what) {
  if (!value)
    fail("codegen", "{}: {}", what, llvm::toString(value.takeError()));
  return std::move(*value);
}
void orFail(llvm::Error error, std::string_view what) {
  if (error)
    fail("codegen", "{}: {}", what, llvm::toString(std::move(error)));
}

TargetDesc runnableTarget(std::string_view name) {
  TargetDesc target = describeTarget(name);
  std::vector<std::string> missing = missingHostFeatures(name);
  if (!missing.empty()) {
    std::string list;
    for (const std::string &feature : missing)
      list += (list.empty() ? "" : " ") + feature;
    fail("--target", "code for '{}' cannot run on this CPU; it lacks: {}", name, list);
  }
  return target;
}

std::unique_ptr<llvm::orc::LLJIT> createJit(const TargetDesc &target) {
  initializeLlvmTargets();
  llvm::orc::JITTargetMachineBuilder machine{llvm::Triple(target.triple)};
  std::vector<std::string> features;
  for (llvm::StringRef rest = target.features; !rest.empty();) {
    auto [feature, tail] = rest.split(',');
    features.push_back(feature.str());
    rest = tail;
  }
  machine.setCPU(target.cpu)
      .addFeatures(features)
      .setOptions(kernelTargetOptions())
      .setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return orFail(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(machine)).create(),
                "cannot start the JIT");
}

} // namespace

void KernelJit::Impl::resolve(const KernelSet &kernels) {
  auto address = [&](const std::string &name) { return orFail(jit->lookup(name), "kernel '" + name + "'"); };
  for (const IntervalChain &chain : kernels.chains)
    chains[chain.name] = address(chain.name).toPtr<ChainFn>();
  for (const PosNegProduct &product : kernels.products)
    products[product.name] = address(product.name).toPtr<PosNegFn>();
}

KernelJit::KernelJit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KernelJit::KernelJit(const KernelSet &kernels, std::string_view target) : impl_(std::make_unique<Impl>()) {
  impl_->target = runnableTarget(target);
  std::unique_ptr<llvm::TargetMachine> machine = createTargetMachine(impl_->target);
  auto context = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> module = emitKernels(*context, kernels, impl_->target, *machine);
  // LLJIT compiles what it is given without optimising it.
  optimizeModule(*module, *machine);
  impl_->jit = createJit(impl_->target);
  orFail(impl_->jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(context))),
         "cannot add the kernels to the JIT");
  impl_->resolve(kernels);
}

KernelJit KernelJit::fromObject(std::string_view object, const KernelSet &kernels, std::string_view target) {
  auto impl = std::make_unique<Impl>();
  impl->target = runnableTarget(target);
  impl->jit = createJit(impl->target);
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()), "kernels.o");
  orFail(impl->jit->addObjectFile(std::move(buffer)), "cannot load the kernel object code");
  impl->resolve(kernels);
  return KernelJit(std::move(impl));
}

KernelJit::KernelJit(KernelJit &&) noexcept = default;
KernelJit &KernelJit::operator=(KernelJit &&) noexcept = default;
KernelJit::~KernelJit() = default;

ChainFn KernelJit::chain(std::string_view name) const {
  auto it = impl_->chains.find(name);
  if (it == impl_->chains.end())
    fail("codegen", "no interval chain kernel named '{}'", name);
  return it->second;
}

PosNegFn KernelJit::product(std::string_view name) const {
  auto it = impl_->products.find(name);
  if (it == impl_->products.end())
    fail("codegen", "no pos/neg product kernel named '{}'", name);
  return it->second;
}

const TargetDesc &KernelJit::target() const { return impl_->target; }

} // namespace gm::codegen
