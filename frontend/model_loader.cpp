#include "frontend/model_loader.h"

#include "frontend/demo/demo_model.h"
#include "frontend/gguf/dequantize.h"
#include "frontend/onnx/onnx_import.h"
#include "ir/error.h"
#include "ir/text.h"

namespace gm {

namespace {
bool endsWith(const std::string &s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
} // namespace

Graph loadModel(const std::string &path) {
  if (path.empty() || path == demo::kModelName)
    return demo::buildModel();
  if (endsWith(path, ".onnx"))
    return onnx_import::importFile(path);
  if (endsWith(path, ".gir")) {
    gguf::registerBlockFormats(); // printed transformer IR names GGUF block formats
    return parseGraphFile(path);
  }
  fail(path, "unknown model format (expected a .onnx or .gir file, or 'demo')");
}

} // namespace gm
