// The machines gamma emits code for, named as on the command line
// (`--target host|x86-64-v3|x86-64-v4|aarch64`). A plan records the target it
// was compiled for; code for a pinned ISA never depends on the build machine.
// The names and the CPU features each needs are in cpu_features.h, which does
// not need LLVM; describing the host does.
#pragma once

#include "codegen/cpu_features.h"

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

} // namespace gm::codegen
