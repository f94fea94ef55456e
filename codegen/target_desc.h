// The machines gamma emits code for, named as on the command line
// (`--target host|x86-64-v3|x86-64-v4|aarch64`). A plan records the target it
// was compiled for; code for a pinned ISA never depends on the build machine.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gm::codegen {

struct TargetDesc {
  std::string name;     // as given: "host", "x86-64-v3", ...
  std::string triple;   // "x86_64-pc-linux-gnu", "aarch64-linux-gnu"
  std::string cpu;      // "x86-64-v3", "neoverse-n1", or the host's name
  std::string features; // LLVM syntax, "+neon"; for the host every feature it reports
  unsigned vectorBits;  // the widest vectors the kernels are written for
  unsigned vectorRegisters;

  unsigned lanes() const { return vectorBits / 64; } // f64 lanes per vector
};

// An unknown name is an InputError listing the known ones.
TargetDesc describeTarget(std::string_view name);
std::vector<std::string> knownTargets();

// The CPU features code for `target` may use (LLVM names: "avx2", "avx512f",
// "neon"), and those of them this machine lacks. Code for a target with
// missing features must not run here: it would stop on an illegal
// instruction. Another architecture lacks its first feature at least.
std::vector<std::string> requiredFeatures(const TargetDesc &target);
std::vector<std::string> missingHostFeatures(const TargetDesc &target);

} // namespace gm::codegen
