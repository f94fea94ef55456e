// GGUF tensors to float32, bit for bit as ggml's scalar reference
// (`dequantize_row_*` in ggml-quants.c) and gguf-py compute them: the same
// block layouts, and every product taken in the same order, since one
// reordering (d * (sc * q) for (d * sc) * q) already changes the last bit.
// The build has -ffp-contract=off, so no multiply-add is fused either.
#pragma once

#include "frontend/gguf/gguf_reader.h"
#include "ir/constant.h"

#include <cstdint>
#include <vector>

namespace gm::gguf {

// F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
bool canDequantize(GgmlType type);

// The whole tensor, row-major [ne[n-1]]...[ne[1]][ne[0]]. InputError naming
// the file, the tensor and its type when the type cannot be dequantized.
std::vector<float> dequantize(const TensorInfo &tensor);

// The block format of a type gamma can dequantize, for constants that stay
// encoded in the mapped file (Constant::fromEncodedFile); registered with the
// IR on first use so the textual IR can name it. Null for other types.
const BlockFormat *blockFormat(GgmlType type);
// Registers every format (tools call this so printed IR with encoded weights parses).
void registerBlockFormats();

// Rows [row0, row0 + rows) (a row is ne[0] elements) into out[rows * ne[0]],
// for reading a large tensor a slice at a time.
void dequantizeRows(const TensorInfo &tensor, std::int64_t row0, std::int64_t rows, float *out);

} // namespace gm::gguf
