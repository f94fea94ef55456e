// Data movement: reshape, transpose, concat, slice, gather.
#include "ir/error.h"
#include "ir/interp/kernels.h"

#include <algorithm>
#include <cmath>

namespace gm::ref::kernels {

namespace {

// y[i] = x[base + sum_d index_d(i) * strides[d]] over the row-major indices
// of y.shape: the common loop of transpose and slice.
void gatherStrided(const Tensor &x, std::int64_t base, std::span<const std::int64_t> strides, Tensor &y) {
  const Shape &shape = y.shape;
  std::size_t rank = shape.size();
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t off = base;
  for (std::size_t i = 0; i < y.data.size(); ++i) {
    y.data[i] = x.data[off];
    for (std::size_t d = rank; d-- > 0;) {
      off += strides[d];
      if (++index[d] < shape[d])
        break;
      off -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

} // namespace

Tensor reshape(const Attrs &attrs, const Tensor &x) {
  Shape shape = attrs.getInts("shape");
  if (numElements(shape) != numElements(x.shape))
    fail("", "reshape {} to {} changes the element count", shapeString(x.shape), shapeString(shape));
  Tensor y;
  y.shape = std::move(shape);
  y.data = x.data;
  return y;
}

Tensor transpose(const Attrs &attrs, const Tensor &x) {
  const auto &perm = attrs.getInts("perm");
  std::size_t rank = x.shape.size();
  if (perm.size() != rank)
    fail("", "perm has {} entries for rank {}", perm.size(), rank);
  std::vector<bool> seen(rank, false);
  Shape outShape;
  for (std::int64_t p : perm) {
    if (p < 0 || p >= static_cast<std::int64_t>(rank) || seen[p])
      fail("", "perm is not a permutation of [0,{})", rank);
    seen[p] = true;
    outShape.push_back(x.shape[p]);
  }
  // Output dim d walks input dim perm[d].
  std::vector<std::int64_t> inStrides = stridesOf(x.shape), strides(rank);
  for (std::size_t d = 0; d < rank; ++d)
    strides[d] = inStrides[perm[d]];
  Tensor y = makeTensor(outShape);
  gatherStrided(x, 0, strides, y);
  return y;
}

Tensor concat(const Attrs &attrs, std::span<const Tensor> operands) {
  const Shape &first = operands[0].shape;
  std::int64_t axis = attrs.getInt("axis");
  if (axis < 0 || axis >= static_cast<std::int64_t>(first.size()))
    fail("", "concat axis {} out of range for rank {}", axis, first.size());
  Shape outShape = first;
  outShape[axis] = 0;
  for (const Tensor &t : operands) {
    if (t.shape.size() != first.size())
      fail("", "concat operands differ in rank");
    for (std::size_t d = 0; d < first.size(); ++d)
      if (static_cast<std::int64_t>(d) != axis && t.shape[d] != first[d])
        fail("", "concat operands differ outside axis {}: {} vs {}", axis, shapeString(first), shapeString(t.shape));
    outShape[axis] += t.shape[axis];
  }
  std::span<const std::int64_t> dims(first);
  std::int64_t outer = product(dims.subspan(0, axis)), inner = product(dims.subspan(axis + 1));
  Tensor y;
  y.shape = outShape;
  y.data.reserve(static_cast<std::size_t>(numElements(outShape)));
  for (std::int64_t o = 0; o < outer; ++o)
    for (const Tensor &t : operands) {
      std::int64_t chunk = t.shape[axis] * inner;
      auto begin = t.data.begin() + o * chunk;
      y.data.insert(y.data.end(), begin, begin + chunk);
    }
  return y;
}

Tensor slice(const Attrs &attrs, const Tensor &x) {
  const auto &starts = attrs.getInts("starts");
  const auto &steps = attrs.getInts("steps");
  std::size_t rank = x.shape.size();
  // The type rule validates the normalised attributes and gives the shape.
  TensorType in[] = {TensorType{DType::F64, x.shape}};
  Shape outShape = inferResultTypes(Op::Slice, in, attrs)[0].shape;
  std::vector<std::int64_t> inStrides = stridesOf(x.shape);
  Tensor y = makeTensor(outShape);
  // Output index j along dim d reads input index starts[d] + j*steps[d].
  std::int64_t base = 0;
  std::vector<std::int64_t> strides(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    base += starts[d] * inStrides[d];
    strides[d] = steps[d] * inStrides[d];
  }
  gatherStrided(x, base, strides, y);
  return y;
}

Tensor gather(const Attrs &attrs, const Tensor &data, const Tensor &indices) {
  std::int64_t axis = attrs.getInt("axis");
  if (axis < 0 || axis >= static_cast<std::int64_t>(data.shape.size()))
    fail("", "gather axis {} out of range for rank {}", axis, data.shape.size());
  std::span<const std::int64_t> dims(data.shape);
  std::int64_t outer = product(dims.subspan(0, axis)), dim = data.shape[axis],
               inner = product(dims.subspan(axis + 1));
  Shape outShape(data.shape.begin(), data.shape.begin() + axis);
  outShape.insert(outShape.end(), indices.shape.begin(), indices.shape.end());
  outShape.insert(outShape.end(), data.shape.begin() + axis + 1, data.shape.end());
  // Normalise and check every index first, so an error never depends on
  // whether `outer` or `inner` happens to be zero.
  std::vector<std::int64_t> rows(indices.data.size());
  for (std::size_t i = 0; i < indices.data.size(); ++i) {
    double v = indices.data[i];
    if (!(v == std::trunc(v)) || std::fabs(v) > 9007199254740992.0)
      fail("", "gather index {} is not an integer", v);
    std::int64_t idx = static_cast<std::int64_t>(v);
    std::int64_t row = idx < 0 ? idx + dim : idx;
    if (row < 0 || row >= dim)
      fail("", "gather index {} out of range [0,{})", idx, dim);
    rows[i] = row;
  }
  Tensor y;
  y.shape = std::move(outShape);
  y.data.reserve(static_cast<std::size_t>(numElements(y.shape)));
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t row : rows) {
      auto begin = data.data.begin() + (o * dim + row) * inner;
      y.data.insert(y.data.end(), begin, begin + inner);
    }
  return y;
}

} // namespace gm::ref::kernels
