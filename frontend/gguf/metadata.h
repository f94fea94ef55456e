// GGUF metadata: the key-value pairs before the tensor infos, kept with their
// exact GGUF types, and typed access whose errors name the file and the key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace gm::gguf {

// The numbers are GGUF's `gguf_type`.
enum class ValueType : std::uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

std::string_view valueTypeName(ValueType type); // "uint32", "string", ...

// A key or tensor name for an error message: control bytes become \xNN, so a
// corrupt name cannot split the one-line message.
std::string printableName(std::string_view name);

// One element of any non-array type; which alternative it holds is its type.
using Scalar = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t,
                            float, bool, std::string, std::uint64_t, std::int64_t, double>;

// A scalar is a value with one item; an array has `type` Array and its
// elements, all of `elementType` (GGUF arrays are homogeneous and, as in
// ggml, not nested).
struct Value {
  ValueType type = ValueType::U8;
  ValueType elementType = ValueType::U8; // equals `type` for a scalar
  std::vector<Scalar> items;
  bool isArray() const { return type == ValueType::Array; }
};

class Metadata {
public:
  explicit Metadata(std::string path = {}) : path_(std::move(path)) {}

  // Throws InputError naming the key if it is already there.
  void add(std::string key, Value value);

  const Value *value(std::string_view key) const; // nullptr when absent
  bool contains(std::string_view key) const { return value(key) != nullptr; }
  // In file order.
  const std::vector<std::pair<std::string, Value>> &entries() const { return entries_; }

  // Typed access for T in {uint32_t, uint64_t, int32_t, int64_t, float, double,
  // bool, std::string}. Integers convert from any integer type when the value
  // fits; float and double read float32 or float64 (float64 to float rounds to
  // nearest). Anything else, and a missing key for get, is an InputError
  // "path: metadata 'key': ...".
  template <typename T> T get(std::string_view key) const;
  template <typename T> std::optional<T> find(std::string_view key) const;
  // Every element of an array, converted as above.
  template <typename T> std::vector<T> getArray(std::string_view key) const;
  std::size_t arrayLength(std::string_view key) const;

private:
  const Value &require(std::string_view key) const;
  std::string where(std::string_view key) const;

  std::string path_;
  std::vector<std::pair<std::string, Value>> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

} // namespace gm::gguf
