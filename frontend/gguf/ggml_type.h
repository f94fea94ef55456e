// ggml's tensor element types as GGUF stores them: the number on disk, the
// name ggml prints, and the block each type is stored in (blockSize elements
// in blockBytes bytes; 1 element for the plain types).
#pragma once

#include <cstdint>
#include <string_view>

namespace gm::gguf {

// The numbers are ggml's `enum ggml_type`; gaps are types ggml removed.
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name; // as ggml spells it: "Q4_K", "BF16"
  std::int64_t blockSize;  // elements per block
  std::int64_t blockBytes; // bytes per block
};

// nullptr for a number that is not a ggml type this reader knows.
const GgmlTypeInfo *ggmlTypeInfo(std::uint32_t type);
const GgmlTypeInfo &ggmlTypeInfo(GgmlType type);
std::string_view ggmlTypeName(GgmlType type);

} // namespace gm::gguf
