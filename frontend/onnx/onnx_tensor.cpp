// TensorProto -> Constant. Large float tensors are not copied: their bytes are
// located in the mapped model file (protobuf stores raw_data and packed
// float/double fields verbatim, little-endian) and the constant refers to them.
#include "frontend/onnx/onnx_internal.h"

#include "ir/error.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>

namespace gm::onnx_import::detail {

static_assert(std::endian::native == std::endian::little, "the ONNX importer assumes a little-endian host");

std::optional<DType> dtypeFromOnnx(std::int32_t elemType) {
  switch (elemType) {
  case onnx::TensorProto_DataType_FLOAT: return DType::F32;
  case onnx::TensorProto_DataType_DOUBLE: return DType::F64;
  case onnx::TensorProto_DataType_FLOAT16: return DType::F16;
  case onnx::TensorProto_DataType_BFLOAT16: return DType::BF16;
  case onnx::TensorProto_DataType_INT64: return DType::I64;
  case onnx::TensorProto_DataType_INT32: return DType::I32;
  case onnx::TensorProto_DataType_INT8: return DType::I8;
  case onnx::TensorProto_DataType_UINT8: return DType::U8;
  case onnx::TensorProto_DataType_BOOL: return DType::Bool;
  default: return std::nullopt;
  }
}

std::string onnxTypeName(std::int32_t elemType) {
  if (onnx::TensorProto_DataType_IsValid(elemType))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elemType));
  return fmt::format("{}", elemType);
}

void checkExactInDouble(const Constant &constant) {
  if (constant.type().dtype != DType::I64)
    return;
  constexpr std::int64_t kLimit = std::int64_t(1) << 53;
  auto bytes = constant.bytes();
  for (std::size_t off = 0; off + 8 <= bytes.size(); off += 8) {
    std::int64_t v;
    std::memcpy(&v, bytes.data() + off, 8);
    if (v > kLimit || v < -kLimit)
      fail("", "int64 value {} is beyond 2^53 (not exact in double precision)", v);
  }
}

std::shared_ptr<const Constant> constantFromDoubles(const TensorType &type, std::span<const double> values) {
  double lo = 0, hi = 0;
  switch (type.dtype) {
  case DType::F32:
  case DType::F64:
  case DType::F16:
  case DType::BF16:
  case DType::Bool:
    return Constant::fromDoubles(type, values);
  case DType::I64: lo = -9007199254740992.0, hi = 9007199254740992.0; break; // 2^53: exact in doubles
  case DType::I32: lo = -2147483648.0, hi = 2147483647.0; break;
  case DType::I8: lo = -128, hi = 127; break;
  case DType::U8: lo = 0, hi = 255; break;
  }
  for (double v : values)
    if (!(v >= lo && v <= hi)) // also catches nan
      fail("", "value {} does not fit {} (overflow or division by zero in a constant)", v, dtypeName(type.dtype));
  return Constant::fromDoubles(type, values);
}

std::vector<std::int64_t> constantInts(const Constant &constant) {
  DType dtype = constant.type().dtype;
  if (isFloat(dtype))
    fail("", "expected an integer tensor, got {}", typeString(constant.type()));
  std::int64_t n = constant.type().numElements();
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  if (dtype == DType::I64) {
    if (n > 0)
      std::memcpy(out.data(), constant.bytes().data(), out.size() * 8);
  } else {
    for (std::int64_t i = 0; i < n; ++i)
      out[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(constant.at(i));
  }
  return out;
}

std::optional<std::uint64_t> Importer::findInFile(std::span<const std::byte> bytes, int fieldNumber) {
  if (!file || bytes.empty() || bytes.size() > file->size())
    return std::nullopt;
  // A length-delimited protobuf field is stored as tag, length, bytes. Searching
  // for the tag and length followed by the first bytes of the data finds the
  // field in linear time even when the data is a long run of equal bytes (zero
  // biases), where a plain search of the data would be quadratic; every
  // candidate is then checked against the whole data.
  std::string needle;
  auto varint = [&needle](std::uint64_t v) {
    while (v >= 0x80) {
      needle += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    needle += static_cast<char>(v);
  };
  varint((static_cast<std::uint64_t>(fieldNumber) << 3) | 2);
  varint(bytes.size());
  std::size_t headerSize = needle.size();
  needle.append(reinterpret_cast<const char *>(bytes.data()), std::min<std::size_t>(bytes.size(), 16));

  const char *hay = reinterpret_cast<const char *>(file->bytes().data());
  std::size_t size = file->size();
  std::boyer_moore_horspool_searcher searcher(needle.begin(), needle.end());
  auto searchRange = [&](std::size_t from, std::size_t to) -> std::optional<std::uint64_t> {
    while (from < to && to - from >= needle.size()) {
      const char *it = std::search(hay + from, hay + to, searcher);
      if (it == hay + to)
        return std::nullopt;
      auto pos = static_cast<std::size_t>(it - hay);
      std::size_t data = pos + headerSize;
      if (bytes.size() <= size - data && std::memcmp(hay + data, bytes.data(), bytes.size()) == 0)
        return data;
      from = pos + 1;
    }
    return std::nullopt;
  };
  // Tensors are usually stored in the order they are read: look after the previous one first.
  std::size_t cursor = std::min(searchCursor, size);
  std::optional<std::uint64_t> found = searchRange(cursor, size);
  if (!found)
    found = searchRange(0, std::min(size, cursor + needle.size()));
  if (found)
    searchCursor = static_cast<std::size_t>(*found + bytes.size());
  return found;
}

namespace {

// Protobuf field numbers of TensorProto's data fields.
constexpr int kFloatDataField = 4;
constexpr int kRawDataField = 9;
constexpr int kDoubleDataField = 10;

std::shared_ptr<const Constant> fileOrCopy(const TensorType &type, std::span<const std::byte> bytes, int field,
                                           Importer &im) {
  if (isFloat(type.dtype) && type.numElements() > kFileRefMinElements)
    if (std::optional<std::uint64_t> offset = im.findInFile(bytes, field))
      return Constant::fromFile(type, im.file, *offset);
  return Constant::fromBytes(type, bytes);
}

template <typename T> std::span<const std::byte> asBytes(const google::protobuf::RepeatedField<T> &field) {
  return {reinterpret_cast<const std::byte *>(field.data()), static_cast<std::size_t>(field.size()) * sizeof(T)};
}

} // namespace

std::shared_ptr<const Constant> readTensor(const onnx::TensorProto &t, Importer &im) {
  if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL || t.external_data_size() > 0)
    fail("", "external data not supported");
  if (t.has_segment())
    fail("", "segmented tensors not supported");
  std::optional<DType> dtype = dtypeFromOnnx(t.data_type());
  if (!dtype)
    fail("", "data type {} not supported", onnxTypeName(t.data_type()));
  TensorType type{*dtype, Shape(t.dims().begin(), t.dims().end())};
  // Validates the dims (negative, more than 2^40 elements) before anything is allocated.
  std::int64_t n = type.numElements();
  std::size_t elemSize = dtypeSize(*dtype);
  std::uint64_t expected = static_cast<std::uint64_t>(n) * elemSize;
  auto checkSize = [&](std::uint64_t got) {
    if (got != expected)
      fail("", "{} bytes, expected {}", got, expected);
  };

  if (t.has_raw_data()) {
    const std::string &raw = t.raw_data();
    checkSize(raw.size());
    return fileOrCopy(type, {reinterpret_cast<const std::byte *>(raw.data()), raw.size()}, kRawDataField, im);
  }

  switch (*dtype) {
  case DType::F32:
    checkSize(std::uint64_t(t.float_data_size()) * 4);
    return fileOrCopy(type, asBytes(t.float_data()), kFloatDataField, im);
  case DType::F64:
    checkSize(std::uint64_t(t.double_data_size()) * 8);
    return fileOrCopy(type, asBytes(t.double_data()), kDoubleDataField, im);
  case DType::I64:
    checkSize(std::uint64_t(t.int64_data_size()) * 8);
    return Constant::fromBytes(type, asBytes(t.int64_data()));
  case DType::I32:
  case DType::I8:
  case DType::U8:
  case DType::Bool:
  case DType::F16:
  case DType::BF16: {
    // int32_data holds one element per entry (16-bit floats as their bit patterns).
    checkSize(std::uint64_t(t.int32_data_size()) * elemSize);
    std::vector<std::byte> bytes(static_cast<std::size_t>(expected));
    for (int i = 0; i < t.int32_data_size(); ++i) {
      std::int32_t v = t.int32_data(i);
      std::byte *dst = bytes.data() + std::size_t(i) * elemSize;
      switch (*dtype) {
      case DType::I32: std::memcpy(dst, &v, 4); break;
      case DType::I8:
      case DType::U8: *dst = static_cast<std::byte>(v & 0xff); break;
      case DType::Bool: *dst = static_cast<std::byte>(v != 0); break;
      default: {
        auto bits = static_cast<std::uint16_t>(v & 0xffff);
        std::memcpy(dst, &bits, 2);
        break;
      }
      }
    }
    return Constant::fromBytes(type, bytes);
  }
  }
  fail("", "data type {} not supported", onnxTypeName(t.data_type()));
}

} // namespace gm::onnx_import::detail
