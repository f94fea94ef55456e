// What code for a target needs of the CPU, and what this CPU has, without
// LLVM: gamma-run checks a plan with these and must not load libLLVM (its
// start-up, docs/PERFORMANCE.md "Process start"). Features have LLVM's names
// ("avx2", "avx512f", "neon"), and the host's are detected as LLVM detects
// them (cpuid and the OS's saved register state on x86, AT_HWCAP on aarch64);
// unit.codegen compares the two.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gm::codegen {

// The names `--target` takes: host, x86-64-v3, x86-64-v4, aarch64.
std::vector<std::string> knownTargets();

// The CPU features code for `target` may use; none for "host" (its code uses
// whatever the compiling machine has). An unknown name is an InputError
// listing the known ones.
std::vector<std::string> requiredFeatures(std::string_view target);

// Those of requiredFeatures(target) this machine lacks. Code for a target with
// missing features must not run here: it would stop on an illegal
// instruction. Another architecture lacks its first feature at least.
std::vector<std::string> missingHostFeatures(std::string_view target);

// Whether this CPU (and the OS: AVX state saved) has `feature`; false for a
// name not in detectedFeatures().
bool hostHasFeature(std::string_view feature);
// Every name hostHasFeature answers for on this architecture: the features
// the targets require and the vector ones.
std::vector<std::string> detectedFeatures();
// Of avx2, fma, avx512f, neon: those present, in that order.
std::vector<std::string> hostVectorFeatures();
// The CPU's own name ("AMD EPYC 9R14 96-Core Processor"; x86's brand string),
// or the architecture where it has none.
std::string hostCpuBrand();

} // namespace gm::codegen
