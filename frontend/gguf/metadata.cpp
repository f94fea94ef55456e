#include "frontend/gguf/metadata.h"

#include "ir/error.h"

#include <limits>
#include <type_traits>

namespace gm::gguf {

std::string_view valueTypeName(ValueType type) {
  switch (type) {
  case ValueType::U8: return "uint8";
  case ValueType::I8: return "int8";
  case ValueType::U16: return "uint16";
  case ValueType::I16: return "int16";
  case ValueType::U32: return "uint32";
  case ValueType::I32: return "int32";
  case ValueType::F32: return "float32";
  case ValueType::Bool: return "bool";
  case ValueType::String: return "string";
  case ValueType::Array: return "array";
  case ValueType::U64: return "uint64";
  case ValueType::I64: return "int64";
  case ValueType::F64: return "float64";
  }
  return "unknown";
}

std::string printableName(std::string_view name) {
  std::string out;
  for (char c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f)
      out += fmt::format("\\x{:02x}", byte);
    else
      out += c;
  }
  return out;
}

namespace {

template <typename T> constexpr std::string_view typeName() {
  if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, std::string>)
    return "string";
  else if constexpr (std::is_same_v<T, float>)
    return "float32";
  else if constexpr (std::is_same_v<T, double>)
    return "float64";
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return "uint32";
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return "uint64";
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return "int32";
  else
    return "int64";
}

struct NotConvertible {
  std::string reason;
};

// `item` as a T, or the reason it is not one.
template <typename T> std::variant<T, NotConvertible> convert(const Scalar &item, ValueType type) {
  return std::visit(
      [&](const auto &v) -> std::variant<T, NotConvertible> {
        using S = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, S>) {
          return v;
        } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool> && std::is_integral_v<S> &&
                             !std::is_same_v<S, bool>) {
          if (std::in_range<T>(v))
            return static_cast<T>(v);
          return NotConvertible{fmt::format("{} {} does not fit in {}", valueTypeName(type), v, typeName<T>())};
        } else if constexpr (std::is_floating_point_v<T> && std::is_floating_point_v<S>) {
          return static_cast<T>(v);
        } else {
          return NotConvertible{fmt::format("expected {}, found {}", typeName<T>(), valueTypeName(type))};
        }
      },
      item);
}

} // namespace

void Metadata::add(std::string key, Value value) {
  if (index_.count(key))
    fail(where(key), "defined twice");
  index_.emplace(key, entries_.size());
  entries_.emplace_back(std::move(key), std::move(value));
}

const Value *Metadata::value(std::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

std::string Metadata::where(std::string_view key) const {
  return fmt::format("{}: metadata '{}'", path_, printableName(key));
}

const Value &Metadata::require(std::string_view key) const {
  const Value *v = value(key);
  if (!v)
    fail(where(key), "missing");
  return *v;
}

template <typename T> std::optional<T> Metadata::find(std::string_view key) const {
  const Value *v = value(key);
  if (!v)
    return std::nullopt;
  if (v->isArray())
    fail(where(key), "expected {}, found an array of {}", typeName<T>(), valueTypeName(v->elementType));
  auto converted = convert<T>(v->items.at(0), v->type);
  if (auto *error = std::get_if<NotConvertible>(&converted))
    fail(where(key), "{}", error->reason);
  return std::get<T>(std::move(converted));
}

template <typename T> T Metadata::get(std::string_view key) const {
  require(key);
  return *find<T>(key);
}

template <typename T> std::vector<T> Metadata::getArray(std::string_view key) const {
  const Value &v = require(key);
  if (!v.isArray())
    fail(where(key), "expected an array of {}, found {}", typeName<T>(), valueTypeName(v.type));
  std::vector<T> out;
  out.reserve(v.items.size());
  for (std::size_t i = 0; i < v.items.size(); ++i) {
    auto converted = convert<T>(v.items[i], v.elementType);
    if (auto *error = std::get_if<NotConvertible>(&converted))
      fail(where(key), "element {}: {}", i, error->reason);
    out.push_back(std::get<T>(std::move(converted)));
  }
  return out;
}

std::size_t Metadata::arrayLength(std::string_view key) const {
  const Value &v = require(key);
  if (!v.isArray())
    fail(where(key), "expected an array, found {}", valueTypeName(v.type));
  return v.items.size();
}

#define GAMMA_GGUF_INSTANTIATE(T)                                                                                    \
  template T Metadata::get<T>(std::string_view) const;                                                               \
  template std::optional<T> Metadata::find<T>(std::string_view) const;                                               \
  template std::vector<T> Metadata::getArray<T>(std::string_view) const;
GAMMA_GGUF_INSTANTIATE(std::uint32_t)
GAMMA_GGUF_INSTANTIATE(std::uint64_t)
GAMMA_GGUF_INSTANTIATE(std::int32_t)
GAMMA_GGUF_INSTANTIATE(std::int64_t)
GAMMA_GGUF_INSTANTIATE(float)
GAMMA_GGUF_INSTANTIATE(double)
GAMMA_GGUF_INSTANTIATE(bool)
GAMMA_GGUF_INSTANTIATE(std::string)
#undef GAMMA_GGUF_INSTANTIATE

} // namespace gm::gguf
