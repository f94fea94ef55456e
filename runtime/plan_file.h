// Plans: what `gammac --emit plan` writes and `gamma-run` loads. A plan is one
// network and one bound method compiled for one target; the box and the spec
// rows stay run-time inputs, so one plan serves every property of the network.
//
// Layout (integers little-endian):
//   "GAMMAPLN"                       8 bytes of magic
//   u32 format version               kPlanFormatVersion
//   u64 n, then n bytes of JSON      the header (PlanHeader)
//   sections, in the order the header's "sections" lists them:
//     u64 n, then n bytes            the bound-program IR text ("ir"), then
//                                    the object code ("object", may be empty)
// Weights are not copied: the IR refers to them by file, offset and content
// hash, and the header holds the hash of the model file itself, so a changed
// model is refused before anything runs.
//
// This is the reading side and the format; writing a plan (its kernels, the
// bytes) is runtime/plan_write.h, which only gammac links.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gm {

// Bumped whenever a plan written by an older gamma would be misread.
constexpr std::uint32_t kPlanFormatVersion = 1;
constexpr std::string_view kPlanMagic = "GAMMAPLN";

struct PlanHeader {
  std::string gammaVersion;
  std::string method; // ibp, crown, crown-ibp
  std::int64_t specRows = 0;
  std::string target; // host, x86-64-v3, x86-64-v4, aarch64
  std::vector<std::string> requiredFeatures;
  std::string modelPath; // absolute, or "demo" for the embedded network
  std::string modelHash; // xxh3 of the model file's bytes, hex; empty for "demo"
  std::int64_t arenaBytes = 0;
  std::int64_t inputs = 0, outputs = 0; // flat sizes of the box and of the network output
  // "object": the object section holds kernels for the program's fused ops;
  // "interpreted": it is empty. Either way the runtime still interprets the
  // program today (the loader for object code is the next step).
  std::string kernels = "interpreted";
  std::int64_t chainKernels = 0, productKernels = 0;
};

struct PlanFile {
  PlanHeader header;
  std::string boundIr; // the bound program, textual IR
  std::string object;  // relocatable object code for header.target
};

// True when `bytes` starts with the plan magic (any file name).
bool isPlan(std::string_view bytes);
bool isPlanFile(const std::string &path);

// The header as the file holds it: JSON, with the section names in order.
std::string planHeaderText(const PlanHeader &header);

// Every error is one InputError "path: ..." (bad magic, another format
// version, truncated, bad header, missing section).
PlanFile parsePlan(std::string_view bytes, const std::string &path);
PlanFile readPlan(const std::string &path);

// Hex xxh3 of a whole file, as PlanHeader::modelHash records it.
std::string fileHash(const std::string &path);

} // namespace gm
