// GGUF v3 files (llama.cpp's model format): metadata and tensor infos are
// parsed at open; tensor data stays in the memory-mapped file and is only
// read when a tensor is dequantized (frontend/gguf/dequantize.h).
//
// Everything a corrupt or unsupported file can get wrong is an InputError of
// one line naming the file and the key or tensor: "m.gguf: tensor 'x': ...".
// Counts and lengths are checked against the file size before anything is
// allocated for them.
#pragma once

#include "frontend/gguf/ggml_type.h"
#include "frontend/gguf/metadata.h"
#include "ir/mapped_file.h"

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gm::gguf {

struct TensorInfo {
  std::string name;
  // ggml order: ne[0] is the contiguous dimension (a row), so as a row-major
  // array the shape is [ne[n-1], ..., ne[1], ne[0]].
  std::vector<std::int64_t> ne;
  GgmlType type = GgmlType::F32;
  std::uint64_t offset = 0;          // from the start of the data section
  std::span<const std::byte> bytes;  // the tensor's data, inside `file`
  std::shared_ptr<const MappedFile> file; // keeps `bytes` mapped

  std::int64_t numElements() const;
  std::int64_t rowLength() const { return ne.empty() ? 1 : ne[0]; }
  std::int64_t numRows() const; // product of ne[1..]
  std::uint64_t rowBytes() const;
  // "path: tensor 'name'", the place for error messages.
  std::string where() const;
};

class File {
public:
  static constexpr std::uint32_t kVersion = 3;
  static constexpr std::uint64_t kDefaultAlignment = 32;

  static File open(const std::string &path);

  const std::string &path() const { return file_->path(); }
  const Metadata &metadata() const { return metadata_; }
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorInfo *find(std::string_view name) const;
  // InputError "path: tensor 'name' is not in the file" when absent.
  const TensorInfo &tensor(std::string_view name) const;

  std::uint64_t alignment() const { return alignment_; }
  std::uint64_t dataOffset() const { return dataOffset_; } // start of the data section in the file
  const std::shared_ptr<const MappedFile> &mapping() const { return file_; }

private:
  File() = default;
  std::shared_ptr<const MappedFile> file_;
  Metadata metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::uint64_t alignment_ = kDefaultAlignment;
  std::uint64_t dataOffset_ = 0;
};

} // namespace gm::gguf
