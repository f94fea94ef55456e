// Elementwise kernels (unary and broadcasting binary ops) and the index
// helpers the other kernels share.
#include "ir/error.h"
#include "ir/interp/kernels.h"

#include <cmath>
#include <numbers>

namespace gm::ref::kernels {

std::int64_t product(std::span<const std::int64_t> dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims)
    n *= d;
  return n;
}

std::vector<std::int64_t> broadcastStrides(const Shape &in, const Shape &out) {
  GAMMA_ASSERT(in.size() <= out.size(), "broadcast to a lower rank");
  std::vector<std::int64_t> inStrides = stridesOf(in);
  std::vector<std::int64_t> strides(out.size(), 0);
  std::size_t offset = out.size() - in.size();
  for (std::size_t i = 0; i < in.size(); ++i)
    strides[offset + i] = in[i] == 1 ? 0 : inStrides[i];
  return strides;
}

Tensor makeTensor(Shape shape) {
  Tensor t;
  t.data.assign(static_cast<std::size_t>(numElements(shape)), 0.0);
  t.shape = std::move(shape);
  return t;
}

namespace {

double sigmoid(double x) {
  // Stable in both tails: exp of a non-positive argument never overflows.
  if (x >= 0)
    return 1.0 / (1.0 + std::exp(-x));
  double e = std::exp(x);
  return e / (1.0 + e);
}

double applyUnary(Op op, double x) {
  switch (op) {
  case Op::Relu:
    return x < 0 ? 0.0 : x; // NaN passes through
  case Op::Sigmoid:
    return sigmoid(x);
  case Op::Tanh:
    return std::tanh(x);
  case Op::Exp:
    return std::exp(x);
  case Op::Log:
    return std::log(x);
  case Op::Erf:
    return std::erf(x);
  case Op::Sqrt:
    return std::sqrt(x);
  case Op::Neg:
    return -x;
  case Op::Abs:
    return std::fabs(x);
  case Op::Silu:
    return x * sigmoid(x);
  case Op::Gelu: // x·Φ(x); erfc keeps the negative tail accurate where 1 + erf cancels
    return 0.5 * x * std::erfc(-x / std::numbers::sqrt2);
  default:
    break;
  }
  GAMMA_ASSERT(false, "not a unary op");
  return 0;
}

} // namespace

Tensor unary(Op op, const Tensor &x) {
  Tensor y;
  y.shape = x.shape;
  y.data.resize(x.data.size());
  for (std::size_t i = 0; i < x.data.size(); ++i)
    y.data[i] = applyUnary(op, x.data[i]);
  return y;
}

Tensor binary(Op op, const Tensor &a, const Tensor &b, bool integerResult) {
  Shape shape;
  if (!broadcastShapes(a.shape, b.shape, shape))
    fail("", "shapes {} and {} do not broadcast", shapeString(a.shape), shapeString(b.shape));
  Tensor y = makeTensor(shape);
  std::vector<std::int64_t> sa = broadcastStrides(a.shape, shape), sb = broadcastStrides(b.shape, shape);
  std::size_t rank = shape.size();
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t ia = 0, ib = 0;
  for (std::size_t i = 0; i < y.data.size(); ++i) {
    double x1 = a.data[ia], x2 = b.data[ib], r = 0;
    switch (op) {
    case Op::Add:
      r = x1 + x2;
      break;
    case Op::Sub:
      r = x1 - x2;
      break;
    case Op::Mul:
      r = x1 * x2;
      break;
    case Op::Div:
      if (integerResult && x2 == 0)
        fail("", "integer division by zero");
      r = x1 / x2; // rounded toward zero by evaluateOp for integer results
      break;
    case Op::Pow:
      r = std::pow(x1, x2);
      break;
    default:
      GAMMA_ASSERT(false, "not a binary op");
    }
    y.data[i] = r;
    // Odometer step over the output index, moving both operand offsets.
    for (std::size_t d = rank; d-- > 0;) {
      ia += sa[d];
      ib += sb[d];
      if (++index[d] < shape[d])
        break;
      ia -= sa[d] * shape[d];
      ib -= sb[d] * shape[d];
      index[d] = 0;
    }
  }
  return y;
}

} // namespace gm::ref::kernels
