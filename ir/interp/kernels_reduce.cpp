// Normalisations and reductions: softmax, layer_norm, reduce_mean, reduce_sum.
#include "ir/error.h"
#include "ir/interp/kernels.h"

#include <algorithm>
#include <cmath>

namespace gm::ref::kernels {

namespace {

std::int64_t axisAttr(const Attrs &attrs, const char *name, std::size_t rank) {
  std::int64_t axis = attrs.getInt(name);
  if (axis < 0 || axis >= static_cast<std::int64_t>(rank))
    fail("", "{} {} out of range for rank {}", name, axis, rank);
  return axis;
}

// The values of `t` broadcast (numpy) to `shape`, row-major.
std::vector<double> broadcastTo(const Tensor &t, const Shape &shape) {
  std::vector<std::int64_t> strides = broadcastStrides(t.shape, shape), index(shape.size(), 0);
  std::int64_t n = product(shape), off = 0;
  std::vector<double> out(n);
  for (std::int64_t i = 0; i < n; ++i) {
    out[i] = t.data[off];
    for (std::size_t d = shape.size(); d-- > 0;) {
      off += strides[d];
      if (++index[d] < shape[d])
        break;
      off -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

} // namespace

Tensor softmax(const Attrs &attrs, const Tensor &x) {
  std::int64_t axis = axisAttr(attrs, "axis", x.shape.size());
  std::span<const std::int64_t> dims(x.shape);
  std::int64_t outer = product(dims.subspan(0, axis)), n = x.shape[axis], inner = product(dims.subspan(axis + 1));
  Tensor y = makeTensor(x.shape);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      std::int64_t base = o * n * inner + i;
      double max = -INFINITY;
      for (std::int64_t j = 0; j < n; ++j)
        max = std::max(max, x.data[base + j * inner]);
      double sum = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        double e = std::exp(x.data[base + j * inner] - max);
        y.data[base + j * inner] = e;
        sum += e;
      }
      for (std::int64_t j = 0; j < n; ++j)
        y.data[base + j * inner] /= sum;
    }
  return y;
}

Tensor layerNorm(const Attrs &attrs, std::span<const Tensor> operands) {
  const Tensor &x = operands[0];
  std::int64_t axis = axisAttr(attrs, "axis", x.shape.size());
  double epsilon = attrs.getFloat("epsilon");
  Shape normalized(x.shape.begin() + axis, x.shape.end());
  // scale and bias broadcast (numpy) to x.shape[axis:].
  std::vector<std::vector<std::int64_t>> paramStrides;
  for (std::size_t p = 1; p < operands.size(); ++p) {
    Shape out;
    if (operands[p].shape.size() > normalized.size() || !broadcastShapes(normalized, operands[p].shape, out) ||
        out != normalized)
      fail("", "layer_norm parameter {} does not broadcast to {}", shapeString(operands[p].shape),
           shapeString(normalized));
    paramStrides.push_back(broadcastStrides(operands[p].shape, normalized));
  }
  std::int64_t inner = product(normalized);
  std::int64_t outer = product(std::span<const std::int64_t>(x.shape).subspan(0, axis));
  Tensor y = makeTensor(x.shape);
  std::vector<std::int64_t> index(normalized.size());
  for (std::int64_t o = 0; o < outer; ++o) {
    const double *px = x.data.data() + o * inner;
    double *py = y.data.data() + o * inner;
    double mean = 0;
    for (std::int64_t i = 0; i < inner; ++i)
      mean += px[i];
    mean /= static_cast<double>(inner);
    double var = 0;
    for (std::int64_t i = 0; i < inner; ++i)
      var += (px[i] - mean) * (px[i] - mean);
    var /= static_cast<double>(inner);
    double sd = std::sqrt(var + epsilon);
    std::fill(index.begin(), index.end(), 0);
    std::int64_t offScale = 0, offBias = 0;
    for (std::int64_t i = 0; i < inner; ++i) {
      double v = (px[i] - mean) / sd * operands[1].data[offScale];
      if (operands.size() == 3)
        v += operands[2].data[offBias];
      py[i] = v;
      for (std::size_t d = normalized.size(); d-- > 0;) {
        offScale += paramStrides[0][d];
        if (operands.size() == 3)
          offBias += paramStrides[1][d];
        if (++index[d] < normalized[d])
          break;
        offScale -= paramStrides[0][d] * normalized[d];
        if (operands.size() == 3)
          offBias -= paramStrides[1][d] * normalized[d];
        index[d] = 0;
      }
    }
  }
  return y;
}

// y = x / sqrt(mean(x², axes from `axis`) + ε) · scale, scale broadcasting
// to the normalised axes.
Tensor rmsNorm(const Attrs &attrs, std::span<const Tensor> operands) {
  const Tensor &x = operands[0], &scale = operands[1];
  std::int64_t axis = axisAttr(attrs, "axis", x.shape.size());
  double epsilon = attrs.getFloat("epsilon");
  Shape normalized(x.shape.begin() + axis, x.shape.end()), out;
  if (scale.shape.size() > normalized.size() || !broadcastShapes(normalized, scale.shape, out) || out != normalized)
    fail("", "rms_norm parameter {} does not broadcast to {}", shapeString(scale.shape), shapeString(normalized));
  std::int64_t inner = product(normalized);
  std::int64_t outer = product(std::span<const std::int64_t>(x.shape).subspan(0, axis));
  std::vector<double> s = broadcastTo(scale, normalized);
  Tensor y = makeTensor(x.shape);
  for (std::int64_t o = 0; o < outer; ++o) {
    const double *px = x.data.data() + o * inner;
    double *py = y.data.data() + o * inner;
    double squares = 0;
    for (std::int64_t i = 0; i < inner; ++i)
      squares += px[i] * px[i];
    double rms = std::sqrt(squares / static_cast<double>(inner) + epsilon);
    for (std::int64_t i = 0; i < inner; ++i)
      py[i] = px[i] / rms * s[i];
  }
  return y;
}

Tensor reduce(Op op, const Attrs &attrs, const Tensor &x) {
  const auto &axes = attrs.getInts("axes");
  bool keepdims = attrs.getInt("keepdims") != 0;
  std::size_t rank = x.shape.size();
  if (axes.empty())
    fail("", "reduction over no axes");
  std::vector<bool> reduced(rank, false);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= static_cast<std::int64_t>(rank) || (i > 0 && axes[i] <= axes[i - 1]))
      fail("", "reduction axes must be sorted, distinct and in [0,{})", rank);
    reduced[axes[i]] = true;
  }
  Shape outShape;
  Shape keptShape(rank); // the output shape with keepdims, for index mapping
  std::int64_t count = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    keptShape[d] = reduced[d] ? 1 : x.shape[d];
    if (reduced[d])
      count *= x.shape[d];
    if (!reduced[d])
      outShape.push_back(x.shape[d]);
    else if (keepdims)
      outShape.push_back(1);
  }
  Tensor y = makeTensor(outShape);
  // Each input element adds into the output element it maps to: strides of
  // the kept-dims output, with 0 along the reduced axes.
  std::vector<std::int64_t> strides = broadcastStrides(keptShape, x.shape);
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t off = 0;
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    y.data[off] += x.data[i];
    for (std::size_t d = rank; d-- > 0;) {
      off += strides[d];
      if (++index[d] < x.shape[d])
        break;
      off -= strides[d] * x.shape[d];
      index[d] = 0;
    }
  }
  if (op == Op::ReduceMean)
    for (double &v : y.data)
      v /= static_cast<double>(count); // 0/0 = NaN for an empty reduction
  return y;
}

} // namespace gm::ref::kernels
