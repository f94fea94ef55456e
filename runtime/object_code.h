// Object code of a plan, linked into this process without LLVM: the
// relocatable ELF object `gammac` stores (codegen/aot.h) is copied into fresh
// pages, its relocations applied, and the code pages made executable. This
// keeps libLLVM out of gamma-run (start-up in milliseconds, docs/PERFORMANCE.md)
// and runs no optimiser: the code is what the plan holds.
//
// The kernels are self-contained by construction (no calls out, no thread
// locals, no GOT), so only the relocations they produce are handled; anything
// else is refused by name rather than linked wrongly. x86-64 only for now:
// other hosts run plans in the interpreter (docs/STATUS.md).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gm {

class ObjectCode {
public:
  // Links `elf` (an ELF64 relocatable object for this machine). Every
  // problem is one InputError "where: ...".
  static ObjectCode link(std::string_view elf, const std::string &where);
  // True where link() can run this machine's objects.
  static bool supportedHost();

  ObjectCode(ObjectCode &&other) noexcept;
  ObjectCode &operator=(ObjectCode &&other) noexcept;
  ObjectCode(const ObjectCode &) = delete;
  ObjectCode &operator=(const ObjectCode &) = delete;
  ~ObjectCode();

  // Address of a defined global symbol, or nullptr. Valid while this lives.
  void *symbol(std::string_view name) const;
  std::size_t mappedBytes() const { return size_; }

private:
  ObjectCode() = default;
  struct Symbols;
  char *base_ = nullptr;
  std::size_t size_ = 0;
  Symbols *symbols_ = nullptr;
};

} // namespace gm
