// One converter per ONNX op type: reads the node's inputs and attributes
// (filling ONNX defaults by opset), resolves everything the IR wants static
// (shapes, pads, slice bounds, axes), and emits IR ops through NodeCtx::emit,
// which folds them when every operand is a constant.
#include "frontend/onnx/onnx_internal.h"

#include "ir/error.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace gm::onnx_import::detail {

namespace {

using Ints = std::vector<std::int64_t>;

// Window parameters are bounded so that no arithmetic on them can overflow.
constexpr std::int64_t kMaxWindowParam = std::int64_t(1) << 20;

std::int64_t normAxis(std::int64_t axis, std::int64_t rank, const char *what = "axis") {
  if (axis < -rank || axis >= rank)
    fail("", "{} {} out of range for rank {}", what, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

// Sorted, distinct, non-negative axes.
Ints normAxes(const Ints &axes, std::int64_t rank, const char *what = "axes") {
  Ints out;
  for (std::int64_t a : axes)
    out.push_back(normAxis(a, rank, what));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    fail("", "{} {} repeat an axis", what, fmt::join(axes, ","));
  return out;
}

std::int64_t product(Shape::const_iterator begin, Shape::const_iterator end) {
  return numElements(Shape(begin, end));
}

Attrs attrs1(std::string_view name, AttrValue value) {
  Attrs a;
  a.set(name, std::move(value));
  return a;
}

// ---- elementwise ------------------------------------------------------------

template <Op op> void unary(NodeCtx &c) { c.setOutput(0, c.emit(op, {c.input(0)})); }

template <Op op> void binary(NodeCtx &c) {
  Val a = c.input(0), b = c.input(1);
  if (op == Op::Pow && b.isConst() && c.type(b).dtype != c.type(a).dtype) {
    // ONNX Pow allows an exponent of another type; the IR wants equal dtypes.
    const Constant &e = *b.host->constant;
    checkExactInDouble(e);
    std::vector<double> values = e.toDoubles();
    std::shared_ptr<const Constant> converted = constantFromDoubles(TensorType{c.type(a).dtype, e.type().shape}, values);
    if (converted->toDoubles() != values)
      fail("", "exponent {} is not exactly representable as {}", typeString(e.type()), dtypeName(c.type(a).dtype));
    b = c.im.hostVal(std::move(converted));
  }
  c.setOutput(0, c.emit(op, {a, b}));
}

// ---- products ---------------------------------------------------------------

void matMul(NodeCtx &c) { c.setOutput(0, c.emit(Op::MatMul, {c.input(0), c.input(1)})); }

void gemm(NodeCtx &c) {
  Val a = c.input(0), b = c.input(1);
  std::optional<Val> bias = c.optInput(2);
  if (c.type(a).rank() != 2 || c.type(b).rank() != 2)
    fail("", "Gemm needs 2-D A and B, got {} and {}", typeString(c.type(a)), typeString(c.type(b)));
  double alpha = c.attrFloat("alpha", 1.0), beta = c.attrFloat("beta", 1.0);
  DType dtype = c.type(a).dtype;
  if (c.attrInt("transA", 0) != 0)
    a = c.emit(Op::Transpose, {a}, attrs1("perm", Ints{1, 0}));
  if (c.attrInt("transB", 0) != 0)
    b = c.emit(Op::Transpose, {b}, attrs1("perm", Ints{1, 0})); // file-backed weights keep their reference
  Val y = c.emit(Op::MatMul, {a, b});
  if (alpha != 1.0)
    y = c.emit(Op::Mul, {y, c.scalar(alpha, dtype)});
  if (bias && beta != 0.0) {
    Val cb = *bias;
    if (beta != 1.0)
      cb = c.emit(Op::Mul, {cb, c.scalar(beta, c.type(cb).dtype)});
    Shape mn = c.type(y).shape;
    y = c.emit(Op::Add, {y, cb});
    if (c.type(y).shape != mn)
      fail("", "Gemm C {} does not broadcast to {}", typeString(c.type(*bias)), shapeString(mn));
  }
  c.setOutput(0, y);
}

// ---- windows ----------------------------------------------------------------

struct WindowSpec {
  Ints kernel, strides, pads, dilations;
};

void checkWindowParam(const Ints &values, std::size_t n, std::int64_t min, const char *name) {
  if (values.size() != n)
    fail("", "attribute '{}' has {} entries, expected {}", name, values.size(), n);
  for (std::int64_t v : values)
    if (v < min || v > kMaxWindowParam)
      fail("", "attribute '{}' value {} out of range", name, v);
}

// Strides, dilations and pads with ONNX defaults, auto_pad resolved to explicit pads.
WindowSpec windowSpec(NodeCtx &c, const Shape &x, Ints kernel, bool hasDilations) {
  std::size_t k = x.size() - 2;
  WindowSpec w;
  w.kernel = std::move(kernel);
  w.strides = c.attrInts("strides", Ints(k, 1));
  w.dilations = c.attrInts("dilations", Ints(k, 1));
  checkWindowParam(w.kernel, k, 1, "kernel_shape");
  checkWindowParam(w.strides, k, 1, "strides");
  checkWindowParam(w.dilations, k, 1, "dilations");
  if (!hasDilations && std::any_of(w.dilations.begin(), w.dilations.end(), [](std::int64_t d) { return d != 1; }))
    fail("", "dilations are not supported");
  std::string autoPad = c.attrString("auto_pad", "NOTSET");
  if (autoPad == "NOTSET" || autoPad.empty()) {
    w.pads = c.attrInts("pads", Ints(2 * k, 0));
    checkWindowParam(w.pads, 2 * k, 0, "pads");
  } else if (autoPad == "VALID") {
    w.pads.assign(2 * k, 0);
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    w.pads.assign(2 * k, 0);
    for (std::size_t i = 0; i < k; ++i) {
      std::int64_t in = x[2 + i], s = w.strides[i];
      std::int64_t out = (in + s - 1) / s;
      std::int64_t extent = (w.kernel[i] - 1) * w.dilations[i] + 1;
      std::int64_t total = std::max<std::int64_t>(0, (out - 1) * s + extent - in);
      std::int64_t small = total / 2, large = total - small;
      w.pads[i] = autoPad == "SAME_UPPER" ? small : large;
      w.pads[k + i] = autoPad == "SAME_UPPER" ? large : small;
    }
  } else {
    fail("", "auto_pad '{}' not supported", autoPad);
  }
  return w;
}

void requireSpatialInput(const TensorType &x) {
  if (x.rank() < 3 || x.rank() > 5)
    fail("", "expected an input [N,C,D...] with 1 to 3 spatial dimensions, got {}", typeString(x));
}

void conv(NodeCtx &c) {
  Val x = c.input(0), w = c.input(1);
  std::optional<Val> b = c.optInput(2);
  const TensorType &xt = c.type(x), &wt = c.type(w);
  requireSpatialInput(xt);
  if (wt.rank() != xt.rank())
    fail("", "weights {} do not match input {}", typeString(wt), typeString(xt));
  Ints kernel(wt.shape.begin() + 2, wt.shape.end());
  if (std::optional<Ints> ks = c.attrInts("kernel_shape"); ks && *ks != kernel)
    fail("", "kernel_shape [{}] does not match weights {}", fmt::join(*ks, ","), typeString(wt));
  WindowSpec win = windowSpec(c, xt.shape, kernel, true);
  Attrs a;
  a.set("strides", win.strides);
  a.set("pads", win.pads);
  a.set("dilations", win.dilations);
  std::int64_t group = c.attrInt("group", 1);
  if (group < 1 || group > xt.shape[1])
    fail("", "group {} out of range for {} input channels", group, xt.shape[1]);
  a.set("group", group);
  std::vector<Val> operands = {x, w};
  if (b)
    operands.push_back(*b);
  c.setOutput(0, c.emit(Op::Conv, operands, std::move(a)));
}

void maxPool(NodeCtx &c) {
  c.rejectOutput(1, "Indices");
  Val x = c.input(0);
  requireSpatialInput(c.type(x));
  std::optional<Ints> kernel = c.attrInts("kernel_shape");
  if (!kernel)
    fail("", "attribute 'kernel_shape' missing");
  WindowSpec win = windowSpec(c, c.type(x).shape, *kernel, true);
  Attrs a;
  a.set("kernel", win.kernel);
  a.set("strides", win.strides);
  a.set("pads", win.pads);
  a.set("dilations", win.dilations);
  a.set("ceil_mode", c.attrInt("ceil_mode", 0) != 0 ? 1 : 0);
  c.setOutput(0, c.emit(Op::MaxPool, {x}, std::move(a)));
}

void averagePool(NodeCtx &c) {
  Val x = c.input(0);
  requireSpatialInput(c.type(x));
  std::optional<Ints> kernel = c.attrInts("kernel_shape");
  if (!kernel)
    fail("", "attribute 'kernel_shape' missing");
  WindowSpec win = windowSpec(c, c.type(x).shape, *kernel, false);
  Attrs a;
  a.set("kernel", win.kernel);
  a.set("strides", win.strides);
  a.set("pads", win.pads);
  a.set("ceil_mode", c.attrInt("ceil_mode", 0) != 0 ? 1 : 0);
  a.set("count_include_pad", c.attrInt("count_include_pad", 0) != 0 ? 1 : 0);
  c.setOutput(0, c.emit(Op::AveragePool, {x}, std::move(a)));
}

// ---- normalisations and reductions -------------------------------------------

void batchNorm(NodeCtx &c) {
  if (c.opset < 9 && c.attrInt("spatial", 1) != 1)
    fail("", "spatial=0 not supported");
  if (c.attrInt("training_mode", 0) != 0)
    fail("", "training mode not supported");
  for (int i = 1; i < 5; ++i)
    c.rejectOutput(i, "training statistics");
  Attrs a;
  a.set("epsilon", c.attrFloat("epsilon", static_cast<double>(1e-5f)));
  c.setOutput(0, c.emit(Op::BatchNorm, {c.input(0), c.input(1), c.input(2), c.input(3), c.input(4)}, std::move(a)));
}

void layerNorm(NodeCtx &c) {
  c.rejectOutput(1, "Mean");
  c.rejectOutput(2, "InvStdDev");
  Val x = c.input(0);
  Attrs a;
  a.set("axis", normAxis(c.attrInt("axis", -1), std::int64_t(c.type(x).rank())));
  a.set("epsilon", c.attrFloat("epsilon", static_cast<double>(1e-5f)));
  std::vector<Val> operands = {x, c.input(1)};
  if (std::optional<Val> b = c.optInput(2))
    operands.push_back(*b);
  c.setOutput(0, c.emit(Op::LayerNorm, operands, std::move(a)));
}

void softmax(NodeCtx &c) {
  Val x = c.input(0);
  const Shape shape = c.type(x).shape;
  auto rank = static_cast<std::int64_t>(shape.size());
  if (c.opset >= 13) {
    c.setOutput(0, c.emit(Op::Softmax, {x}, attrs1("axis", normAxis(c.attrInt("axis", -1), rank))));
    return;
  }
  // Before opset 13: softmax of the input coerced to 2-D [prod(d<axis), prod(d>=axis)].
  std::int64_t axis = normAxis(c.attrInt("axis", 1), rank);
  if (axis == rank - 1) { // the coercion changes nothing
    c.setOutput(0, c.emit(Op::Softmax, {x}, attrs1("axis", axis)));
    return;
  }
  Shape flat = {product(shape.begin(), shape.begin() + axis), product(shape.begin() + axis, shape.end())};
  Val y = c.emit(Op::Softmax, {c.reshape(x, flat)}, attrs1("axis", std::int64_t(1)));
  c.setOutput(0, c.reshape(y, shape));
}

template <Op op> void reduce(NodeCtx &c) {
  Val x = c.input(0);
  auto rank = static_cast<std::int64_t>(c.type(x).rank());
  Ints axes;
  bool noop = false;
  if (op == Op::ReduceSum && c.opset >= 13) {
    if (std::optional<Val> a = c.optInput(1))
      axes = c.constInts(*a, "axes");
    noop = c.attrInt("noop_with_empty_axes", 0) != 0;
  } else {
    axes = c.attrInts("axes", {});
  }
  if (axes.empty()) {
    if (noop || rank == 0) {
      c.setOutput(0, x);
      return;
    }
    for (std::int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  Attrs a;
  a.set("axes", normAxes(axes, rank));
  a.set("keepdims", c.attrInt("keepdims", 1) != 0 ? 1 : 0);
  c.setOutput(0, c.emit(op, {x}, std::move(a)));
}

// ---- shapes and data movement -------------------------------------------------

void flatten(NodeCtx &c) {
  Val x = c.input(0);
  const Shape shape = c.type(x).shape;
  auto rank = static_cast<std::int64_t>(shape.size());
  std::int64_t axis = c.attrInt("axis", 1);
  if (axis < -rank || axis > rank)
    fail("", "axis {} out of range for rank {}", axis, rank);
  if (axis < 0)
    axis += rank;
  c.setOutput(0, c.reshape(x, {product(shape.begin(), shape.begin() + axis), product(shape.begin() + axis, shape.end())}));
}

void reshape(NodeCtx &c) {
  Val x = c.input(0);
  const Shape in = c.type(x).shape;
  Ints spec = c.constInts(c.input(1), "shape");
  bool allowZero = c.opset >= 14 && c.attrInt("allowzero", 0) != 0;
  Shape out;
  int inferred = -1;
  bool hasZero = false;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    std::int64_t d = spec[i];
    if (d == -1) {
      if (inferred >= 0)
        fail("", "shape [{}] has more than one -1", fmt::join(spec, ","));
      inferred = static_cast<int>(i);
      out.push_back(1);
    } else if (d == 0 && !allowZero) {
      if (i >= in.size())
        fail("", "shape [{}]: 0 at position {} copies a dimension the input {} lacks", fmt::join(spec, ","), i,
             shapeString(in));
      out.push_back(in[i]);
    } else if (d < 0) {
      fail("", "shape [{}] has invalid dimension {}", fmt::join(spec, ","), d);
    } else {
      hasZero = hasZero || d == 0;
      out.push_back(d);
    }
  }
  std::int64_t total = numElements(in);
  if (inferred >= 0) {
    if (hasZero)
      fail("", "shape [{}] has both -1 and 0 with allowzero", fmt::join(spec, ","));
    std::int64_t known = numElements(out);
    if (known == 0 || total % known != 0)
      fail("", "cannot reshape {} to [{}]", shapeString(in), fmt::join(spec, ","));
    out[static_cast<std::size_t>(inferred)] = total / known;
  }
  if (numElements(out) != total)
    fail("", "cannot reshape {} to [{}]", shapeString(in), fmt::join(spec, ","));
  c.setOutput(0, c.reshape(x, out));
}

void transpose(NodeCtx &c) {
  Val x = c.input(0);
  auto rank = static_cast<std::int64_t>(c.type(x).rank());
  Ints perm;
  for (std::int64_t i = rank - 1; i >= 0; --i)
    perm.push_back(i);
  perm = c.attrInts("perm", perm);
  bool identity = static_cast<std::int64_t>(perm.size()) == rank;
  for (std::size_t i = 0; identity && i < perm.size(); ++i)
    identity = perm[i] == static_cast<std::int64_t>(i);
  c.setOutput(0, identity ? x : c.emit(Op::Transpose, {x}, attrs1("perm", perm)));
}

void concat(NodeCtx &c) {
  if (c.numInputs() == 0)
    fail("", "no inputs");
  std::vector<Val> operands;
  for (int i = 0; i < c.numInputs(); ++i)
    operands.push_back(c.input(i));
  std::int64_t axis = normAxis(c.attrInt("axis"), std::int64_t(c.type(operands[0]).rank()));
  c.setOutput(0, operands.size() == 1 ? operands[0] : c.emit(Op::Concat, operands, attrs1("axis", axis)));
}

void slice(NodeCtx &c) {
  Val x = c.input(0);
  const Shape shape = c.type(x).shape;
  auto rank = static_cast<std::int64_t>(shape.size());
  Ints starts, ends, axes, steps;
  if (c.opset < 10) {
    std::optional<Ints> s = c.attrInts("starts"), e = c.attrInts("ends");
    if (!s || !e)
      fail("", "attributes 'starts' and 'ends' are required");
    starts = *s;
    ends = *e;
    axes = c.attrInts("axes", {});
  } else {
    starts = c.constInts(c.input(1), "starts");
    ends = c.constInts(c.input(2), "ends");
    if (std::optional<Val> a = c.optInput(3))
      axes = c.constInts(*a, "axes");
    if (std::optional<Val> s = c.optInput(4))
      steps = c.constInts(*s, "steps");
  }
  if (ends.size() != starts.size())
    fail("", "{} starts but {} ends", starts.size(), ends.size());
  if (axes.empty())
    for (std::size_t i = 0; i < starts.size(); ++i)
      axes.push_back(static_cast<std::int64_t>(i));
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    fail("", "starts, ends, axes and steps differ in length");

  Ints outStarts(rank, 0), outEnds(shape.begin(), shape.end()), outSteps(rank, 1);
  std::vector<bool> seen(rank, false);
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::int64_t axis = normAxis(axes[i], rank, "slice axis");
    if (seen[axis])
      fail("", "slice axis {} repeats", axis);
    seen[axis] = true;
    std::int64_t dim = shape[axis], s = starts[i], e = ends[i], step = steps[i];
    if (step == 0)
      fail("", "slice step 0");
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (dim == 0) {
      s = e = 0;
      step = 1;
    } else if (step > 0) {
      s = std::clamp<std::int64_t>(s, 0, dim);
      e = std::clamp<std::int64_t>(e, 0, dim);
    } else {
      s = std::clamp<std::int64_t>(s, 0, dim - 1);
      e = std::clamp<std::int64_t>(e, -1, dim - 1);
    }
    outStarts[axis] = s;
    outEnds[axis] = e;
    outSteps[axis] = step;
  }
  bool identity = true;
  for (std::int64_t d = 0; d < rank; ++d)
    identity = identity && outStarts[d] == 0 && outEnds[d] == shape[d] && outSteps[d] == 1;
  if (identity) {
    c.setOutput(0, x);
    return;
  }
  Attrs a;
  a.set("starts", outStarts);
  a.set("ends", outEnds);
  a.set("steps", outSteps);
  c.setOutput(0, c.emit(Op::Slice, {x}, std::move(a)));
}

void gather(NodeCtx &c) {
  Val data = c.input(0), indices = c.input(1);
  std::int64_t axis = normAxis(c.attrInt("axis", 0), std::int64_t(c.type(data).rank()));
  c.setOutput(0, c.emit(Op::Gather, {data, indices}, attrs1("axis", axis)));
}

void unsqueeze(NodeCtx &c) {
  Val x = c.input(0);
  const Shape in = c.type(x).shape;
  Ints axes;
  if (c.opset < 13) {
    std::optional<Ints> a = c.attrInts("axes");
    if (!a)
      fail("", "attribute 'axes' missing");
    axes = *a;
  } else {
    axes = c.constInts(c.input(1), "axes");
  }
  auto outRank = static_cast<std::int64_t>(in.size() + axes.size());
  axes = normAxes(axes, outRank);
  Shape out;
  std::size_t next = 0;
  for (std::int64_t d = 0; d < outRank; ++d) {
    if (std::binary_search(axes.begin(), axes.end(), d))
      out.push_back(1);
    else
      out.push_back(in[next++]);
  }
  c.setOutput(0, c.reshape(x, out));
}

void squeeze(NodeCtx &c) {
  Val x = c.input(0);
  const Shape in = c.type(x).shape;
  auto rank = static_cast<std::int64_t>(in.size());
  std::optional<Ints> axes;
  if (c.opset < 13) {
    axes = c.attrInts("axes");
  } else if (std::optional<Val> a = c.optInput(1)) {
    axes = c.constInts(*a, "axes");
  }
  Shape out;
  if (!axes || axes->empty()) { // no axes: every dimension of size 1
    for (std::int64_t d : in)
      if (d != 1)
        out.push_back(d);
  } else {
    Ints norm = normAxes(*axes, rank);
    for (std::int64_t d = 0; d < rank; ++d) {
      bool squeezed = std::binary_search(norm.begin(), norm.end(), d);
      if (squeezed && in[d] != 1)
        fail("", "cannot squeeze dimension {} of size {}", d, in[d]);
      if (!squeezed)
        out.push_back(in[d]);
    }
  }
  c.setOutput(0, c.reshape(x, out));
}

void shapeOp(NodeCtx &c) {
  const Shape shape = c.type(c.input(0)).shape;
  auto rank = static_cast<std::int64_t>(shape.size());
  std::int64_t start = 0, end = rank;
  if (c.opset >= 15) {
    start = c.attrInt("start", 0);
    end = c.attrInt("end", rank);
  }
  auto clampIndex = [rank](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + rank : i, 0, rank); };
  start = clampIndex(start);
  end = std::max(start, clampIndex(end));
  std::vector<double> dims(shape.begin() + start, shape.begin() + end);
  c.setOutput(0, c.im.hostVal(Constant::fromDoubles(TensorType{DType::I64, {end - start}}, dims)));
}

void constantOfShape(NodeCtx &c) {
  Ints shape = c.constInts(c.input(0), "shape");
  for (std::int64_t d : shape)
    if (d < 0)
      fail("", "negative dimension {} in shape", d);
  std::shared_ptr<const Constant> value;
  if (const onnx::AttributeProto *a = c.attr("value")) {
    if (a->type() != onnx::AttributeProto::TENSOR)
      fail("", "attribute 'value' should be a tensor");
    value = readTensor(a->t(), c.im);
    if (value->type().numElements() != 1)
      fail("", "attribute 'value' must have one element, has {}", value->type().numElements());
  } else {
    double zero = 0.0;
    value = Constant::fromDoubles(TensorType{DType::F32, {1}}, std::span<const double>(&zero, 1));
  }
  TensorType type{value->type().dtype, shape};
  std::int64_t n = type.numElements();
  if (n > kMaxFoldElements)
    fail("", "result {} too large to build at import", typeString(type));
  std::size_t size = dtypeSize(type.dtype);
  std::vector<std::byte> bytes(static_cast<std::size_t>(n) * size);
  for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i)
    std::memcpy(bytes.data() + i * size, value->bytes().data(), size);
  c.setOutput(0, c.im.hostVal(Constant::fromBytes(type, bytes)));
}

void constant(NodeCtx &c) {
  if (c.node.attribute_size() != 1)
    fail("", "expected exactly one attribute, got {}", c.node.attribute_size());
  const onnx::AttributeProto &a = c.node.attribute(0);
  const std::string &name = a.name();
  std::shared_ptr<const Constant> value;
  if (name == "value") {
    if (a.type() != onnx::AttributeProto::TENSOR && !(a.type() == onnx::AttributeProto::UNDEFINED && a.has_t()))
      fail("", "attribute 'value' should be a tensor");
    value = readTensor(a.t(), c.im);
  } else if (name == "value_float") {
    double v = c.attrFloat("value_float", 0.0);
    value = Constant::fromDoubles(TensorType{DType::F32, {}}, std::span<const double>(&v, 1));
  } else if (name == "value_floats") {
    if (a.type() != onnx::AttributeProto::FLOATS)
      fail("", "attribute 'value_floats' should be a list of floats");
    std::vector<double> v(a.floats().begin(), a.floats().end());
    value = Constant::fromDoubles(TensorType{DType::F32, {std::int64_t(v.size())}}, v);
  } else if (name == "value_int" || name == "value_ints") {
    Ints v = name == "value_int" ? Ints{c.attrInt("value_int")} : c.attrInts("value_ints", {});
    std::vector<std::byte> bytes(v.size() * 8);
    if (!v.empty())
      std::memcpy(bytes.data(), v.data(), bytes.size());
    Shape shape = name == "value_int" ? Shape{} : Shape{std::int64_t(v.size())};
    value = Constant::fromBytes(TensorType{DType::I64, shape}, bytes);
  } else {
    fail("", "attribute '{}' not supported", name);
  }
  c.setOutput(0, c.im.hostVal(std::move(value)));
}

void identity(NodeCtx &c) { c.setOutput(0, c.input(0)); }

void dropout(NodeCtx &c) {
  c.rejectOutput(1, "mask");
  if (std::optional<Val> training = c.optInput(2)) {
    if (!training->isConst())
      fail("", "training_mode must be a constant");
    std::vector<double> v = training->host->constant->toDoubles();
    if (std::any_of(v.begin(), v.end(), [](double t) { return t != 0.0; }))
      fail("", "training mode not supported");
  }
  c.setOutput(0, c.input(0));
}

void cast(NodeCtx &c) {
  Val x = c.input(0);
  std::int64_t to = c.attrInt("to");
  std::optional<DType> dtype = to >= INT32_MIN && to <= INT32_MAX ? dtypeFromOnnx(static_cast<std::int32_t>(to))
                                                                  : std::nullopt;
  if (!dtype)
    fail("", "cast to {} not supported", onnxTypeName(static_cast<std::int32_t>(to)));
  const TensorType &from = c.type(x);
  if (from.dtype == *dtype) {
    c.setOutput(0, x);
    return;
  }
  if (!x.isConst())
    fail("", "cast of a network value from {} to {} not supported", dtypeName(from.dtype), dtypeName(*dtype));
  const Constant &k = *x.host->constant;
  if (k.type().numElements() > kMaxFoldElements)
    fail("", "constant {} too large to cast at import", typeString(k.type()));
  checkExactInDouble(k);
  std::vector<double> values = k.toDoubles();
  if (isInteger(*dtype) && *dtype != DType::Bool)
    for (double &v : values)
      v = std::trunc(v);
  c.setOutput(0, c.im.hostVal(constantFromDoubles(TensorType{*dtype, from.shape}, values)));
}

struct Entry {
  const char *opType;
  Converter convert;
};

constexpr Entry kConverters[] = {
    {"Abs", unary<Op::Abs>},
    {"Add", binary<Op::Add>},
    {"AveragePool", averagePool},
    {"BatchNormalization", batchNorm},
    {"Cast", cast},
    {"Concat", concat},
    {"Constant", constant},
    {"ConstantOfShape", constantOfShape},
    {"Conv", conv},
    {"Div", binary<Op::Div>},
    {"Dropout", dropout},
    {"Erf", unary<Op::Erf>},
    {"Exp", unary<Op::Exp>},
    {"Flatten", flatten},
    {"Gather", gather},
    {"Gemm", gemm},
    {"Identity", identity},
    {"LayerNormalization", layerNorm},
    {"Log", unary<Op::Log>},
    {"MatMul", matMul},
    {"MaxPool", maxPool},
    {"Mul", binary<Op::Mul>},
    {"Neg", unary<Op::Neg>},
    {"Pow", binary<Op::Pow>},
    {"ReduceMean", reduce<Op::ReduceMean>},
    {"ReduceSum", reduce<Op::ReduceSum>},
    {"Relu", unary<Op::Relu>},
    {"Reshape", reshape},
    {"Shape", shapeOp},
    {"Sigmoid", unary<Op::Sigmoid>},
    {"Slice", slice},
    {"Softmax", softmax},
    {"Sqrt", unary<Op::Sqrt>},
    {"Squeeze", squeeze},
    {"Sub", binary<Op::Sub>},
    {"Tanh", unary<Op::Tanh>},
    {"Transpose", transpose},
    {"Unsqueeze", unsqueeze},
};

} // namespace

Converter findConverter(const std::string &opType) {
  for (const Entry &e : kConverters)
    if (opType == e.opType)
      return e.convert;
  return nullptr;
}

} // namespace gm::onnx_import::detail
