#include "frontend/safetensors/safetensors_writer.h"

#include "frontend/output_file.h"
#include "ir/error.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace gm::safetensors {

static_assert(std::endian::native == std::endian::little, "the safetensors writer assumes a little-endian host");

std::uint64_t TensorDecl::bytes() const {
  return static_cast<std::uint64_t>(gm::numElements(shape)) * elementSize(dtype);
}

Writer::Writer(std::string path, std::vector<TensorDecl> tensors, const std::map<std::string, std::string> &metadata)
    : path_(std::move(path)), tensors_(std::move(tensors)) {
  std::stable_sort(tensors_.begin(), tensors_.end(),
                   [](const TensorDecl &a, const TensorDecl &b) { return a.name < b.name; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty())
    header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const TensorDecl &t : tensors_) {
    if (t.name == "__metadata__" || header.contains(t.name))
      fail(fmt::format("{}: tensor '{}'", path_, t.name), "given twice (or named like the metadata entry)");
    header[t.name] = {{"dtype", dtypeName(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes()}}};
    offset += t.bytes();
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  total_ = 8 + text.size() + offset;

  // Removed again if anything below throws (OutputFile's destructor).
  out_.emplace(path_);
  const std::uint64_t length = text.size();
  put(&length, sizeof length);
  put(text.data(), text.size());
  advancePastFullTensors();
}

Writer::~Writer() = default;

void Writer::put(const void *data, std::size_t size) {
  out_->put(data, size);
  written_ += size;
}

void Writer::advancePastFullTensors() {
  while (current_ < tensors_.size() && inCurrent_ == tensors_[current_].bytes()) {
    ++current_;
    inCurrent_ = 0;
  }
}

void Writer::append(std::span<const std::byte> bytes) {
  GAMMA_ASSERT(current_ < tensors_.size(), "safetensors append after the last tensor");
  GAMMA_ASSERT(bytes.size() <= tensors_[current_].bytes() - inCurrent_, "safetensors append past the end of a tensor");
  put(bytes.data(), bytes.size());
  inCurrent_ += bytes.size();
  advancePastFullTensors();
}

void Writer::finish() {
  GAMMA_ASSERT(current_ == tensors_.size() && written_ == total_, "safetensors finish before every tensor was written");
  out_->commit();
}

std::string writeIndex(const std::string &dir, const std::map<std::string, std::string> &weightMap,
                       std::uint64_t totalSize) {
  nlohmann::ordered_json index = {{"metadata", {{"total_size", totalSize}}}, {"weight_map", weightMap}};
  std::string path = (std::filesystem::path(dir) / "model.safetensors.index.json").string();
  std::ofstream out(path, std::ios::binary);
  if (!out)
    fail(path, "cannot open for writing ({})", std::strerror(errno));
  out << index.dump(2) << '\n';
  if (!out.flush())
    fail(path, "write failed");
  return path;
}

std::string shardFileName(int index, int count) {
  return fmt::format("model-{:05d}-of-{:05d}.safetensors", index, count);
}

} // namespace gm::safetensors
