// Hugging Face safetensors weights: one file, or shards listed by an
// index.json. Files are memory-mapped and validated once at open; tensors are
// views into the mappings, so a model never has to fit in RAM as a copy.
#pragma once

#include "ir/dtype.h"
#include "ir/mapped_file.h"
#include "ir/shape.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gm::safetensors {

// Every dtype the format defines except the sub-byte and exotic float8 ones.
enum class DType : std::uint8_t { Bool, U8, I8, I16, U16, I32, U32, I64, U64, F8E4M3, F8E5M2, F16, BF16, F32, F64 };

std::string_view dtypeName(DType dtype); // as spelled in the header: "F32", "BF16", "F8_E4M3", ...
std::optional<DType> dtypeFromName(std::string_view name);
std::size_t elementSize(DType dtype);
// The IR's element type for the same bytes, if the IR has one.
std::optional<gm::DType> irDType(DType dtype);

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::span<const std::byte> bytes;       // little-endian, row-major, not aligned
  std::shared_ptr<const MappedFile> file; // keeps `bytes` alive; file->path() names the shard
  std::uint64_t offset = 0;               // of bytes[0] in the file (for Constant::fromFile)

  std::int64_t numElements() const { return gm::numElements(shape); }
  // "path: tensor 'name'", the place for error messages.
  std::string where() const;
};

class Archive {
public:
  // A .safetensors file, a *.safetensors.index.json, or a directory holding
  // model.safetensors.index.json, model.safetensors, or exactly one of either
  // kind. Throws InputError naming the file (and the tensor) on anything malformed.
  static Archive open(const std::string &path);

  const std::string &path() const { return path_; }
  std::size_t size() const { return tensors_.size(); }
  std::vector<std::string> names() const; // sorted
  const TensorView *find(std::string_view name) const;
  const TensorView &tensor(std::string_view name) const; // InputError naming the archive and the name
  // The files' "__metadata__" (string to string); shards' entries are merged,
  // the first shard in file order winning.
  const std::map<std::string, std::string, std::less<>> &metadata() const { return metadata_; }

private:
  std::string path_;
  std::map<std::string, TensorView, std::less<>> tensors_;
  std::map<std::string, std::string, std::less<>> metadata_;
};

// Exact widening of F16, BF16 and F32 (toFloats) and also F64 (toDoubles);
// other dtypes are an InputError naming the tensor.
std::vector<float> toFloats(const TensorView &tensor);
std::vector<double> toDoubles(const TensorView &tensor);

} // namespace gm::safetensors
