#include "frontend/gguf/gguf_reader.h"

#include "ir/error.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace gm::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr std::size_t kMaxDims = 4; // GGML_MAX_DIMS

// Reads little-endian fields front to back; a read past the end of the file
// is an InputError naming what was being read.
class Cursor {
public:
  Cursor(std::span<const std::byte> bytes, const std::string &path) : bytes_(bytes), path_(path) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }

  void need(std::uint64_t n, std::string_view what) const {
    if (n > remaining())
      fail(path_, "truncated in {}: needs {} bytes at offset {}, the file has {}", what, n, pos_, bytes_.size());
  }

  template <typename T> T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string readString(std::string_view what) {
    std::uint64_t length = read<std::uint64_t>(what);
    need(length, what);
    std::string s(reinterpret_cast<const char *>(bytes_.data() + pos_), static_cast<std::size_t>(length));
    pos_ += static_cast<std::size_t>(length);
    return s;
  }

private:
  std::span<const std::byte> bytes_;
  const std::string &path_;
  std::size_t pos_ = 0;
};

bool knownValueType(std::uint32_t type) { return type <= static_cast<std::uint32_t>(ValueType::F64); }

// The fewest bytes one element of `type` takes in the file (a string: its length field).
std::uint64_t minBytes(ValueType type) {
  switch (type) {
  case ValueType::U8:
  case ValueType::I8:
  case ValueType::Bool: return 1;
  case ValueType::U16:
  case ValueType::I16: return 2;
  case ValueType::U32:
  case ValueType::I32:
  case ValueType::F32: return 4;
  case ValueType::String:
  case ValueType::U64:
  case ValueType::I64:
  case ValueType::F64: return 8;
  case ValueType::Array: return 4 + 8; // element type and count
  }
  return 1;
}

Scalar readScalar(Cursor &in, ValueType type, std::string_view what) {
  switch (type) {
  case ValueType::U8: return in.read<std::uint8_t>(what);
  case ValueType::I8: return in.read<std::int8_t>(what);
  case ValueType::U16: return in.read<std::uint16_t>(what);
  case ValueType::I16: return in.read<std::int16_t>(what);
  case ValueType::U32: return in.read<std::uint32_t>(what);
  case ValueType::I32: return in.read<std::int32_t>(what);
  case ValueType::F32: return in.read<float>(what);
  case ValueType::Bool: return in.read<std::uint8_t>(what) != 0; // as ggml reads it
  case ValueType::String: return in.readString(what);
  case ValueType::U64: return in.read<std::uint64_t>(what);
  case ValueType::I64: return in.read<std::int64_t>(what);
  case ValueType::F64: return in.read<double>(what);
  case ValueType::Array: break;
  }
  GAMMA_ASSERT(false, "readScalar called for an array");
  return {};
}

Value readValue(Cursor &in, std::string_view key, const std::string &path) {
  std::string what = fmt::format("metadata '{}'", printableName(key));
  std::string where = fmt::format("{}: {}", path, what);
  std::uint32_t rawType = in.read<std::uint32_t>(what);
  if (!knownValueType(rawType))
    fail(where, "unknown value type {}", rawType);
  Value value;
  value.type = value.elementType = static_cast<ValueType>(rawType);
  if (!value.isArray()) {
    value.items.push_back(readScalar(in, value.type, what));
    return value;
  }
  std::uint32_t rawElement = in.read<std::uint32_t>(what);
  if (!knownValueType(rawElement))
    fail(where, "array of unknown value type {}", rawElement);
  value.elementType = static_cast<ValueType>(rawElement);
  if (value.elementType == ValueType::Array)
    fail(where, "arrays of arrays are not supported (ggml does not read them either)");
  std::uint64_t count = in.read<std::uint64_t>(what);
  if (count > in.remaining() / minBytes(value.elementType))
    fail(where, "array claims {} elements of {}, more than the rest of the file ({} bytes) can hold", count,
         valueTypeName(value.elementType), in.remaining());
  value.items.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i)
    value.items.push_back(readScalar(in, value.elementType, what));
  return value;
}

// The product of `dims`, or -1 when it overflows int64.
std::int64_t product(std::span<const std::int64_t> dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n))
      return -1;
  return n;
}

std::uint64_t alignUp(std::uint64_t n, std::uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

struct Header {
  std::uint64_t tensorCount = 0;
  std::uint64_t kvCount = 0;
};

// Lower bounds on the bytes of one entry, to reject impossible counts before
// allocating: a key length, a type and the smallest value; a name length,
// n_dims, a type and an offset.
constexpr std::uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;

Header readHeader(Cursor &in, const std::string &path) {
  std::uint32_t magic = in.read<std::uint32_t>("header (magic)");
  if (std::memcmp(&magic, "GGUF", 4) != 0)
    fail(path, "not a GGUF file (bad magic)");
  std::uint32_t version = in.read<std::uint32_t>("header (version)");
  if (version != File::kVersion) {
    if (__builtin_bswap32(version) == File::kVersion)
      fail(path, "big-endian GGUF files are not supported");
    fail(path, "GGUF version {} is not supported (only version {})", version, File::kVersion);
  }
  Header h;
  h.tensorCount = in.read<std::uint64_t>("header (tensor count)");
  h.kvCount = in.read<std::uint64_t>("header (metadata count)");
  if (h.kvCount > in.remaining() / kMinKvBytes)
    fail(path, "header claims {} metadata entries, more than the rest of the file ({} bytes) can hold", h.kvCount,
         in.remaining());
  return h;
}

// general.alignment as ggml reads it: a uint32 power of two.
std::uint64_t alignmentOf(const Metadata &metadata, const std::string &path) {
  const Value *value = metadata.value("general.alignment");
  if (!value)
    return File::kDefaultAlignment;
  std::string where = fmt::format("{}: metadata 'general.alignment'", path);
  if (value->type != ValueType::U32)
    fail(where, "expected uint32, found {}", valueTypeName(value->type));
  std::uint32_t alignment = metadata.get<std::uint32_t>("general.alignment");
  if (!std::has_single_bit(alignment))
    fail(where, "{} is not a power of two", alignment);
  return alignment;
}

// Name, shape, type and offset; `bytes` and `file` are set later.
TensorInfo readTensorInfo(Cursor &in, std::uint64_t index, const std::string &path) {
  TensorInfo t;
  t.name = in.readString(fmt::format("tensor info {} (name)", index));
  std::string what = fmt::format("tensor '{}'", printableName(t.name));
  std::string where = fmt::format("{}: {}", path, what);
  std::uint32_t dims = in.read<std::uint32_t>(what);
  if (dims > kMaxDims)
    fail(where, "{} dimensions, at most {} are supported", dims, kMaxDims);
  for (std::uint32_t d = 0; d < dims; ++d) {
    t.ne.push_back(in.read<std::int64_t>(what));
    if (t.ne.back() < 0)
      fail(where, "negative dimension {}", t.ne.back());
  }
  std::uint32_t rawType = in.read<std::uint32_t>(what);
  const GgmlTypeInfo *info = ggmlTypeInfo(rawType);
  if (!info)
    fail(where, "unknown ggml type {}", rawType);
  t.type = info->type;
  t.offset = in.read<std::uint64_t>(what);
  if (t.numElements() < 0)
    fail(where, "{} elements, more than int64 holds", fmt::join(t.ne, " x "));
  if (t.rowLength() % info->blockSize != 0)
    fail(where, "rows of {} elements are not a multiple of the {} block size {}", t.rowLength(), info->name,
         info->blockSize);
  return t;
}

// Points t.bytes at the tensor's data, which must lie inside the file.
void locateData(TensorInfo &t, std::uint64_t dataOffset, std::uint64_t alignment) {
  if (t.offset % alignment != 0)
    fail(t.where(), "data offset {} is not a multiple of the alignment {}", t.offset, alignment);
  std::uint64_t fileSize = t.file->size();
  std::uint64_t dataSize = fileSize > dataOffset ? fileSize - dataOffset : 0;
  // In 128 bits: blocks * blockBytes can pass 2^64 in a corrupt file.
  const GgmlTypeInfo &info = ggmlTypeInfo(t.type);
  unsigned __int128 size =
      static_cast<unsigned __int128>(t.numElements() / info.blockSize) * static_cast<std::uint64_t>(info.blockBytes);
  if (t.offset > dataSize || size > dataSize - t.offset)
    fail(t.where(), "data (offset {}, {} bytes) extends beyond the end of the file ({} bytes of tensor data)",
         t.offset, static_cast<std::uint64_t>(std::min<unsigned __int128>(size, UINT64_MAX)), dataSize);
  t.bytes = t.file->bytes().subspan(static_cast<std::size_t>(dataOffset + t.offset), static_cast<std::size_t>(size));
}

} // namespace

std::int64_t TensorInfo::numElements() const { return product(ne); }

std::int64_t TensorInfo::numRows() const {
  return ne.empty() ? 1 : product(std::span<const std::int64_t>(ne).subspan(1));
}

std::uint64_t TensorInfo::rowBytes() const {
  const GgmlTypeInfo &info = ggmlTypeInfo(type);
  return static_cast<std::uint64_t>(rowLength() / info.blockSize * info.blockBytes);
}

std::string TensorInfo::where() const {
  return fmt::format("{}: tensor '{}'", file ? file->path() : std::string("<no file>"), printableName(name));
}

File File::open(const std::string &path) {
  File f;
  f.file_ = MappedFile::open(path);
  f.metadata_ = Metadata(path);
  Cursor in(f.file_->bytes(), path);

  Header header = readHeader(in, path);
  for (std::uint64_t i = 0; i < header.kvCount; ++i) {
    std::string key = in.readString(fmt::format("metadata entry {} (key)", i));
    Value value = readValue(in, key, path);
    f.metadata_.add(std::move(key), std::move(value));
  }
  f.alignment_ = alignmentOf(f.metadata_, path);

  if (header.tensorCount > in.remaining() / kMinTensorInfoBytes)
    fail(path, "header claims {} tensors, more than the rest of the file ({} bytes) can hold", header.tensorCount,
         in.remaining());
  f.tensors_.reserve(static_cast<std::size_t>(header.tensorCount));
  for (std::uint64_t i = 0; i < header.tensorCount; ++i) {
    TensorInfo t = readTensorInfo(in, i, path);
    t.file = f.file_;
    if (f.index_.count(t.name))
      fail(t.where(), "defined twice");
    f.index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }

  f.dataOffset_ = alignUp(in.pos(), f.alignment_);
  for (TensorInfo &t : f.tensors_)
    locateData(t, f.dataOffset_, f.alignment_);
  return f;
}

const TensorInfo *File::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo &File::tensor(std::string_view name) const {
  const TensorInfo *t = find(name);
  if (!t)
    fail(path(), "tensor '{}' is not in the file", printableName(name));
  return *t;
}

} // namespace gm::gguf
