// Writes GGUF v3 files, streaming: the metadata and every tensor's name,
// shape and type are given up front (GGUF puts all of them before the data),
// then the tensors' bytes are appended in the declared order, a piece at a
// time, so a model larger than memory can be written. gguf_reader.h reads
// the result; the layout is ggml's (data aligned to general.alignment, 32
// when absent).
#pragma once

#include "frontend/output_file.h"

#include <optional>

#include "frontend/gguf/ggml_type.h"
#include "frontend/gguf/metadata.h"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace gm::gguf {

// Metadata values for Metadata::add.
Value stringValue(std::string s);
Value u32Value(std::uint32_t v);
Value f32Value(float v);
Value boolValue(bool v);
Value stringArray(std::vector<std::string> items);
Value i32Array(const std::vector<std::int32_t> &items);

struct TensorDecl {
  std::string name;
  std::vector<std::int64_t> ne; // ggml order: ne[0] is a row
  GgmlType type = GgmlType::F32;
  std::uint64_t bytes() const; // the data's size; ne[0] must be a multiple of the type's block
};

class Writer {
public:
  // Opens `path` and writes everything before the data. InputError
  // "path: cannot open for writing (reason)" or naming the tensor whose rows
  // do not fit its type's blocks. Alignment as general.alignment if present.
  Writer(std::string path, const Metadata &metadata, std::vector<TensorDecl> tensors);
  // Removes the file unless finish() was called: a partial file must not
  // look like a model.
  ~Writer();
  Writer(const Writer &) = delete;
  Writer &operator=(const Writer &) = delete;

  // The next bytes of the current tensor; a piece may not run past the end
  // of the tensor (the writer pads to the next one itself).
  void append(std::span<const std::byte> bytes);
  // Checks that every tensor got all its bytes and closes the file.
  void finish();

  const std::vector<TensorDecl> &tensors() const { return tensors_; }
  // The tensor that append() writes into next (tensors().size() when done).
  std::size_t current() const { return current_; }
  std::uint64_t bytesWritten() const { return written_; }
  std::uint64_t totalBytes() const { return total_; } // of the whole file
  const std::string &path() const { return path_; }

private:
  void put(const void *data, std::size_t size);
  void padTo(std::uint64_t offset);
  void advancePastFullTensors();

  std::string path_;
  std::optional<OutputFile> out_;
  std::vector<TensorDecl> tensors_;
  std::vector<std::uint64_t> offsets_; // in the data section
  std::uint64_t dataStart_ = 0, total_ = 0, written_ = 0;
  std::size_t current_ = 0;
  std::uint64_t inCurrent_ = 0; // bytes of tensors_[current_] written
};

} // namespace gm::gguf
