// float32 to the GGUF element types gamma writes (gamma-synth): the inverse
// of dequantize.h for F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K.
//
// Q8_0 and Q4_0 are ggml's reference quantisers (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref), byte for byte. The K-quants are simpler than
// ggml's (which searches scales to minimise the squared error): each
// sub-block's range is covered by rounding its scale and min up, then every
// value is rounded to the nearest level. That keeps every element within
// half a step of its sub-block, which is all a synthetic model needs; the
// blocks are valid ggml blocks that llama.cpp and dequantize.h read.
#pragma once

#include "frontend/gguf/ggml_type.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace gm::gguf {

// F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K.
bool canQuantize(GgmlType type);
// The types above, by ggml's name in any case ("q4_k", "Q4_K", "bf16");
// nullopt for anything else.
std::optional<GgmlType> quantizableTypeFromName(std::string_view name);
// "f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k", for error messages and --help.
std::string_view quantizableTypeNames();

// Bytes of `elements` values of `type`; elements must be a multiple of the block size.
std::uint64_t quantizedBytes(GgmlType type, std::int64_t elements);

// Quantises x (a multiple of the type's block size, checked by GAMMA_ASSERT:
// callers validate row lengths first and name the tensor) into
// out[quantizedBytes(type, x.size())].
void quantize(GgmlType type, std::span<const float> x, std::byte *out);
std::vector<std::byte> quantize(GgmlType type, std::span<const float> x);

} // namespace gm::gguf
