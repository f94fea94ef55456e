#include "frontend/transformers/gguf_weights.h"

#include "frontend/gguf/dequantize.h"
#include "ir/error.h"

namespace gm::transformers {

Shape GgufWeights::rowMajorShape(const gguf::TensorInfo &tensor) { return Shape(tensor.ne.rbegin(), tensor.ne.rend()); }

ValueId GgufWeights::load(Graph &g, const std::string &name, const Shape &expected, std::string_view why) const {
  const gguf::TensorInfo *t = file_.find(name);
  if (!t)
    fail(fmt::format("{}: tensor '{}'", file_.path(), name), "missing; expected shape {} from {}",
         shapeString(expected), why);
  Shape shape = rowMajorShape(*t);
  if (shape != expected)
    fail(t->where(), "shape {} (ggml ne {}); expected {} from {}", shapeString(shape), shapeString(t->ne),
         shapeString(expected), why);
  TensorType type{DType::F32, expected};
  if (t->type == gguf::GgmlType::F32) {
    std::uint64_t offset = static_cast<std::uint64_t>(t->bytes.data() - t->file->bytes().data());
    return g.addConst(Constant::fromFile(type, t->file, offset), name);
  }
  std::vector<float> values = gguf::dequantize(*t);
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte *>(values.data()), values.size() * sizeof(float));
  return g.addConst(Constant::fromBytes(type, bytes), name);
}

} // namespace gm::transformers
