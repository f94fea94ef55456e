#include "ir/dtype.h"

#include <array>
#include <utility>

namespace gm {

namespace {
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};
constexpr std::array kDTypes = {
    DTypeInfo{DType::F32, "f32", 4}, DTypeInfo{DType::F64, "f64", 8},
    DTypeInfo{DType::F16, "f16", 2}, DTypeInfo{DType::BF16, "bf16", 2},
    DTypeInfo{DType::I64, "i64", 8}, DTypeInfo{DType::I32, "i32", 4},
    DTypeInfo{DType::I8, "i8", 1},   DTypeInfo{DType::U8, "u8", 1},
    DTypeInfo{DType::Bool, "bool", 1},
};
} // namespace

std::string_view dtypeName(DType dtype) { return kDTypes[std::size_t(dtype)].name; }
std::size_t dtypeSize(DType dtype) { return kDTypes[std::size_t(dtype)].size; }

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const auto &info : kDTypes)
    if (info.name == name)
      return info.dtype;
  return std::nullopt;
}

bool isFloat(DType dtype) {
  switch (dtype) {
  case DType::F32:
  case DType::F64:
  case DType::F16:
  case DType::BF16:
    return true;
  case DType::I64:
  case DType::I32:
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return false;
  }
  return false;
}

bool isInteger(DType dtype) { return !isFloat(dtype); }

} // namespace gm
