#include "ir/constant.h"

#include "ir/error.h"

#include <algorithm>
#include <bit>
#include <mutex>
#include <cmath>
#include <xxhash.h>

namespace gm {

std::uint64_t contentHash(std::span<const std::byte> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

namespace {
std::size_t byteSize(const TensorType &type) {
  return static_cast<std::size_t>(type.numElements()) * dtypeSize(type.dtype);
}
} // namespace

std::shared_ptr<const Constant> Constant::fromBytes(TensorType type, std::span<const std::byte> bytes) {
  std::size_t expected = byteSize(type);
  if (bytes.size() != expected)
    fail("", "constant {} needs {} bytes, got {}", typeString(type), expected, bytes.size());
  auto c = std::make_shared<Constant>();
  c->type_ = std::move(type);
  c->owned_.assign(bytes.begin(), bytes.end());
  c->data_ = c->owned_.data();
  c->size_ = c->owned_.size();
  c->hash_ = contentHash(c->bytes());
  return c;
}

std::shared_ptr<const Constant> Constant::fromFile(TensorType type, std::shared_ptr<const MappedFile> file,
                                                   std::uint64_t offset) {
  std::size_t expected = byteSize(type);
  if (offset > file->size() || expected > file->size() - offset)
    fail(file->path(), "constant {} at offset {} runs past the end of the file ({} bytes)", typeString(type),
         offset, file->size());
  auto c = std::make_shared<Constant>();
  c->type_ = std::move(type);
  c->data_ = file->bytes().data() + offset;
  c->size_ = expected;
  c->hash_ = contentHash(c->bytes());
  c->source_ = WeightRef{file->path(), offset};
  c->file_ = std::move(file);
  return c;
}

namespace {
struct FormatRegistry {
  std::mutex mutex;
  std::vector<const BlockFormat *> formats;
};
FormatRegistry &formatRegistry() {
  static FormatRegistry registry;
  return registry;
}
} // namespace

void registerBlockFormat(const BlockFormat &format) {
  FormatRegistry &r = formatRegistry();
  std::lock_guard lock(r.mutex);
  for (const BlockFormat *f : r.formats)
    if (f->name == format.name)
      return;
  r.formats.push_back(&format);
}

const BlockFormat *findBlockFormat(std::string_view name) {
  FormatRegistry &r = formatRegistry();
  std::lock_guard lock(r.mutex);
  for (const BlockFormat *f : r.formats)
    if (f->name == name)
      return f;
  return nullptr;
}

std::shared_ptr<const Constant> Constant::fromEncodedFile(TensorType type, const BlockFormat &format,
                                                          std::shared_ptr<const MappedFile> file,
                                                          std::uint64_t offset) {
  std::int64_t n = type.numElements();
  std::int64_t last = type.shape.empty() ? 1 : type.shape.back();
  if (type.dtype != DType::F32 || last % format.blockElements != 0)
    fail(file->path(), "constant {} at offset {} cannot be stored in {} (blocks of {} elements along the last axis)",
         typeString(type), offset, format.name, format.blockElements);
  std::size_t expected = static_cast<std::size_t>(n / format.blockElements * format.blockBytes);
  if (offset > file->size() || expected > file->size() - offset)
    fail(file->path(), "constant {} in {} at offset {} runs past the end of the file ({} bytes)", typeString(type),
         format.name, offset, file->size());
  auto c = std::make_shared<Constant>();
  c->type_ = std::move(type);
  c->data_ = file->bytes().data() + offset;
  c->size_ = expected;
  c->hash_ = contentHash(c->bytes());
  c->source_ = WeightRef{file->path(), offset};
  c->format_ = &format;
  c->file_ = std::move(file);
  return c;
}

void Constant::decode(std::int64_t first, std::int64_t count, double *out) const {
  GAMMA_ASSERT(first >= 0 && count >= 0 && first + count <= type_.numElements(), "decode out of range");
  if (!format_) {
    for (std::int64_t i = 0; i < count; ++i)
      out[i] = at(first + i);
    return;
  }
  // Whole blocks through a small float buffer; partial blocks at the ends.
  const std::int64_t be = format_->blockElements;
  float buffer[1024];
  const std::int64_t chunkBlocks = std::max<std::int64_t>(1, 1024 / be);
  std::int64_t block = first / be, end = first + count;
  while (block * be < end) {
    std::int64_t blocks = std::min(chunkBlocks, (end - block * be + be - 1) / be);
    GAMMA_ASSERT(blocks * be <= 1024, "block format larger than the decode buffer");
    format_->decode(data_ + block * format_->blockBytes, blocks, buffer);
    for (std::int64_t i = std::max(first, block * be); i < std::min(end, (block + blocks) * be); ++i)
      out[i - first] = buffer[i - block * be];
    block += blocks;
  }
}

namespace {
template <typename T> void store(std::vector<std::byte> &out, std::size_t i, T value) {
  std::memcpy(out.data() + i * sizeof(T), &value, sizeof(T));
}
template <typename T> T load(const std::byte *data, std::int64_t i) {
  T value;
  std::memcpy(&value, data + i * static_cast<std::int64_t>(sizeof(T)), sizeof(T));
  return value;
}
} // namespace

std::shared_ptr<const Constant> Constant::fromDoubles(TensorType type, std::span<const double> values) {
  std::size_t n = static_cast<std::size_t>(type.numElements());
  if (values.size() != n)
    fail("", "constant {} needs {} values, got {}", typeString(type), n, values.size());
  std::vector<std::byte> bytes(n * dtypeSize(type.dtype));
  for (std::size_t i = 0; i < n; ++i) {
    double v = values[i];
    switch (type.dtype) {
    case DType::F32: store(bytes, i, static_cast<float>(v)); break;
    case DType::F64: store(bytes, i, v); break;
    case DType::F16: store(bytes, i, floatToHalfNearest(static_cast<float>(v))); break;
    case DType::BF16: store(bytes, i, floatToBfloat16Nearest(static_cast<float>(v))); break;
    case DType::I64: store(bytes, i, static_cast<std::int64_t>(v)); break;
    case DType::I32: store(bytes, i, static_cast<std::int32_t>(v)); break;
    case DType::I8: store(bytes, i, static_cast<std::int8_t>(v)); break;
    case DType::U8: store(bytes, i, static_cast<std::uint8_t>(v)); break;
    case DType::Bool: store(bytes, i, static_cast<std::uint8_t>(v != 0.0)); break;
    }
  }
  return fromBytes(std::move(type), bytes);
}

double Constant::at(std::int64_t i) const {
  if (format_) {
    double v;
    decode(i, 1, &v);
    return v;
  }
  switch (type_.dtype) {
  case DType::F32: return load<float>(data_, i);
  case DType::F64: return load<double>(data_, i);
  case DType::F16: return halfToFloat(load<std::uint16_t>(data_, i));
  case DType::BF16: return bfloat16ToFloat(load<std::uint16_t>(data_, i));
  case DType::I64: return static_cast<double>(load<std::int64_t>(data_, i));
  case DType::I32: return load<std::int32_t>(data_, i);
  case DType::I8: return load<std::int8_t>(data_, i);
  case DType::U8: return load<std::uint8_t>(data_, i);
  case DType::Bool: return load<std::uint8_t>(data_, i) != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

std::vector<double> Constant::toDoubles() const {
  std::int64_t n = type_.numElements();
  std::vector<double> out(static_cast<std::size_t>(n));
  decode(0, n, out.data());
  return out;
}

float halfToFloat(std::uint16_t h) {
  std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) // inf or nan
    return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) { // zero or subnormal: mant * 2^-24, exact in float
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

float bfloat16ToFloat(std::uint16_t bits) { return std::bit_cast<float>(std::uint32_t(bits) << 16); }

std::uint16_t floatToBfloat16Nearest(float value) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  if (std::isnan(value))
    return static_cast<std::uint16_t>((x >> 16) | 0x40);
  std::uint32_t rounding = 0x7fff + ((x >> 16) & 1);
  return static_cast<std::uint16_t>((x + rounding) >> 16);
}

std::uint16_t floatToHalfNearest(float value) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  float a = std::fabs(value);
  if (std::isnan(value))
    return sign | 0x7e00;
  if (a >= 65520.0f) // rounds to infinity
    return sign | 0x7c00;
  if (a < 6.103515625e-05f) { // subnormal half: multiples of 2^-24
    float q = std::nearbyint(a * 16777216.0f); // exact scaling, round to nearest even
    return sign | static_cast<std::uint16_t>(q);
  }
  std::uint32_t ax = std::bit_cast<std::uint32_t>(a);
  std::uint32_t mant = ax & 0x7fffffu;
  std::uint32_t exp = (ax >> 23) - 112;
  std::uint32_t half = (exp << 10) | (mant >> 13);
  std::uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
    ++half; // carries into the exponent correctly
  return sign | static_cast<std::uint16_t>(half);
}

} // namespace gm
