// Writes safetensors files as Hugging Face's library does: an 8-byte
// little-endian header length, the JSON header padded with spaces so the
// data starts 8-byte aligned, then the tensors contiguously in name order.
// Streaming: the header is written first, then each tensor's bytes are
// appended a piece at a time in tensors() order, so a file larger than
// memory can be written. safetensors_reader.h reads the result.
#pragma once

#include "frontend/output_file.h"

#include <optional>

#include "frontend/safetensors/safetensors_reader.h"

#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace gm::safetensors {

struct TensorDecl {
  std::string name;
  DType dtype = DType::F32;
  Shape shape; // row-major
  std::uint64_t bytes() const;
};

class Writer {
public:
  // Opens `path` and writes the header. InputError "path: cannot open for
  // writing (reason)"; a name given twice is an InputError too.
  Writer(std::string path, std::vector<TensorDecl> tensors,
         const std::map<std::string, std::string> &metadata = {{"format", "pt"}});
  // Removes the file unless finish() was called.
  ~Writer();
  Writer(const Writer &) = delete;
  Writer &operator=(const Writer &) = delete;

  // In file (name) order: append the tensors' bytes in this order.
  const std::vector<TensorDecl> &tensors() const { return tensors_; }
  // The next bytes of the current tensor; a piece may not run past its end.
  void append(std::span<const std::byte> bytes);
  void finish();

  std::size_t current() const { return current_; }
  std::uint64_t bytesWritten() const { return written_; }
  std::uint64_t totalBytes() const { return total_; }
  const std::string &path() const { return path_; }

private:
  void put(const void *data, std::size_t size);
  void advancePastFullTensors();

  std::string path_;
  std::optional<OutputFile> out_;
  std::vector<TensorDecl> tensors_;
  std::uint64_t total_ = 0, written_ = 0, inCurrent_ = 0;
  std::size_t current_ = 0;
};

// `dir`/model.safetensors.index.json as transformers writes it for shards:
// {"metadata": {"total_size": N}, "weight_map": {tensor: shard file name}}.
// Returns the file's path.
std::string writeIndex(const std::string &dir, const std::map<std::string, std::string> &weightMap,
                       std::uint64_t totalSize);

// transformers' shard file name: model-00001-of-00003.safetensors.
std::string shardFileName(int index, int count);

} // namespace gm::safetensors
