#include "frontend/gguf/gguf_writer.h"

#include "frontend/output_file.h"
#include "ir/error.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <type_traits>

namespace gm::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

namespace {

template <typename T> void putLE(std::string &out, T v) { out.append(reinterpret_cast<const char *>(&v), sizeof v); }

void putString(std::string &out, std::string_view s) {
  putLE<std::uint64_t>(out, s.size());
  out += s;
}

// The variant alternative each GGUF type is read into (gguf_reader.cpp's readScalar).
template <typename T> bool holds(ValueType type) {
  switch (type) {
  case ValueType::U8: return std::is_same_v<T, std::uint8_t>;
  case ValueType::I8: return std::is_same_v<T, std::int8_t>;
  case ValueType::U16: return std::is_same_v<T, std::uint16_t>;
  case ValueType::I16: return std::is_same_v<T, std::int16_t>;
  case ValueType::U32: return std::is_same_v<T, std::uint32_t>;
  case ValueType::I32: return std::is_same_v<T, std::int32_t>;
  case ValueType::F32: return std::is_same_v<T, float>;
  case ValueType::Bool: return std::is_same_v<T, bool>;
  case ValueType::String: return std::is_same_v<T, std::string>;
  case ValueType::U64: return std::is_same_v<T, std::uint64_t>;
  case ValueType::I64: return std::is_same_v<T, std::int64_t>;
  case ValueType::F64: return std::is_same_v<T, double>;
  case ValueType::Array: return false;
  }
  return false;
}

void putScalar(std::string &out, const Scalar &item, ValueType type) {
  std::visit(
      [&](const auto &v) {
        using T = std::decay_t<decltype(v)>;
        GAMMA_ASSERT(holds<T>(type), "GGUF metadata value does not hold its declared type");
        if constexpr (std::is_same_v<T, std::string>)
          putString(out, v);
        else if constexpr (std::is_same_v<T, bool>)
          putLE<std::uint8_t>(out, v ? 1 : 0);
        else
          putLE(out, v);
      },
      item);
}

void putValue(std::string &out, const Value &value) {
  putLE(out, static_cast<std::uint32_t>(value.type));
  if (!value.isArray()) {
    GAMMA_ASSERT(value.items.size() == 1, "a GGUF scalar holds one item");
    putScalar(out, value.items[0], value.type);
    return;
  }
  GAMMA_ASSERT(value.elementType != ValueType::Array, "GGUF arrays are not nested");
  putLE(out, static_cast<std::uint32_t>(value.elementType));
  putLE<std::uint64_t>(out, value.items.size());
  for (const Scalar &item : value.items)
    putScalar(out, item, value.elementType);
}

std::uint64_t alignUp(std::uint64_t n, std::uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

std::uint64_t alignmentOf(const Metadata &metadata) {
  const Value *v = metadata.value("general.alignment");
  if (!v)
    return 32;
  GAMMA_ASSERT(v->type == ValueType::U32, "general.alignment is a uint32");
  const auto alignment = std::get<std::uint32_t>(v->items.at(0));
  GAMMA_ASSERT(std::has_single_bit(alignment), "general.alignment is a power of two");
  return alignment;
}

Value scalar(ValueType type, Scalar item) { return Value{type, type, {std::move(item)}}; }

} // namespace

Value stringValue(std::string s) { return scalar(ValueType::String, std::move(s)); }
Value u32Value(std::uint32_t v) { return scalar(ValueType::U32, v); }
Value f32Value(float v) { return scalar(ValueType::F32, v); }
Value boolValue(bool v) { return scalar(ValueType::Bool, v); }

Value stringArray(std::vector<std::string> items) {
  Value value{ValueType::Array, ValueType::String, {}};
  value.items.reserve(items.size());
  for (std::string &s : items)
    value.items.emplace_back(std::move(s));
  return value;
}

Value i32Array(const std::vector<std::int32_t> &items) {
  Value value{ValueType::Array, ValueType::I32, {}};
  value.items.assign(items.begin(), items.end());
  return value;
}

std::uint64_t TensorDecl::bytes() const {
  const GgmlTypeInfo &info = ggmlTypeInfo(type);
  std::int64_t n = 1;
  for (std::int64_t d : ne)
    n *= d;
  return static_cast<std::uint64_t>(n / info.blockSize * info.blockBytes);
}

Writer::Writer(std::string path, const Metadata &metadata, std::vector<TensorDecl> tensors)
    : path_(std::move(path)), tensors_(std::move(tensors)) {
  const std::uint64_t alignment = alignmentOf(metadata);
  std::string head = "GGUF";
  putLE<std::uint32_t>(head, 3);
  putLE<std::uint64_t>(head, tensors_.size());
  putLE<std::uint64_t>(head, metadata.entries().size());
  for (const auto &[key, value] : metadata.entries()) {
    putString(head, key);
    putValue(head, value);
  }
  std::uint64_t offset = 0;
  for (const TensorDecl &t : tensors_) {
    const GgmlTypeInfo &info = ggmlTypeInfo(t.type);
    const std::int64_t row = t.ne.empty() ? 1 : t.ne[0];
    if (row % info.blockSize != 0)
      fail(fmt::format("{}: tensor '{}'", path_, t.name), "rows of {} elements are not a multiple of the {} block size {}",
           row, info.name, info.blockSize);
    putString(head, t.name);
    putLE<std::uint32_t>(head, static_cast<std::uint32_t>(t.ne.size()));
    for (std::int64_t d : t.ne)
      putLE(head, d);
    putLE(head, static_cast<std::uint32_t>(t.type));
    putLE(head, offset);
    offsets_.push_back(offset);
    offset = alignUp(offset + t.bytes(), alignment);
  }
  dataStart_ = alignUp(head.size(), alignment);
  head.resize(dataStart_, '\0');
  total_ = dataStart_ + offset;

  // Removed again if anything below throws (OutputFile's destructor).
  out_.emplace(path_);
  put(head.data(), head.size());
  advancePastFullTensors();
}

Writer::~Writer() = default;

void Writer::put(const void *data, std::size_t size) {
  out_->put(data, size);
  written_ += size;
}

void Writer::padTo(std::uint64_t offset) {
  static constexpr char kZeros[256] = {};
  while (written_ < offset)
    put(kZeros, static_cast<std::size_t>(std::min<std::uint64_t>(sizeof kZeros, offset - written_)));
}

void Writer::advancePastFullTensors() {
  while (current_ < tensors_.size() && inCurrent_ == tensors_[current_].bytes()) {
    ++current_;
    inCurrent_ = 0;
    padTo(current_ < tensors_.size() ? dataStart_ + offsets_[current_] : total_);
  }
}

void Writer::append(std::span<const std::byte> bytes) {
  GAMMA_ASSERT(current_ < tensors_.size(), "GGUF append after the last tensor");
  GAMMA_ASSERT(bytes.size() <= tensors_[current_].bytes() - inCurrent_, "GGUF append past the end of a tensor");
  put(bytes.data(), bytes.size());
  inCurrent_ += bytes.size();
  advancePastFullTensors();
}

void Writer::finish() {
  GAMMA_ASSERT(current_ == tensors_.size() && written_ == total_, "GGUF finish before every tensor was written");
  out_->commit();
}

} // namespace gm::gguf
