#include "frontend/gguf/ggml_type.h"

#include "ir/error.h"

namespace gm::gguf {

namespace {

constexpr std::int64_t QK_K = 256; // elements of a K-quant super-block

// Sizes as in ggml-common.h (the block structs) and gguf-py's GGML_QUANT_SIZES.
constexpr GgmlTypeInfo kTypes[] = {
    {GgmlType::F32, "F32", 1, 4},
    {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 2 + 16},
    {GgmlType::Q4_1, "Q4_1", 32, 2 + 2 + 16},
    {GgmlType::Q5_0, "Q5_0", 32, 2 + 4 + 16},
    {GgmlType::Q5_1, "Q5_1", 32, 2 + 2 + 4 + 16},
    {GgmlType::Q8_0, "Q8_0", 32, 2 + 32},
    {GgmlType::Q8_1, "Q8_1", 32, 2 + 2 + 32},
    {GgmlType::Q2_K, "Q2_K", QK_K, 2 + 2 + QK_K / 16 + QK_K / 4},
    {GgmlType::Q3_K, "Q3_K", QK_K, 2 + QK_K / 4 + QK_K / 8 + 12},
    {GgmlType::Q4_K, "Q4_K", QK_K, 2 + 2 + QK_K / 2 + 12},
    {GgmlType::Q5_K, "Q5_K", QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12},
    {GgmlType::Q6_K, "Q6_K", QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16},
    {GgmlType::Q8_K, "Q8_K", QK_K, 4 + QK_K + QK_K / 8},
    {GgmlType::IQ2_XXS, "IQ2_XXS", QK_K, 2 + QK_K / 4},
    {GgmlType::IQ2_XS, "IQ2_XS", QK_K, 2 + QK_K / 4 + QK_K / 32},
    {GgmlType::IQ3_XXS, "IQ3_XXS", QK_K, 2 + QK_K / 4 + QK_K / 8},
    {GgmlType::IQ1_S, "IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 2 + 16},
    {GgmlType::IQ3_S, "IQ3_S", QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4},
    {GgmlType::IQ2_S, "IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16},
    {GgmlType::IQ4_XS, "IQ4_XS", QK_K, 2 + 2 + QK_K / 2 + QK_K / 64},
    {GgmlType::I8, "I8", 1, 1},
    {GgmlType::I16, "I16", 1, 2},
    {GgmlType::I32, "I32", 1, 4},
    {GgmlType::I64, "I64", 1, 8},
    {GgmlType::F64, "F64", 1, 8},
    {GgmlType::IQ1_M, "IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32},
    {GgmlType::BF16, "BF16", 1, 2},
    {GgmlType::TQ1_0, "TQ1_0", QK_K, 2 + 4 * 13},
    {GgmlType::TQ2_0, "TQ2_0", QK_K, 2 + 64},
    {GgmlType::MXFP4, "MXFP4", 32, 1 + 16},
};

} // namespace

const GgmlTypeInfo *ggmlTypeInfo(std::uint32_t type) {
  for (const GgmlTypeInfo &info : kTypes)
    if (static_cast<std::uint32_t>(info.type) == type)
      return &info;
  return nullptr;
}

const GgmlTypeInfo &ggmlTypeInfo(GgmlType type) {
  const GgmlTypeInfo *info = ggmlTypeInfo(static_cast<std::uint32_t>(type));
  GAMMA_ASSERT(info, "GgmlType value without an entry in kTypes");
  return *info;
}

std::string_view ggmlTypeName(GgmlType type) { return ggmlTypeInfo(type).name; }

} // namespace gm::gguf
