// Constant tensors (weights). The bytes live either in memory owned by the
// constant or in a memory-mapped range of the model file; either way the
// constant knows its content hash, and, when it came from a file, where, so
// the textual IR can print a reference instead of the numbers.
#pragma once

#include "ir/mapped_file.h"
#include "ir/shape.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gm {

struct WeightRef {
  std::string path;        // absolute path of the file
  std::uint64_t offset = 0; // byte offset of the first element
  bool operator==(const WeightRef &) const = default;
};

// A block format weights are stored in (GGUF's quantisations, f16): every
// `blockBytes` bytes decode to `blockElements` values. The reader that knows
// a format registers it, so the textual IR can name it and be parsed back.
struct BlockFormat {
  std::string_view name; // "Q8_0", "F16"
  std::int64_t blockElements = 1, blockBytes = 4;
  void (*decode)(const std::byte *blocks, std::int64_t numBlocks, float *out) = nullptr;
};
void registerBlockFormat(const BlockFormat &format); // `format` must outlive the process
const BlockFormat *findBlockFormat(std::string_view name);

class Constant {
public:
  // Owns a copy of `bytes` (size must be numElements * dtypeSize).
  static std::shared_ptr<const Constant> fromBytes(TensorType type, std::span<const std::byte> bytes);
  // Refers to `file` at `offset`; throws InputError if the range is out of the file.
  static std::shared_ptr<const Constant> fromFile(TensorType type, std::shared_ptr<const MappedFile> file,
                                                  std::uint64_t offset);
  // Refers to `file` at `offset` holding the values of `type` (f32) in
  // `format`. Nothing is decoded here: readers decode ranges on demand, so a
  // model never lives decoded in memory. The last dimension must be a whole
  // number of blocks (GGUF rows are).
  static std::shared_ptr<const Constant> fromEncodedFile(TensorType type, const BlockFormat &format,
                                                         std::shared_ptr<const MappedFile> file, std::uint64_t offset);
  // Convenience for code that builds graphs (the demo, tests): values converted
  // to the dtype (integers exactly, floats to nearest).
  static std::shared_ptr<const Constant> fromDoubles(TensorType type, std::span<const double> values);

  const TensorType &type() const { return type_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::uint64_t hash() const { return hash_; }
  const std::optional<WeightRef> &source() const { return source_; }
  // The block format of an encoded constant; null for plain dtype storage,
  // whose bytes() are the elements of type().
  const BlockFormat *format() const { return format_; }

  // Elements [first, first + count) as doubles (exact widening). For an
  // encoded constant, whole rows are cheapest (no block decoded twice).
  void decode(std::int64_t first, std::int64_t count, double *out) const;

  // Element i as a double: exact for every dtype gamma stores (f16/bf16/f32
  // widen exactly; i64 beyond 2^53 is rejected at import).
  double at(std::int64_t i) const;
  std::vector<double> toDoubles() const;

private:
  TensorType type_;
  const std::byte *data_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t hash_ = 0;
  std::optional<WeightRef> source_;
  const BlockFormat *format_ = nullptr;
  std::vector<std::byte> owned_;
  std::shared_ptr<const MappedFile> file_;
};

std::uint64_t contentHash(std::span<const std::byte> bytes);

// Exact widening of half-precision bit patterns.
float halfToFloat(std::uint16_t bits);
float bfloat16ToFloat(std::uint16_t bits);
// Nearest-even narrowing; used only to store values known to be representable
// (parsing printed constants). Sound narrowing with a direction lives with the
// bound code.
std::uint16_t floatToHalfNearest(float value);
std::uint16_t floatToBfloat16Nearest(float value);

} // namespace gm
