#include "ir/shape.h"

#include "ir/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gm {

std::int64_t numElements(const Shape &shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0)
      fail("", "negative dimension {} in shape {}", d, shapeString(shape));
    if (d != 0 && n > kMaxElements / d)
      fail("", "shape {} has more than 2^40 elements", shapeString(shape));
    n *= d;
  }
  return n;
}

std::vector<std::int64_t> stridesOf(const Shape &shape) {
  std::vector<std::int64_t> strides(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;)
    strides[i - 1] = strides[i] * shape[i];
  return strides;
}

std::string shapeString(const Shape &shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

std::string typeString(const TensorType &type) {
  return fmt::format("{}{}", dtypeName(type.dtype), shapeString(type.shape));
}

bool broadcastShapes(const Shape &a, const Shape &b, Shape &out) {
  std::size_t rank = std::max(a.size(), b.size());
  out.assign(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return false;
    out[i] = da == 1 ? db : da;
  }
  return true;
}

bool normalizeAxis(std::int64_t axis, std::size_t rank, std::int64_t &out) {
  std::int64_t r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r)
    return false;
  out = axis < 0 ? axis + r : axis;
  return true;
}

// Output length of a sliding window, ONNX/PyTorch convention: with ceil_mode
// a last window that would start inside the end padding is dropped.
std::int64_t windowCount(std::int64_t size, std::int64_t padBegin, std::int64_t padEnd, std::int64_t kernel,
                         std::int64_t stride, std::int64_t dilation, bool ceilMode) {
  if (kernel < 1 || stride < 1 || dilation < 1 || padBegin < 0 || padEnd < 0)
    fail("", "kernel, stride and dilation must be >= 1 and pads >= 0");
  // Bounded so the arithmetic below cannot overflow, whatever a file says.
  constexpr std::int64_t kLimit = std::int64_t(1) << 30;
  if (kernel > kLimit || stride > kLimit || dilation > kLimit || padBegin > kLimit || padEnd > kLimit)
    fail("", "kernel, stride, dilation and pads must be at most 2^30");
  std::int64_t span = dilation * (kernel - 1) + 1;
  std::int64_t room = size + padBegin + padEnd - span;
  if (room < 0)
    fail("", "window of extent {} does not fit in {} (with padding {}+{})", span, size, padBegin, padEnd);
  std::int64_t count = (ceilMode ? (room + stride - 1) / stride : room / stride) + 1;
  if (ceilMode && (count - 1) * stride >= size + padBegin)
    --count;
  return count;
}

} // namespace gm
