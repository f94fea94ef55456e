#include "frontend/safetensors/safetensors_reader.h"

#include "frontend/safetensors/json_text.h"
#include "ir/constant.h"
#include "ir/error.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>

namespace gm::safetensors {

// The format is little-endian and tensors are read with memcpy.
static_assert(std::endian::native == std::endian::little, "safetensors reader assumes a little-endian host");

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
  std::optional<gm::DType> ir;
};

// In enum order, so info() can index it.
constexpr DTypeInfo kDTypes[] = {
    {DType::Bool, "BOOL", 1, gm::DType::Bool}, {DType::U8, "U8", 1, gm::DType::U8},
    {DType::I8, "I8", 1, gm::DType::I8},       {DType::I16, "I16", 2, std::nullopt},
    {DType::U16, "U16", 2, std::nullopt},      {DType::I32, "I32", 4, gm::DType::I32},
    {DType::U32, "U32", 4, std::nullopt},      {DType::I64, "I64", 8, gm::DType::I64},
    {DType::U64, "U64", 8, std::nullopt},      {DType::F8E4M3, "F8_E4M3", 1, std::nullopt},
    {DType::F8E5M2, "F8_E5M2", 1, std::nullopt}, {DType::F16, "F16", 2, gm::DType::F16},
    {DType::BF16, "BF16", 2, gm::DType::BF16}, {DType::F32, "F32", 4, gm::DType::F32},
    {DType::F64, "F64", 8, gm::DType::F64},
};

const DTypeInfo &info(DType dtype) {
  const DTypeInfo &entry = kDTypes[static_cast<std::size_t>(dtype)];
  GAMMA_ASSERT(entry.dtype == dtype, "kDTypes is out of enum order");
  return entry;
}

std::string tensorPlace(const std::string &path, std::string_view name) {
  return fmt::format("{}: tensor '{}'", path, name);
}

// A shape dimension or an offset: a JSON integer in [0, 2^63).
std::int64_t readCount(const json &value, const std::string &where, std::string_view what) {
  if (value.is_number_unsigned()) {
    auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(where, "{} {} overflows int64", what, v);
    return static_cast<std::int64_t>(v);
  }
  if (value.is_number_integer())
    fail(where, "{} {} is negative", what, value.get<std::int64_t>());
  fail(where, "{} {} is not an integer", what, value.dump());
}

const json &field(const json &entry, const char *key, const std::string &where) {
  auto it = entry.find(key);
  if (it == entry.end())
    fail(where, "header entry has no '{}'", key);
  return *it;
}

// One file's tensors, validated.
struct Shard {
  std::shared_ptr<const MappedFile> file;
  std::map<std::string, TensorView, std::less<>> tensors;
  std::map<std::string, std::string, std::less<>> metadata;
};

TensorView readEntry(const std::string &name, const json &entry, const Shard &shard, std::size_t dataStart) {
  const std::string &path = shard.file->path();
  std::string where = tensorPlace(path, name);
  if (!entry.is_object())
    fail(where, "header entry is not an object");
  TensorView t;
  t.name = name;
  t.file = shard.file;

  const json &dtype = field(entry, "dtype", where);
  if (!dtype.is_string())
    fail(where, "'dtype' {} is not a string", dtype.dump());
  std::optional<DType> parsed = dtypeFromName(dtype.get<std::string>());
  if (!parsed)
    fail(where, "unknown dtype '{}'", dtype.get<std::string>());
  t.dtype = *parsed;

  const json &shape = field(entry, "shape", where);
  if (!shape.is_array())
    fail(where, "'shape' {} is not an array", shape.dump());
  for (const json &d : shape)
    t.shape.push_back(readCount(d, where, "shape dimension"));
  std::int64_t count = 0;
  try {
    count = gm::numElements(t.shape);
  } catch (const InputError &e) {
    fail(where, "{}", e.what());
  }

  const json &offsets = field(entry, "data_offsets", where);
  if (!offsets.is_array() || offsets.size() != 2)
    fail(where, "'data_offsets' {} is not a pair [begin, end]", offsets.dump());
  std::int64_t begin = readCount(offsets[0], where, "data offset");
  std::int64_t end = readCount(offsets[1], where, "data offset");
  std::uint64_t dataSize = shard.file->size() - dataStart;
  if (end < begin)
    fail(where, "data_offsets [{}, {}] end before they begin", begin, end);
  if (static_cast<std::uint64_t>(end) > dataSize)
    fail(where, "data_offsets [{}, {}] reach past the {} data bytes of the file", begin, end, dataSize);
  // count <= 2^40 and sizes <= 8: no overflow.
  std::uint64_t need = static_cast<std::uint64_t>(count) * elementSize(t.dtype);
  if (static_cast<std::uint64_t>(end - begin) != need)
    fail(where, "data_offsets [{}, {}] hold {} bytes, {} {} needs {}", begin, end, end - begin, dtypeName(t.dtype),
         shapeString(t.shape), need);
  t.offset = dataStart + static_cast<std::uint64_t>(begin);
  t.bytes = shard.file->bytes().subspan(t.offset, need);
  return t;
}

void checkNoOverlap(const Shard &shard, std::size_t dataStart) {
  std::vector<const TensorView *> byOffset;
  for (const auto &[name, t] : shard.tensors)
    if (!t.bytes.empty()) // an empty tensor occupies nothing, wherever it points
      byOffset.push_back(&t);
  std::stable_sort(byOffset.begin(), byOffset.end(),
                   [](const TensorView *a, const TensorView *b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < byOffset.size(); ++i) {
    const TensorView &prev = *byOffset[i - 1], &next = *byOffset[i];
    if (next.offset < prev.offset + prev.bytes.size())
      fail(next.where(), "data_offsets [{}, {}] overlap tensor '{}' at [{}, {}]", next.offset - dataStart,
           next.offset - dataStart + next.bytes.size(), prev.name, prev.offset - dataStart,
           prev.offset - dataStart + prev.bytes.size());
  }
}

Shard readShard(const std::string &path) {
  Shard shard;
  shard.file = MappedFile::open(path);
  std::span<const std::byte> bytes = shard.file->bytes();
  if (bytes.size() < 8)
    fail(path, "{} bytes is too short for a safetensors file (no 8-byte header length)", bytes.size());
  std::uint64_t headerSize = 0;
  std::memcpy(&headerSize, bytes.data(), 8);
  if (headerSize > bytes.size() - 8)
    fail(path, "header length {} reaches past the end of the {}-byte file (not a safetensors file?)", headerSize,
         bytes.size());
  std::string_view text(reinterpret_cast<const char *>(bytes.data()) + 8, headerSize);
  json header = parseJson(text, fmt::format("{}: header", path));
  if (!header.is_object())
    fail(path, "header is not a JSON object");

  std::size_t dataStart = 8 + headerSize;
  for (const auto &[name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        fail(path, "__metadata__ is not a JSON object");
      for (const auto &[key, value] : entry.items()) {
        if (!value.is_string())
          fail(path, "__metadata__ '{}' is {}, not a string", key, value.dump());
        shard.metadata.emplace(key, value.get<std::string>());
      }
      continue;
    }
    shard.tensors.emplace(name, readEntry(name, entry, shard, dataStart));
  }
  checkNoOverlap(shard, dataStart);
  return shard;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// model.safetensors.index.json or model.safetensors as transformers saves
// them, otherwise the only index or (with no index) the only weights file.
std::string pickInDirectory(const fs::path &dir) {
  for (const char *name : {"model.safetensors.index.json", "model.safetensors"})
    if (fs::is_regular_file(dir / name))
      return (dir / name).string();
  std::vector<std::string> indexes, files;
  std::error_code error;
  fs::directory_iterator listing(dir, error);
  if (error)
    fail(dir.string(), "cannot list the directory ({})", error.message());
  for (const auto &entry : listing) {
    std::string name = entry.path().filename().string();
    if (endsWith(name, ".safetensors.index.json"))
      indexes.push_back(entry.path().string());
    else if (endsWith(name, ".safetensors"))
      files.push_back(entry.path().string());
  }
  if (indexes.size() == 1)
    return indexes[0];
  if (indexes.empty() && files.size() == 1)
    return files[0];
  if (indexes.empty() && files.empty())
    fail(dir.string(), "directory holds no .safetensors file");
  fail(dir.string(), "directory holds {} .safetensors.index.json and {} .safetensors files; name one",
       indexes.size(), files.size());
}

} // namespace

std::string_view dtypeName(DType dtype) { return info(dtype).name; }

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const DTypeInfo &entry : kDTypes)
    if (entry.name == name)
      return entry.dtype;
  return std::nullopt;
}

std::size_t elementSize(DType dtype) { return info(dtype).size; }

std::optional<gm::DType> irDType(DType dtype) { return info(dtype).ir; }

std::string TensorView::where() const { return tensorPlace(file ? file->path() : std::string("?"), name); }

Archive Archive::open(const std::string &path) {
  std::error_code notADirectory; // then MappedFile::open reports what is wrong with the path
  std::string chosen = fs::is_directory(path, notADirectory) ? pickInDirectory(path) : path;
  Archive archive;
  archive.path_ = chosen;
  if (!endsWith(chosen, ".json")) {
    Shard shard = readShard(chosen);
    archive.tensors_ = std::move(shard.tensors);
    archive.metadata_ = std::move(shard.metadata);
    return archive;
  }

  // A sharded model: the index maps every tensor to the file holding it.
  std::shared_ptr<const MappedFile> indexFile = MappedFile::open(chosen);
  std::span<const std::byte> indexBytes = indexFile->bytes();
  json index = parseJson({reinterpret_cast<const char *>(indexBytes.data()), indexBytes.size()}, chosen);
  if (!index.is_object() || !index.contains("weight_map"))
    fail(chosen, "no \"weight_map\" object (not a safetensors index?)");
  const json &weightMap = index.at("weight_map");
  if (!weightMap.is_object())
    fail(chosen, "\"weight_map\" is not a JSON object");
  fs::path dir = fs::path(chosen).parent_path();
  std::map<std::string, Shard, std::less<>> shards; // each file opened once
  for (const auto &[name, file] : weightMap.items()) {
    if (!file.is_string())
      fail(tensorPlace(chosen, name), "weight_map value {} is not a file name", file.dump());
    std::string shardName = file.get<std::string>();
    auto it = shards.find(shardName);
    if (it == shards.end())
      it = shards.emplace(shardName, readShard((dir / shardName).string())).first;
    auto found = it->second.tensors.find(name);
    if (found == it->second.tensors.end())
      fail(tensorPlace(chosen, name), "weight_map names {}, which has no such tensor", it->second.file->path());
    archive.tensors_.emplace(name, found->second);
  }
  for (const auto &[name, shard] : shards)
    archive.metadata_.insert(shard.metadata.begin(), shard.metadata.end());
  return archive;
}

std::vector<std::string> Archive::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto &[name, t] : tensors_)
    out.push_back(name);
  return out;
}

const TensorView *Archive::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView &Archive::tensor(std::string_view name) const {
  if (const TensorView *t = find(name))
    return *t;
  fail(tensorPlace(path_, name), "no such tensor");
}

namespace {

template <typename Out> std::vector<Out> widen(const TensorView &t, bool allowF64) {
  std::size_t n = static_cast<std::size_t>(t.numElements());
  std::vector<Out> out(n);
  const std::byte *p = t.bytes.data();
  auto each = [&](auto load) {
    for (std::size_t i = 0; i < n; ++i)
      out[i] = static_cast<Out>(load(i));
  };
  auto bits16 = [&](std::size_t i) {
    std::uint16_t b;
    std::memcpy(&b, p + 2 * i, 2);
    return b;
  };
  switch (t.dtype) {
  case DType::F16:
    each([&](std::size_t i) { return halfToFloat(bits16(i)); });
    return out;
  case DType::BF16:
    each([&](std::size_t i) { return bfloat16ToFloat(bits16(i)); });
    return out;
  case DType::F32:
    each([&](std::size_t i) {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      return v;
    });
    return out;
  case DType::F64:
    if (!allowF64)
      break;
    each([&](std::size_t i) {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      return v;
    });
    return out;
  case DType::Bool:
  case DType::U8:
  case DType::I8:
  case DType::I16:
  case DType::U16:
  case DType::I32:
  case DType::U32:
  case DType::I64:
  case DType::U64:
  case DType::F8E4M3:
  case DType::F8E5M2:
    break;
  }
  fail(t.where(), "dtype {}; reading as {} needs {}", dtypeName(t.dtype), allowF64 ? "double" : "float",
       allowF64 ? "F16, BF16, F32 or F64" : "F16, BF16 or F32");
}

} // namespace

std::vector<float> toFloats(const TensorView &tensor) { return widen<float>(tensor, false); }
std::vector<double> toDoubles(const TensorView &tensor) { return widen<double>(tensor, true); }

} // namespace gm::safetensors
