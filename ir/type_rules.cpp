// Type rules: the result types of every op, from operand types and attributes.
// The single place that knows what shapes an op accepts; the importer, the
// parser (through the verifier) and every pass go through it.
#include "ir/bound_type_rules.h"
#include "ir/error.h"
#include "ir/graph.h"

#include <algorithm>
#include <fmt/format.h>

namespace gm {

namespace {

using Types = std::vector<TensorType>;

void requireSameDType(std::span<const TensorType> operands) {
  for (const TensorType &t : operands)
    if (t.dtype != operands[0].dtype)
      fail("", "operand dtypes differ ({} vs {})", dtypeName(operands[0].dtype), dtypeName(t.dtype));
}

std::int64_t axisAttr(const Attrs &attrs, const char *name, std::size_t rank) {
  std::int64_t axis = attrs.getInt(name);
  std::int64_t out = 0;
  if (!normalizeAxis(axis, rank, out) || axis < 0)
    fail("", "{} {} out of range for rank {} (axes are stored non-negative)", name, axis, rank);
  return out;
}

void requireLength(const std::vector<std::int64_t> &values, std::size_t n, const char *name) {
  if (values.size() != n)
    fail("", "attribute '{}' has {} entries, expected {}", name, values.size(), n);
}

struct Window {
  std::vector<std::int64_t> kernel, strides, pads, dilations;
};

Shape windowedShape(const Shape &x, const Window &w, std::int64_t channels, bool ceilMode) {
  std::size_t k = x.size() - 2;
  Shape out = {x[0], channels};
  for (std::size_t i = 0; i < k; ++i)
    out.push_back(windowCount(x[2 + i], w.pads[i], w.pads[k + i], w.kernel[i], w.strides[i], w.dilations[i],
                              ceilMode));
  return out;
}

Window windowAttrs(const Attrs &attrs, std::size_t k, bool hasDilations, const Shape *kernelFromWeights) {
  Window w;
  w.kernel = kernelFromWeights ? Shape(kernelFromWeights->begin() + 2, kernelFromWeights->end())
                               : attrs.getInts("kernel");
  w.strides = attrs.getInts("strides");
  w.pads = attrs.getInts("pads");
  w.dilations = hasDilations ? attrs.getInts("dilations") : std::vector<std::int64_t>(k, 1);
  requireLength(w.kernel, k, "kernel");
  requireLength(w.strides, k, "strides");
  requireLength(w.pads, 2 * k, "pads");
  requireLength(w.dilations, k, "dilations");
  return w;
}

void requireSpatial(const TensorType &x) {
  if (x.rank() < 3 || x.rank() > 5)
    fail("", "expected [N,C,D...] with 1 to 3 spatial dims, got {}", typeString(x));
}

Types matmul(std::span<const TensorType> in) {
  requireSameDType(in);
  Shape a = in[0].shape, b = in[1].shape;
  if (a.empty() || b.empty())
    fail("", "matmul of a scalar");
  bool vecA = a.size() == 1, vecB = b.size() == 1;
  if (vecA)
    a.insert(a.begin(), 1);
  if (vecB)
    b.push_back(1);
  if (a.back() != b[b.size() - 2])
    fail("", "matmul inner dimensions differ: {} x {}", shapeString(in[0].shape), shapeString(in[1].shape));
  Shape batchA(a.begin(), a.end() - 2), batchB(b.begin(), b.end() - 2), batch;
  if (!broadcastShapes(batchA, batchB, batch))
    fail("", "matmul batch dimensions do not broadcast: {} x {}", shapeString(in[0].shape),
         shapeString(in[1].shape));
  Shape out = batch;
  if (!vecA)
    out.push_back(a[a.size() - 2]);
  if (!vecB)
    out.push_back(b.back());
  return {TensorType{in[0].dtype, out}};
}

Types conv(std::span<const TensorType> in, const Attrs &attrs) {
  const TensorType &x = in[0], &w = in[1];
  requireSameDType(in);
  requireSpatial(x);
  if (w.rank() != x.rank())
    fail("", "conv weights {} do not match input {}", typeString(w), typeString(x));
  std::int64_t group = attrs.getInt("group");
  std::int64_t m = w.shape[0];
  if (group < 1 || group > x.shape[1] || x.shape[1] != w.shape[1] * group || m % group != 0)
    fail("", "conv channels do not fit: input {}, weights {}, group {}", typeString(x), typeString(w), group);
  if (in.size() == 3 && in[2].shape != Shape{m})
    fail("", "conv bias {} should be [{}]", typeString(in[2]), m);
  Window win = windowAttrs(attrs, x.rank() - 2, true, &w.shape);
  return {TensorType{x.dtype, windowedShape(x.shape, win, m, false)}};
}

Types pool(Op op, const TensorType &x, const Attrs &attrs) {
  requireSpatial(x);
  Window win = windowAttrs(attrs, x.rank() - 2, op == Op::MaxPool, nullptr);
  if (op == Op::AveragePool)
    attrs.getInt("count_include_pad");
  return {TensorType{x.dtype, windowedShape(x.shape, win, x.shape[1], attrs.getInt("ceil_mode") != 0)}};
}

// layer_norm and rms_norm: normalise over the axes from `axis` on; the
// parameters broadcast to those axes.
Types layerNorm(Op op, std::span<const TensorType> in, const Attrs &attrs) {
  requireSameDType(in);
  const TensorType &x = in[0];
  std::int64_t axis = axisAttr(attrs, "axis", x.rank());
  attrs.getFloat("epsilon");
  Shape normalized(x.shape.begin() + axis, x.shape.end()), out;
  for (std::size_t i = 1; i < in.size(); ++i)
    if (!broadcastShapes(normalized, in[i].shape, out) || out != normalized)
      fail("", "{} parameter {} does not broadcast to {}", opInfo(op).keyword, typeString(in[i]),
           shapeString(normalized));
  return {x};
}

Types reduce(const TensorType &x, const Attrs &attrs) {
  const auto &axes = attrs.getInts("axes");
  bool keep = attrs.getInt("keepdims") != 0;
  if (axes.empty())
    fail("", "reduction over no axes");
  for (std::size_t i = 0; i < axes.size(); ++i)
    if (axes[i] < 0 || axes[i] >= std::int64_t(x.rank()) || (i > 0 && axes[i] <= axes[i - 1]))
      fail("", "reduction axes must be sorted, distinct and in [0,{})", x.rank());
  Shape out;
  for (std::size_t d = 0; d < x.rank(); ++d) {
    bool reduced = std::find(axes.begin(), axes.end(), std::int64_t(d)) != axes.end();
    if (!reduced)
      out.push_back(x.shape[d]);
    else if (keep)
      out.push_back(1);
  }
  return {TensorType{x.dtype, out}};
}

Types reshape(const TensorType &x, const Attrs &attrs) {
  Shape shape = attrs.getInts("shape");
  if (numElements(shape) != x.numElements())
    fail("", "reshape {} to {} changes the element count", typeString(x), shapeString(shape));
  return {TensorType{x.dtype, shape}};
}

Types transpose(const TensorType &x, const Attrs &attrs) {
  const auto &perm = attrs.getInts("perm");
  requireLength(perm, x.rank(), "perm");
  std::vector<bool> seen(x.rank(), false);
  Shape out;
  for (std::int64_t p : perm) {
    if (p < 0 || p >= std::int64_t(x.rank()) || seen[p])
      fail("", "perm is not a permutation of [0,{})", x.rank());
    seen[p] = true;
    out.push_back(x.shape[p]);
  }
  return {TensorType{x.dtype, out}};
}

Types concat(std::span<const TensorType> in, const Attrs &attrs) {
  requireSameDType(in);
  std::int64_t axis = axisAttr(attrs, "axis", in[0].rank());
  Shape out = in[0].shape;
  for (std::size_t i = 1; i < in.size(); ++i) {
    const Shape &s = in[i].shape;
    if (s.size() != out.size())
      fail("", "concat operands differ in rank");
    for (std::size_t d = 0; d < s.size(); ++d)
      if (std::int64_t(d) != axis && s[d] != out[d])
        fail("", "concat operands differ outside axis {}: {} vs {}", axis, shapeString(in[0].shape),
             shapeString(s));
    out[axis] += s[axis];
  }
  return {TensorType{in[0].dtype, out}};
}

Types slice(const TensorType &x, const Attrs &attrs) {
  const auto &starts = attrs.getInts("starts");
  const auto &ends = attrs.getInts("ends");
  const auto &steps = attrs.getInts("steps");
  requireLength(starts, x.rank(), "starts");
  requireLength(ends, x.rank(), "ends");
  requireLength(steps, x.rank(), "steps");
  Shape out;
  for (std::size_t d = 0; d < x.rank(); ++d) {
    std::int64_t dim = x.shape[d], s = starts[d], e = ends[d], step = steps[d];
    bool ok = step > 0 ? (s >= 0 && s <= dim && e >= 0 && e <= dim)
                       : (step < 0 && s >= 0 && s <= std::max<std::int64_t>(dim - 1, 0) && e >= -1 && e < dim);
    if (!ok)
      fail("", "slice dim {}: start {}, end {}, step {} not normalised for size {}", d, s, e, step, dim);
    std::int64_t n = step > 0 ? (e - s + step - 1) / step : (s - e + (-step) - 1) / (-step);
    out.push_back(std::max<std::int64_t>(n, 0));
  }
  return {TensorType{x.dtype, out}};
}

Types gather(std::span<const TensorType> in, const Attrs &attrs) {
  const TensorType &data = in[0], &indices = in[1];
  if (!isInteger(indices.dtype) || indices.dtype == DType::Bool)
    fail("", "gather indices must be integers, got {}", dtypeName(indices.dtype));
  std::int64_t axis = axisAttr(attrs, "axis", data.rank());
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), indices.shape.begin(), indices.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  return {TensorType{data.dtype, out}};
}

Types batchNorm(std::span<const TensorType> in, const Attrs &attrs) {
  requireSameDType(in);
  if (in[0].rank() < 2)
    fail("", "batch_norm input {} has no channel dimension", typeString(in[0]));
  for (std::size_t i = 1; i < in.size(); ++i)
    if (in[i].shape != Shape{in[0].shape[1]})
      fail("", "batch_norm parameter {} should be [{}]", typeString(in[i]), in[0].shape[1]);
  attrs.getFloat("epsilon");
  return {in[0]};
}

} // namespace

std::vector<TensorType> inferResultTypes(Op op, std::span<const TensorType> in, const Attrs &attrs) {
  const OpInfo &info = opInfo(op);
  int n = static_cast<int>(in.size());
  if (n < info.minOperands || (info.maxOperands != kVariadic && n > info.maxOperands))
    fail("", "{} takes {} operands, got {}", info.keyword,
         info.maxOperands == kVariadic ? fmt::format("at least {}", info.minOperands)
         : info.minOperands == info.maxOperands ? fmt::format("{}", info.minOperands)
                                                : fmt::format("{} to {}", info.minOperands, info.maxOperands),
         n);
  switch (op) {
  case Op::Input:
  case Op::Const:
    fail("", "{} has no type rule: its type is declared", info.keyword);
  case Op::Relu:
  case Op::Sigmoid:
  case Op::Tanh:
  case Op::Exp:
  case Op::Log:
  case Op::Erf:
  case Op::Sqrt:
  case Op::Neg:
  case Op::Abs:
  case Op::Silu:
  case Op::Gelu:
    return {in[0]};
  case Op::Add:
  case Op::Sub:
  case Op::Mul:
  case Op::Div:
  case Op::Pow: {
    requireSameDType(in);
    Shape out;
    if (!broadcastShapes(in[0].shape, in[1].shape, out))
      fail("", "shapes {} and {} do not broadcast", shapeString(in[0].shape), shapeString(in[1].shape));
    return {TensorType{in[0].dtype, out}};
  }
  case Op::MatMul:
    return matmul(in);
  case Op::Conv:
    return conv(in, attrs);
  case Op::BatchNorm:
    return batchNorm(in, attrs);
  case Op::MaxPool:
  case Op::AveragePool:
    return pool(op, in[0], attrs);
  case Op::Softmax:
    axisAttr(attrs, "axis", in[0].rank());
    return {in[0]};
  case Op::LayerNorm:
  case Op::RmsNorm:
    return layerNorm(op, in, attrs);
  case Op::ReduceMean:
  case Op::ReduceSum:
    return reduce(in[0], attrs);
  case Op::Reshape:
    return reshape(in[0], attrs);
  case Op::Transpose:
    return transpose(in[0], attrs);
  case Op::Concat:
    return concat(in, attrs);
  case Op::Slice:
    return slice(in[0], attrs);
  case Op::Gather:
    return gather(in, attrs);
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#include "ir/ops.def"
    return inferBoundResultTypes(op, in, attrs);
  }
  fail("", "unknown op");
}

} // namespace gm
