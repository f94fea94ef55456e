#include "frontend/transformers/safetensors_weights.h"

#include "frontend/gguf/dequantize.h"
#include "ir/error.h"

#include <cstring>

namespace gm::transformers {

SafetensorsWeights::SafetensorsWeights(safetensors::Archive archive, std::initializer_list<const char *> prefixes,
                                       const std::string &probe)
    : archive_(std::move(archive)) {
  std::string tried;
  for (const char *prefix : prefixes) {
    if (archive_.find(prefix + probe)) {
      prefix_ = prefix;
      return;
    }
    tried += fmt::format("{}'{}{}'", tried.empty() ? "" : ", ", prefix, probe);
  }
  fail(archive_.path(), "no tensor {} (looked for {})", probe, tried);
}

ValueId SafetensorsWeights::load(Graph &g, const std::string &name, const Shape &expected,
                                 std::string_view why) const {
  std::string full = prefix_ + name;
  const safetensors::TensorView *t = archive_.find(full);
  if (!t)
    fail(fmt::format("{}: tensor '{}'", archive_.path(), full), "missing; {} implies shape {}", why,
         shapeString(expected));
  if (t->shape != expected)
    fail(t->where(), "shape {}, but {} implies {}", shapeString(t->shape), why, shapeString(expected));
  TensorType type{DType::F32, expected};
  switch (t->dtype) {
  case safetensors::DType::F32:
    return g.addConst(Constant::fromFile(type, t->file, t->offset), name);
  case safetensors::DType::F16:
  case safetensors::DType::BF16: {
    // Left half-width in the mapped file and widened where it is read (the
    // same element formats as GGUF's F16 and BF16).
    const BlockFormat *format =
        gguf::blockFormat(t->dtype == safetensors::DType::F16 ? gguf::GgmlType::F16 : gguf::GgmlType::BF16);
    return g.addConst(Constant::fromEncodedFile(type, *format, t->file, t->offset), name);
  }
  default:
    fail(t->where(), "dtype {} is not a float weight type (F32, F16 or BF16)", safetensors::dtypeName(t->dtype));
  }
}

} // namespace gm::transformers
