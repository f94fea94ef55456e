// Element types. The network IR is f32 almost everywhere; integers appear in
// index constants (Gather) and in shape arithmetic folded at import.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gm {

enum class DType : std::uint8_t { F32, F64, F16, BF16, I64, I32, I8, U8, Bool };

std::string_view dtypeName(DType dtype);             // "f32", "i64", ...
std::optional<DType> dtypeFromName(std::string_view name);
std::size_t dtypeSize(DType dtype);                  // bytes per element
bool isFloat(DType dtype);
bool isInteger(DType dtype);                         // includes Bool

} // namespace gm
