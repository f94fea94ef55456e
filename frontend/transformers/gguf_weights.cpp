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
  std::uint64_t offset = static_cast<std::uint64_t>(t->bytes.data() - t->file->bytes().data());
  if (t->type == gguf::GgmlType::F32)
    return g.addConst(Constant::fromFile(type, t->file, offset), name);
  const BlockFormat *format = gguf::blockFormat(t->type);
  if (!format) {
    gguf::dequantize(*t); // throws the reader's error naming the tensor and its type
    GAMMA_ASSERT(false, "a type that dequantizes has a block format");
  }
  return g.addConst(Constant::fromEncodedFile(type, *format, t->file, offset), name);
}

} // namespace gm::transformers
