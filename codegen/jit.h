// Kernels compiled in memory and called through plain function pointers
// (LLVM's ORC LLJIT behind a pimpl: no LLVM type in this header).
#pragma once

#include "codegen/kernel_spec.h"
#include "codegen/target_desc.h"

#include <memory>
#include <string_view>

namespace gm::codegen {

class KernelJit {
public:
  // Emits, optimises (O3 for the target) and links every kernel of the set.
  // The target must run on this machine ("host", or a pinned ISA the CPU
  // has: x86-64-v3 on an AVX-512 machine runs the AVX2 code). InputError
  // otherwise.
  explicit KernelJit(const KernelSet &kernels, std::string_view target = "host");
  // Links object code from compileKernels(..., AotFormat::Object) for
  // `target`; `kernels` names the entry points. Nothing is optimised here.
  static KernelJit fromObject(std::string_view object, const KernelSet &kernels, std::string_view target);

  KernelJit(KernelJit &&) noexcept;
  KernelJit &operator=(KernelJit &&) noexcept;
  ~KernelJit();

  // The entry point of the kernel with this name; InputError if the set has
  // none of that family. Valid while this object lives.
  ChainFn chain(std::string_view name) const;
  PosNegFn product(std::string_view name) const;
  const TargetDesc &target() const;

private:
  struct Impl;
  explicit KernelJit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace gm::codegen
