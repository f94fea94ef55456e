// Static shapes. Every value in the IR has one; dynamic dimensions are
// resolved at import (the batch dimension becomes 1).
#pragma once

#include "ir/dtype.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gm {

using Shape = std::vector<std::int64_t>;

// Largest element count a tensor may have: more is an input error, long before
// any allocation is attempted (2^40 elements = 4 TiB of f32).
constexpr std::int64_t kMaxElements = std::int64_t(1) << 40;

// Product of the dimensions. Throws InputError for negative dimensions or a
// product above kMaxElements, so a hostile file cannot overflow it.
std::int64_t numElements(const Shape &shape);

// Row-major strides in elements.
std::vector<std::int64_t> stridesOf(const Shape &shape);

// "[1,784]" for shapes; "f32[1,784]" for types.
std::string shapeString(const Shape &shape);

struct TensorType {
  DType dtype = DType::F32;
  Shape shape;

  std::int64_t numElements() const { return gm::numElements(shape); }
  std::size_t rank() const { return shape.size(); }
  bool operator==(const TensorType &) const = default;
};

std::string typeString(const TensorType &type);

// numpy broadcasting of two shapes; nullopt-like failure is reported by
// returning false.
bool broadcastShapes(const Shape &a, const Shape &b, Shape &out);

// Normalises a possibly negative axis against a rank; false when out of range.
bool normalizeAxis(std::int64_t axis, std::size_t rank, std::int64_t &out);

// Number of positions of a sliding window (conv, pools) along one dimension.
// ONNX/PyTorch convention: with ceil_mode a last window that would start in the
// end padding is dropped. Throws InputError for values that do not fit.
std::int64_t windowCount(std::int64_t size, std::int64_t padBegin, std::int64_t padEnd, std::int64_t kernel,
                         std::int64_t stride, std::int64_t dilation, bool ceilMode);

} // namespace gm
