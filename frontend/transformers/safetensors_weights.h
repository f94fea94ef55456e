// Weights of a Hugging Face safetensors checkpoint as graph constants, each
// checked against the shape the config implies before it enters the graph.
#pragma once

#include "frontend/safetensors/safetensors_reader.h"
#include "ir/graph.h"

#include <initializer_list>
#include <string>

namespace gm::transformers {

class SafetensorsWeights {
public:
  // `prefixes` are tried in order; the first under which `probe` exists is
  // used for every tensor (checkpoints save the same module as
  // "model.encoder.conv1.weight", "encoder.conv1.weight" or "conv1.weight").
  SafetensorsWeights(safetensors::Archive archive, std::initializer_list<const char *> prefixes,
                     const std::string &probe);

  // The tensor `prefix + name` as an f32 constant named `name`. F32 tensors
  // point into the mapped file. F16 and BF16 are widened (exactly) into an
  // owned f32 copy, because the IR has no cast op and every arithmetic op
  // needs operands of one dtype. A missing tensor or a shape other than
  // `expected` is an InputError naming the tensor (and both shapes).
  ValueId load(Graph &g, const std::string &name, const Shape &expected, std::string_view why) const;

  const std::string &prefix() const { return prefix_; }
  const safetensors::Archive &archive() const { return archive_; }

private:
  safetensors::Archive archive_;
  std::string prefix_;
};

} // namespace gm::transformers
