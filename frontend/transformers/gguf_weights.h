// Weights of a GGUF file as graph constants, each checked against the shape
// the metadata implies before it enters the graph.
#pragma once

#include "frontend/gguf/gguf_reader.h"
#include "ir/graph.h"

#include <string>
#include <string_view>

namespace gm::transformers {

class GgufWeights {
public:
  explicit GgufWeights(gguf::File file) : file_(std::move(file)) {}

  // The tensor `name` as an f32 constant named `name`, of row-major shape
  // `expected` (ggml's ne reversed: [out, in] for a Linear weight). F32
  // tensors point into the mapped file; every other type stays encoded in the
  // mapped file as an f32 constant in its block format, decoded by whoever
  // reads it, a range at a time (Constant::decode), so the model never lives
  // dequantized in memory.
  // A missing tensor or another shape is an InputError naming the tensor, both
  // shapes, and `why` (the metadata keys that imply `expected`).
  ValueId load(Graph &g, const std::string &name, const Shape &expected, std::string_view why) const;

  // The row-major shape of a tensor: ggml's ne reversed.
  static Shape rowMajorShape(const gguf::TensorInfo &tensor);

  const gguf::File &file() const { return file_; }

private:
  gguf::File file_;
};

} // namespace gm::transformers
