// The reference interpreter against hand-computed values and against naive
// formulas written independently here.
#include "ir/error.h"
#include "ir/graph.h"
#include "ir/interp/interpreter.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace {

using gm::Attrs;
using gm::DType;
using gm::Op;
using gm::Shape;
using gm::TensorType;
using gm::ref::Tensor;
using Ints = std::vector<std::int64_t>;

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor tensor(Shape shape, std::vector<double> data) {
  Tensor t;
  t.shape = std::move(shape);
  t.data = std::move(data);
  REQUIRE(static_cast<std::int64_t>(t.data.size()) == gm::numElements(t.shape));
  return t;
}

// 0, 1, 2, ... scaled, so every element differs and sums are exact in double.
Tensor iota(Shape shape, double scale = 1.0, double offset = 0.0) {
  std::vector<double> data(static_cast<std::size_t>(gm::numElements(shape)));
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = offset + scale * static_cast<double>(i);
  return tensor(std::move(shape), std::move(data));
}

// Deterministic pseudo-random values in [-1, 1) with few significant bits.
Tensor noise(Shape shape, std::uint32_t seed) {
  std::vector<double> data(static_cast<std::size_t>(gm::numElements(shape)));
  std::uint32_t s = seed * 2654435761u + 1;
  for (double &v : data) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<double>((s >> 20) % 256) / 128.0 - 1.0;
  }
  return tensor(std::move(shape), std::move(data));
}

Tensor run(Op op, const Attrs &attrs, std::vector<Tensor> operands, std::vector<TensorType> resultTypes = {}) {
  std::vector<Tensor> out = gm::ref::evaluateOp(op, attrs, operands, resultTypes);
  REQUIRE(out.size() == 1);
  return out[0];
}

void checkValues(const Tensor &t, const Shape &shape, const std::vector<double> &expected, double tol = 1e-12) {
  REQUIRE(t.shape == shape);
  REQUIRE(t.data.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    if (std::isnan(expected[i]))
      CHECK(std::isnan(t.data[i]));
    else if (std::isinf(expected[i]) || tol == 0)
      CHECK(t.data[i] == expected[i]);
    else
      CHECK(t.data[i] == doctest::Approx(expected[i]).epsilon(tol));
  }
}

void checkClose(const Tensor &a, const Tensor &b, double tol = 1e-12) {
  REQUIRE(a.shape == b.shape);
  REQUIRE(a.data.size() == b.data.size());
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(a.data[i] - b.data[i]) <= tol * std::max(1.0, std::fabs(b.data[i])));
  }
}

Attrs convAttrs(Ints strides, Ints pads, Ints dilations, std::int64_t group) {
  Attrs a;
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("dilations", dilations);
  a.set("group", group);
  return a;
}

Attrs poolAttrs(Ints kernel, Ints strides, Ints pads, bool ceilMode) {
  Attrs a;
  a.set("kernel", kernel);
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("ceil_mode", std::int64_t(ceilMode ? 1 : 0));
  return a;
}

Attrs maxPoolAttrs(Ints kernel, Ints strides, Ints pads, Ints dilations, bool ceilMode) {
  Attrs a = poolAttrs(kernel, strides, pads, ceilMode);
  a.set("dilations", dilations);
  return a;
}

Attrs avgPoolAttrs(Ints kernel, Ints strides, Ints pads, bool ceilMode, bool countIncludePad) {
  Attrs a = poolAttrs(kernel, strides, pads, ceilMode);
  a.set("count_include_pad", std::int64_t(countIncludePad ? 1 : 0));
  return a;
}

// Naive 2-D convolution, written directly from the ONNX definition with an
// explicitly zero-padded copy of the input (a different route from the
// interpreter's bounds checks).
Tensor naiveConv2d(const Tensor &x, const Tensor &w, const Tensor *b, Ints strides, Ints pads, Ints dil,
                   std::int64_t group) {
  std::int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  std::int64_t M = w.shape[0], CG = w.shape[1], KH = w.shape[2], KW = w.shape[3];
  std::int64_t HP = H + pads[0] + pads[2], WP = W + pads[1] + pads[3];
  std::vector<double> padded(static_cast<std::size_t>(N * C * HP * WP), 0.0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t ww = 0; ww < W; ++ww)
          padded[((n * C + c) * HP + h + pads[0]) * WP + ww + pads[1]] = x.data[((n * C + c) * H + h) * W + ww];
  std::int64_t OH = (HP - dil[0] * (KH - 1) - 1) / strides[0] + 1;
  std::int64_t OW = (WP - dil[1] * (KW - 1) - 1) / strides[1] + 1;
  Tensor y;
  y.shape = {N, M, OH, OW};
  y.data.assign(static_cast<std::size_t>(N * M * OH * OW), 0.0);
  std::int64_t MG = M / group;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          double s = b ? b->data[m] : 0.0;
          for (std::int64_t cg = 0; cg < CG; ++cg) {
            std::int64_t c = (m / MG) * CG + cg;
            for (std::int64_t kh = 0; kh < KH; ++kh)
              for (std::int64_t kw = 0; kw < KW; ++kw)
                s += padded[((n * C + c) * HP + oh * strides[0] + kh * dil[0]) * WP + ow * strides[1] + kw * dil[1]] *
                     w.data[((m * CG + cg) * KH + kh) * KW + kw];
          }
          y.data[((n * M + m) * OH + oh) * OW + ow] = s;
        }
  return y;
}

// Naive matmul of [.., M, K] x [.., K, N] with identical batch dims.
std::vector<double> naiveMatmul(const std::vector<double> &a, const std::vector<double> &b, std::int64_t batch,
                                std::int64_t m, std::int64_t k, std::int64_t n) {
  std::vector<double> y(static_cast<std::size_t>(batch * m * n), 0.0);
  for (std::int64_t t = 0; t < batch; ++t)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::int64_t p = 0; p < k; ++p)
          s += a[(t * m + i) * k + p] * b[(t * k + p) * n + j];
        y[(t * m + i) * n + j] = s;
      }
  return y;
}

} // namespace

TEST_SUITE("interpreter") {

TEST_CASE("unary ops") {
  Tensor x = tensor({5}, {-2.0, -0.5, 0.0, 0.5, 3.0});
  checkValues(run(Op::Relu, {}, {x}), {5}, {0, 0, 0, 0.5, 3});
  checkValues(run(Op::Neg, {}, {x}), {5}, {2, 0.5, 0, -0.5, -3});
  checkValues(run(Op::Abs, {}, {x}), {5}, {2, 0.5, 0, 0.5, 3});
  checkValues(run(Op::Tanh, {}, {x}), {5}, {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(0.5), std::tanh(3.0)});
  checkValues(run(Op::Exp, {}, {x}), {5}, {std::exp(-2.0), std::exp(-0.5), 1, std::exp(0.5), std::exp(3.0)});
  checkValues(run(Op::Erf, {}, {x}), {5}, {std::erf(-2.0), std::erf(-0.5), 0, std::erf(0.5), std::erf(3.0)});
  checkValues(run(Op::Sigmoid, {}, {x}), {5},
              {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 0.5, 1 / (1 + std::exp(-0.5)), 1 / (1 + std::exp(-3.0))});
  Tensor p = tensor({4}, {0.0, 1.0, 4.0, -1.0});
  checkValues(run(Op::Sqrt, {}, {p}), {4}, {0, 1, 2, NAN});
  checkValues(run(Op::Log, {}, {p}), {4}, {-kInf, 0, std::log(4.0), NAN});
}

TEST_CASE("sigmoid is stable in both tails") {
  Tensor y = run(Op::Sigmoid, {}, {tensor({4}, {-1000.0, -40.0, 40.0, 1000.0})});
  CHECK(y.data[0] == 0.0);
  CHECK(y.data[1] > 0.0);
  CHECK(y.data[1] == doctest::Approx(std::exp(-40.0)).epsilon(1e-12));
  CHECK(y.data[2] == doctest::Approx(1.0));
  CHECK(y.data[3] == 1.0);
  for (double v : y.data)
    CHECK(!std::isnan(v));
}

TEST_CASE("relu propagates NaN") {
  Tensor y = run(Op::Relu, {}, {tensor({1}, {NAN})});
  CHECK(std::isnan(y.data[0]));
}

TEST_CASE("binary ops broadcast numpy-style") {
  Tensor a = tensor({2, 1}, {1, 2});
  Tensor b = tensor({3}, {10, 20, 30});
  checkValues(run(Op::Add, {}, {a, b}), {2, 3}, {11, 21, 31, 12, 22, 32});
  checkValues(run(Op::Sub, {}, {a, b}), {2, 3}, {-9, -19, -29, -8, -18, -28});
  checkValues(run(Op::Mul, {}, {b, a}), {2, 3}, {10, 20, 30, 20, 40, 60});
  checkValues(run(Op::Div, {}, {b, a}), {2, 3}, {10, 20, 30, 5, 10, 15});
  checkValues(run(Op::Pow, {}, {a, tensor({}, {3})}), {2, 1}, {1, 8});
  // Both operands stretched, middle dims of size 1 on either side.
  Tensor c = iota({2, 1, 3});
  Tensor d = iota({1, 4, 1}, 100);
  Tensor y = run(Op::Add, {}, {c, d});
  REQUIRE(y.shape == Shape{2, 4, 3});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k)
        CHECK(y.data[(i * 4 + j) * 3 + k] == (i * 3 + k) + 100.0 * j);
  // Scalars and rank-0 results.
  checkValues(run(Op::Mul, {}, {tensor({}, {3}), tensor({}, {4})}), {}, {12});
  CHECK_THROWS_AS(run(Op::Add, {}, {iota({2, 3}), iota({2})}), gm::InputError);
}

TEST_CASE("integer results: div truncates toward zero, others round toward zero") {
  std::vector<TensorType> i64 = {TensorType{DType::I64, {4}}};
  Tensor a = tensor({4}, {7, -7, 7, -7});
  Tensor b = tensor({4}, {2, 2, -2, -2});
  checkValues(run(Op::Div, {}, {a, b}, i64), {4}, {3, -3, -3, 3});
  checkValues(run(Op::Div, {}, {a, b}), {4}, {3.5, -3.5, -3.5, 3.5}); // float: no truncation
  Tensor half = tensor({4}, {0.5, 0.5, 0.5, 0.5});
  checkValues(run(Op::Mul, {}, {a, half}, i64), {4}, {3, -3, 3, -3});
  checkValues(run(Op::Sqrt, {}, {tensor({4}, {2, 4, 8, 9})}, i64), {4}, {1, 2, 2, 3});
  CHECK_THROWS_AS(run(Op::Div, {}, {a, tensor({4}, {1, 0, 1, 1})}, i64), gm::InputError);
}

TEST_CASE("matmul: 1-D operands, 2-D, batched with broadcasting") {
  Tensor v = tensor({3}, {1, 2, 3});
  Tensor w = tensor({3}, {4, 5, 6});
  checkValues(run(Op::MatMul, {}, {v, w}), {}, {32});
  Tensor m = tensor({3, 2}, {1, 2, 3, 4, 5, 6});
  checkValues(run(Op::MatMul, {}, {v, m}), {2}, {22, 28});
  Tensor mt = tensor({2, 3}, {1, 3, 5, 2, 4, 6});
  checkValues(run(Op::MatMul, {}, {mt, v}), {2}, {22, 28});
  checkValues(run(Op::MatMul, {}, {mt, m}), {2, 2}, {35, 44, 44, 56});

  // [2,1,2,3] x [3,3,2] -> [2,3,2,2]: each (i, j) pair uses a[i] and b[j].
  Tensor a = noise({2, 1, 2, 3}, 1), b = noise({3, 3, 2}, 2);
  Tensor y = run(Op::MatMul, {}, {a, b}, {TensorType{DType::F32, {2, 3, 2, 2}}});
  REQUIRE(y.shape == Shape{2, 3, 2, 2});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      std::vector<double> ai(a.data.begin() + i * 6, a.data.begin() + i * 6 + 6);
      std::vector<double> bj(b.data.begin() + j * 6, b.data.begin() + j * 6 + 6);
      std::vector<double> expected = naiveMatmul(ai, bj, 1, 2, 3, 2);
      for (int e = 0; e < 4; ++e)
        CHECK(y.data[(i * 3 + j) * 4 + e] == doctest::Approx(expected[e]).epsilon(1e-14));
    }
  // 1-D on the left of a batched right operand: [3] x [2,3,2] -> [2,2].
  Tensor bb = noise({2, 3, 2}, 3);
  Tensor yb = run(Op::MatMul, {}, {v, bb});
  std::vector<double> expected = naiveMatmul({1, 2, 3, 1, 2, 3}, bb.data, 2, 1, 3, 2);
  checkValues(yb, {2, 2}, expected);
  CHECK_THROWS_AS(run(Op::MatMul, {}, {iota({2, 3}), iota({2, 3})}), gm::InputError);
}

TEST_CASE("matmul 784x256 is fast") {
  Tensor x = noise({1, 784}, 4), w = noise({784, 256}, 5);
  auto start = std::chrono::steady_clock::now();
  Tensor y = run(Op::MatMul, {}, {x, w});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(y.shape == Shape{1, 256});
  CHECK(seconds < 0.5);
  double s = 0;
  for (int p = 0; p < 784; ++p)
    s += x.data[p] * w.data[p * 256 + 17];
  CHECK(y.data[17] == doctest::Approx(s).epsilon(1e-12));
}

TEST_CASE("conv: hand values, ONNX basic case") {
  // 5x5 input 0..24, 3x3 kernel of ones, pads 1 (onnx test_basic_conv_with_padding).
  Tensor x = iota({1, 1, 5, 5});
  Tensor w = tensor({1, 1, 3, 3}, std::vector<double>(9, 1.0));
  Tensor y = run(Op::Conv, convAttrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), {x, w},
                 {TensorType{DType::F32, {1, 1, 5, 5}}});
  checkValues(y, {1, 1, 5, 5}, {12,  21,  27,  33,  24,  33,  54,  63,  72,  51,  63,  99, 108,
                                117, 81,  93,  144, 153, 162, 111, 72,  111, 117, 123, 84});
  // Stride 2, rows padded top and bottom, columns not: windows over rows
  // {-1..1, 1..3, 3..5} and columns {0..2, 2..4}.
  Tensor y2 = run(Op::Conv, convAttrs({2, 2}, {1, 0, 1, 0}, {1, 1}, 1), {x, w});
  checkValues(y2, {1, 1, 3, 2}, {21, 33, 99, 117, 111, 123});
}

TEST_CASE("conv against a naive formula: pads, strides, groups, dilations, bias") {
  struct Case {
    Shape x, w;
    Ints strides, pads, dilations;
    std::int64_t group;
    bool bias;
  };
  std::vector<Case> cases = {
      {{1, 3, 7, 6}, {4, 3, 3, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, false},
      {{2, 3, 7, 6}, {4, 3, 3, 2}, {2, 1}, {1, 2, 0, 1}, {1, 1}, 1, true},
      {{1, 4, 8, 8}, {6, 2, 3, 3}, {1, 2}, {1, 1, 2, 1}, {2, 1}, 2, true},
      {{1, 4, 9, 7}, {4, 1, 2, 3}, {3, 2}, {2, 0, 1, 3}, {2, 2}, 4, true}, // depthwise
      {{2, 6, 5, 5}, {3, 2, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 3, false},
  };
  std::uint32_t seed = 10;
  for (const Case &c : cases) {
    CAPTURE(seed);
    Tensor x = noise(c.x, seed++), w = noise(c.w, seed++), b = noise({c.w[0]}, seed++);
    std::vector<Tensor> operands = {x, w};
    if (c.bias)
      operands.push_back(b);
    Tensor y = run(Op::Conv, convAttrs(c.strides, c.pads, c.dilations, c.group), operands);
    Tensor expected = naiveConv2d(x, w, c.bias ? &b : nullptr, c.strides, c.pads, c.dilations, c.group);
    checkClose(y, expected);
  }
}

TEST_CASE("conv 1-D and 3-D agree with the 2-D formula on a unit dimension") {
  Tensor x2 = noise({1, 2, 1, 9}, 40), w2 = noise({3, 2, 1, 3}, 41), b = noise({3}, 42);
  Tensor expected = naiveConv2d(x2, w2, &b, {1, 2}, {0, 1, 0, 2}, {1, 2}, 1);
  Tensor x1 = tensor({1, 2, 9}, x2.data), w1 = tensor({3, 2, 3}, w2.data);
  Tensor y1 = run(Op::Conv, convAttrs({2}, {1, 2}, {2}, 1), {x1, w1, b});
  checkClose(tensor({1, 3, 1, y1.shape[2]}, y1.data), expected);
  Tensor x3 = tensor({1, 2, 1, 1, 9}, x2.data), w3 = tensor({3, 2, 1, 1, 3}, w2.data);
  Tensor y3 = run(Op::Conv, convAttrs({1, 1, 2}, {0, 0, 1, 0, 0, 2}, {1, 1, 2}, 1), {x3, w3, b});
  checkClose(tensor({1, 3, 1, y3.shape[4]}, y3.data), expected);
  // A genuinely 3-D case by hand: 2x2x2 input, 2x2x2 kernel of ones, no pads.
  Tensor y = run(Op::Conv, convAttrs({1, 1, 1}, {0, 0, 0, 0, 0, 0}, {1, 1, 1}, 1),
                 {iota({1, 1, 2, 2, 2}), tensor({1, 1, 2, 2, 2}, std::vector<double>(8, 1.0))});
  checkValues(y, {1, 1, 1, 1, 1}, {28});
}

TEST_CASE("conv on a CIFAR-sized input is fast") {
  Tensor x = noise({1, 3, 32, 32}, 50), w = noise({32, 3, 3, 3}, 51), b = noise({32}, 52);
  auto start = std::chrono::steady_clock::now();
  Tensor y = run(Op::Conv, convAttrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), {x, w, b});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(y.shape == Shape{1, 32, 32, 32});
  CHECK(seconds < 1.0);
}

TEST_CASE("batch_norm") {
  Tensor x = tensor({1, 2, 2}, {1, 2, 3, 4});
  Tensor scale = tensor({2}, {2, 1}), bias = tensor({2}, {0.5, -1}), mean = tensor({2}, {1, 2}),
         var = tensor({2}, {3.99, 0.24});
  Attrs a;
  a.set("epsilon", 0.01);
  // (x-mean)/sqrt(var+eps)*scale+bias: channel 0 sd 2, channel 1 sd 0.5.
  checkValues(run(Op::BatchNorm, a, {x, scale, bias, mean, var}), {1, 2, 2}, {0.5, 1.5, 1, 3});
}

TEST_CASE("max_pool: padding never wins, ceil mode, dilation") {
  Tensor neg = tensor({1, 1, 2, 2}, {-4, -3, -2, -1});
  checkValues(run(Op::MaxPool, maxPoolAttrs({2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, false), {neg}), {1, 1, 3, 3},
              {-4, -3, -3, -2, -1, -1, -2, -1, -1});
  // onnx test_maxpool_2d_ceil: 4x4 input 1..16, kernel 3, stride 2.
  Tensor x = iota({1, 1, 4, 4}, 1, 1);
  checkValues(run(Op::MaxPool, maxPoolAttrs({3, 3}, {2, 2}, {0, 0, 0, 0}, {1, 1}, true), {x},
                  {TensorType{DType::F32, {1, 1, 2, 2}}}),
              {1, 1, 2, 2}, {11, 12, 15, 16});
  checkValues(run(Op::MaxPool, maxPoolAttrs({3, 3}, {2, 2}, {0, 0, 0, 0}, {1, 1}, false), {x}), {1, 1, 1, 1}, {11});
  // onnx test_maxpool_2d_dilations: kernel 2, dilation 2 on 4x4.
  checkValues(run(Op::MaxPool, maxPoolAttrs({2, 2}, {1, 1}, {0, 0, 0, 0}, {2, 2}, false), {x}), {1, 1, 2, 2},
              {11, 12, 15, 16});
  // 1-D with the ceil-mode drop rule: length 4, kernel 2, stride 2, end pad 1
  // would give a third window starting in the end padding; it is dropped.
  checkValues(run(Op::MaxPool, maxPoolAttrs({2}, {2}, {0, 1}, {1}, true), {tensor({1, 1, 4}, {5, 1, 2, 7})}),
              {1, 1, 2}, {5, 7});
  // NaN propagates.
  Tensor y = run(Op::MaxPool, maxPoolAttrs({2}, {2}, {0, 0}, {1}, false), {tensor({1, 1, 4}, {1, NAN, 2, 3})});
  CHECK(std::isnan(y.data[0]));
  CHECK(y.data[1] == 3);
}

TEST_CASE("average_pool: count_include_pad and ceil mode") {
  // onnx test_averagepool_2d_ceil: [[6, 7.5], [12, 13.5]].
  Tensor x = iota({1, 1, 4, 4}, 1, 1);
  checkValues(run(Op::AveragePool, avgPoolAttrs({3, 3}, {2, 2}, {0, 0, 0, 0}, true, false), {x}), {1, 1, 2, 2},
              {6, 7.5, 12, 13.5});
  // 1-D, length 4, kernel 3, stride 2, pads 1/1, ceil: windows [-1,2), [1,4), [3,6).
  Tensor v = tensor({1, 1, 4}, {1, 2, 3, 4});
  Attrs exclude = avgPoolAttrs({3}, {2}, {1, 1}, true, false);
  Attrs include = avgPoolAttrs({3}, {2}, {1, 1}, true, true);
  checkValues(run(Op::AveragePool, exclude, {v}), {1, 1, 3}, {1.5, 3, 4});
  // Divisor counts taps inside the padded input [-1, 5): 3, 3, 2.
  checkValues(run(Op::AveragePool, include, {v}), {1, 1, 3}, {1, 3, 2});
  // Without ceil mode the last window is not there.
  checkValues(run(Op::AveragePool, avgPoolAttrs({3}, {2}, {1, 1}, false, true), {v}), {1, 1, 2}, {1, 3});
  // [1,2,3,4,5], kernel 2, stride 2, ceil, no pads: the last window holds 5 only.
  Tensor five = tensor({1, 1, 5}, {1, 2, 3, 4, 5});
  checkValues(run(Op::AveragePool, avgPoolAttrs({2}, {2}, {0, 0}, true, true), {five}), {1, 1, 3}, {1.5, 3.5, 5});
  checkValues(run(Op::AveragePool, avgPoolAttrs({2}, {2}, {0, 0}, true, false), {five}), {1, 1, 3}, {1.5, 3.5, 5});
  // 2-D pads with and without counting them: onnx test_averagepool_2d_pads style.
  Tensor s = iota({1, 1, 2, 2}, 1, 1); // 1 2 / 3 4
  checkValues(run(Op::AveragePool, avgPoolAttrs({2, 2}, {1, 1}, {1, 1, 1, 1}, false, false), {s}), {1, 1, 3, 3},
              {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4});
  checkValues(run(Op::AveragePool, avgPoolAttrs({2, 2}, {1, 1}, {1, 1, 1, 1}, false, true), {s}), {1, 1, 3, 3},
              {0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1});
}

TEST_CASE("pool over channels and batch keeps planes apart; 3-D pool") {
  Tensor x = iota({2, 2, 2, 2});
  checkValues(run(Op::MaxPool, maxPoolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, false), {x}), {2, 2, 1, 1},
              {3, 7, 11, 15});
  checkValues(run(Op::AveragePool, avgPoolAttrs({2, 2, 2}, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, false, false),
                  {iota({1, 1, 2, 2, 2})}),
              {1, 1, 1, 1, 1}, {3.5});
}

TEST_CASE("softmax subtracts the max and works on any axis") {
  Attrs last;
  last.set("axis", std::int64_t(1));
  double e1 = std::exp(-2.0), e2 = std::exp(-1.0), sum = e1 + e2 + 1;
  checkValues(run(Op::Softmax, last, {tensor({1, 3}, {1, 2, 3})}), {1, 3}, {e1 / sum, e2 / sum, 1 / sum});
  Tensor big = run(Op::Softmax, last, {tensor({1, 2}, {1000, 1001})});
  checkValues(big, {1, 2}, {1 / (1 + std::exp(1.0)), 1 / (1 + std::exp(-1.0))});
  Attrs first;
  first.set("axis", std::int64_t(0));
  // Along axis 0 of [[0, 1], [0, 3]]: columns normalised separately.
  checkValues(run(Op::Softmax, first, {tensor({2, 2}, {0, 1, 0, 3})}), {2, 2},
              {0.5, 1 / (1 + std::exp(2.0)), 0.5, 1 / (1 + std::exp(-2.0))});
  // Middle axis of [2,2,2].
  Attrs mid;
  mid.set("axis", std::int64_t(1));
  Tensor y = run(Op::Softmax, mid, {iota({2, 2, 2})});
  double lo = 1 / (1 + std::exp(2.0)), hi = 1 / (1 + std::exp(-2.0));
  checkValues(y, {2, 2, 2}, {lo, lo, hi, hi, lo, lo, hi, hi});
}

TEST_CASE("layer_norm: normalise over [axis, rank), scale and bias broadcast") {
  Attrs a;
  a.set("axis", std::int64_t(1));
  a.set("epsilon", 0.0);
  // Row [1,2,3]: mean 2, population variance 2/3.
  double sd = std::sqrt(2.0 / 3.0);
  Tensor x = tensor({2, 3}, {1, 2, 3, 10, 10, 13});
  Tensor scale = tensor({3}, {1, 2, 3}), bias = tensor({3}, {0, 1, -1});
  // Second row [10,10,13]: mean 11, variance 2.
  double sd2 = std::sqrt(2.0);
  checkValues(run(Op::LayerNorm, a, {x, scale, bias}), {2, 3},
              {-1 / sd, 1, 1 / sd * 3 - 1, -1 / sd2, -2 / sd2 + 1, 2 / sd2 * 3 - 1});
  checkValues(run(Op::LayerNorm, a, {x, scale}), {2, 3},
              {-1 / sd, 0, 1 / sd * 3, -1 / sd2, -2 / sd2, 2 / sd2 * 3});
  // axis 0 normalises over everything; a [1] scale broadcasts.
  Attrs all;
  all.set("axis", std::int64_t(0));
  all.set("epsilon", 1.0);
  Tensor y = run(Op::LayerNorm, all, {tensor({2, 2}, {0, 0, 2, 2}), tensor({1}, {2})});
  double s = std::sqrt(1.0 + 1.0); // variance 1, epsilon 1
  checkValues(y, {2, 2}, {-2 / s, -2 / s, 2 / s, 2 / s});
  // scale of shape [2,1] against normalised shape [2,3]: one factor per row.
  Tensor y2 = run(Op::LayerNorm, all, {tensor({2, 3}, {0, 0, 0, 2, 2, 2}), tensor({2, 1}, {1, 3})});
  checkValues(y2, {2, 3}, {-1 / s, -1 / s, -1 / s, 3 / s, 3 / s, 3 / s});
  CHECK_THROWS_AS(run(Op::LayerNorm, a, {x, tensor({2}, {1, 1})}), gm::InputError);
}

TEST_CASE("rms_norm: divide by the root mean square over [axis, rank), scale broadcast") {
  Attrs a;
  a.set("axis", std::int64_t(1));
  a.set("epsilon", 0.0);
  // Rows [3,4] (mean square 12.5) and [0,2] (mean square 2).
  Tensor x = tensor({2, 2}, {3, 4, 0, 2});
  double r1 = std::sqrt(12.5), r2 = std::sqrt(2.0);
  checkValues(run(Op::RmsNorm, a, {x, tensor({2}, {1, -2})}), {2, 2}, {3 / r1, -8 / r1, 0, -4 / r2});
  Attrs eps = a;
  eps.set("epsilon", 2.0);
  checkValues(run(Op::RmsNorm, eps, {x, tensor({1}, {1})}), {2, 2},
              {3 / std::sqrt(14.5), 4 / std::sqrt(14.5), 0, 1});
  CHECK_THROWS_AS(run(Op::RmsNorm, a, {x, tensor({3}, {1, 1, 1})}), gm::InputError);
}

TEST_CASE("silu and gelu") {
  Tensor x = tensor({4}, {-3, -0.5, 0, 2});
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  auto phi = [](double v) { return 0.5 * (1 + std::erf(v / std::sqrt(2.0))); };
  checkValues(run(Op::Silu, {}, {x}), {4}, {-3 * sig(-3), -0.5 * sig(-0.5), 0, 2 * sig(2)});
  checkValues(run(Op::Gelu, {}, {x}), {4}, {-3 * phi(-3), -0.5 * phi(-0.5), 0, 2 * phi(2)});
}

TEST_CASE("reduce_sum and reduce_mean") {
  Tensor x = iota({2, 3, 2}); // x[i][j][k] = 6i + 2j + k
  Attrs a;
  a.set("axes", Ints{0, 2});
  a.set("keepdims", std::int64_t(0));
  // sum over i,k for each j: sum_i sum_k (6i+2j+k) = 4*2j + (0+0+6+6) + (0+1+0+1) = 8j + 14
  checkValues(run(Op::ReduceSum, a, {x}), {3}, {14, 22, 30});
  checkValues(run(Op::ReduceMean, a, {x}), {3}, {3.5, 5.5, 7.5});
  a.set("keepdims", std::int64_t(1));
  checkValues(run(Op::ReduceSum, a, {x}, {TensorType{DType::F32, {1, 3, 1}}}), {1, 3, 1}, {14, 22, 30});
  Attrs last;
  last.set("axes", Ints{2});
  last.set("keepdims", std::int64_t(1));
  checkValues(run(Op::ReduceMean, last, {x}), {2, 3, 1}, {0.5, 2.5, 4.5, 6.5, 8.5, 10.5});
  Attrs everything;
  everything.set("axes", Ints{0, 1, 2});
  everything.set("keepdims", std::int64_t(0));
  checkValues(run(Op::ReduceSum, everything, {x}), {}, {66});
  Attrs unsorted;
  unsorted.set("axes", Ints{2, 0});
  unsorted.set("keepdims", std::int64_t(0));
  CHECK_THROWS_AS(run(Op::ReduceSum, unsorted, {x}), gm::InputError);
}

TEST_CASE("reshape and transpose") {
  Attrs r;
  r.set("shape", Ints{3, 2});
  checkValues(run(Op::Reshape, r, {iota({2, 3})}), {3, 2}, {0, 1, 2, 3, 4, 5});
  r.set("shape", Ints{4});
  CHECK_THROWS_AS(run(Op::Reshape, r, {iota({2, 3})}), gm::InputError);

  Attrs t;
  t.set("perm", Ints{1, 0});
  checkValues(run(Op::Transpose, t, {iota({2, 3})}), {3, 2}, {0, 3, 1, 4, 2, 5});
  t.set("perm", Ints{2, 0, 1});
  Tensor x = iota({2, 3, 4}); // x[i][j][k] = 12i + 4j + k
  Tensor y = run(Op::Transpose, t, {x}, {TensorType{DType::F32, {4, 2, 3}}});
  REQUIRE(y.shape == Shape{4, 2, 3});
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        CHECK(y.data[(k * 2 + i) * 3 + j] == 12 * i + 4 * j + k);
}

TEST_CASE("concat") {
  Attrs a;
  a.set("axis", std::int64_t(1));
  checkValues(run(Op::Concat, a, {iota({2, 1}), iota({2, 2}, 1, 10)}), {2, 3}, {0, 10, 11, 1, 12, 13});
  a.set("axis", std::int64_t(0));
  checkValues(run(Op::Concat, a, {iota({1, 2}), iota({2, 2}, 1, 10), iota({0, 2})}), {3, 2},
              {0, 1, 10, 11, 12, 13});
  checkValues(run(Op::Concat, a, {iota({2})}), {2}, {0, 1});
  CHECK_THROWS_AS(run(Op::Concat, a, {iota({1, 2}), iota({1, 3})}), gm::InputError);
}

TEST_CASE("slice with positive and negative steps") {
  Attrs a;
  a.set("starts", Ints{1, 0});
  a.set("ends", Ints{3, 4});
  a.set("steps", Ints{1, 2});
  Tensor x = iota({3, 4}); // x[i][j] = 4i + j
  checkValues(run(Op::Slice, a, {x}), {2, 2}, {4, 6, 8, 10});
  // Negative step, end -1 = through index 0: reverses.
  a.set("starts", Ints{2, 3});
  a.set("ends", Ints{-1, -1});
  a.set("steps", Ints{-1, -2});
  checkValues(run(Op::Slice, a, {x}, {TensorType{DType::F32, {3, 2}}}), {3, 2}, {11, 9, 7, 5, 3, 1});
  a.set("starts", Ints{2, 3});
  a.set("ends", Ints{0, 0});
  a.set("steps", Ints{-1, -1});
  checkValues(run(Op::Slice, a, {x}), {2, 3}, {11, 10, 9, 7, 6, 5});
  // Empty results.
  a.set("starts", Ints{1, 0});
  a.set("ends", Ints{1, 4});
  a.set("steps", Ints{1, 1});
  checkValues(run(Op::Slice, a, {x}), {0, 4}, {});
}

TEST_CASE("gather: axes, negative indices, out of range") {
  Attrs a;
  a.set("axis", std::int64_t(0));
  Tensor data = iota({3, 2}); // rows [0,1], [2,3], [4,5]
  checkValues(run(Op::Gather, a, {data, tensor({2}, {2, -3})}), {2, 2}, {4, 5, 0, 1});
  checkValues(run(Op::Gather, a, {data, tensor({}, {-1})}), {2}, {4, 5});
  checkValues(run(Op::Gather, a, {data, tensor({2, 2}, {0, 1, 1, 0})}), {2, 2, 2}, {0, 1, 2, 3, 2, 3, 0, 1});
  a.set("axis", std::int64_t(1));
  checkValues(run(Op::Gather, a, {data, tensor({3}, {1, -1, 0})}, {TensorType{DType::F32, {3, 3}}}), {3, 3},
              {1, 1, 0, 3, 3, 2, 5, 5, 4});
  a.set("axis", std::int64_t(0));
  try {
    run(Op::Gather, a, {data, tensor({1}, {3})});
    FAIL("expected an InputError");
  } catch (const gm::InputError &e) {
    CHECK(std::string(e.what()) == "gather index 3 out of range [0,3)");
  }
  CHECK_THROWS_AS(run(Op::Gather, a, {data, tensor({1}, {-4})}), gm::InputError);
}

TEST_CASE("evaluateOp checks operand count and sizes") {
  CHECK_THROWS_WITH_AS(run(Op::Add, {}, {iota({2})}), "add takes 2 operands, got 1", gm::InputError);
  CHECK_THROWS_WITH_AS(run(Op::Conv, convAttrs({1}, {0, 0}, {1}, 1), {iota({1, 1, 3})}),
                       "conv takes 2 to 3 operands, got 1", gm::InputError);
  Tensor bad;
  bad.shape = {2, 2};
  bad.data = {1, 2, 3};
  CHECK_THROWS_AS(run(Op::Relu, {}, {bad}), gm::InputError);
}

TEST_CASE("evaluate: a small graph end to end") {
  gm::Graph g;
  gm::ValueId x = g.addInput("X", TensorType{DType::F32, {1, 3}});
  std::vector<double> wv = {1, -1, 2, 0, 0.5, 1};
  gm::ValueId w = g.addConst(gm::Constant::fromDoubles(TensorType{DType::F32, {3, 2}}, wv));
  std::vector<double> bv = {-1, 1};
  gm::ValueId b = g.addConst(gm::Constant::fromDoubles(TensorType{DType::F32, {2}}, bv));
  gm::ValueId mm = g.add1(Op::MatMul, {x, w}, {}, "MatMul_0");
  gm::ValueId sum = g.add1(Op::Add, {mm, b});
  gm::ValueId r = g.add1(Op::Relu, {sum});
  g.setOutputs({r, sum});
  std::vector<Tensor> out = gm::ref::evaluate(g, std::vector<Tensor>{tensor({1, 3}, {1, 2, 3})});
  REQUIRE(out.size() == 2);
  // [1,2,3] x w = [1*1 + 2*2 + 3*0.5, -1 + 0 + 3] = [6.5, 2]; + b = [5.5, 3].
  checkValues(out[0], {1, 2}, {5.5, 3});
  checkValues(out[1], {1, 2}, {5.5, 3});
  out = gm::ref::evaluate(g, std::vector<Tensor>{tensor({1, 3}, {0, 0, -1})});
  checkValues(out[0], {1, 2}, {0, 0});
  checkValues(out[1], {1, 2}, {-1.5, 0});

  CHECK_THROWS_WITH_AS(gm::ref::evaluate(g, std::vector<Tensor>{}), "graph 'main' takes 1 input, got 0",
                       gm::InputError);
  CHECK_THROWS_WITH_AS(gm::ref::evaluate(g, std::vector<Tensor>{tensor({3}, {1, 2, 3})}),
                       "input 0 'X' expects shape [1,3], got [3]", gm::InputError);
}

TEST_CASE("evaluate: integer graph values and errors name the node") {
  gm::Graph g;
  gm::ValueId data = g.addInput("data", TensorType{DType::F32, {3}});
  gm::ValueId idx = g.addInput("idx", TensorType{DType::I64, {2}});
  Attrs a;
  a.set("axis", std::int64_t(0));
  gm::ValueId y = g.add1(Op::Gather, {data, idx}, a, "Gather_7");
  std::vector<double> seven = {7, -7};
  gm::ValueId num = g.addConst(gm::Constant::fromDoubles(TensorType{DType::I64, {2}}, seven));
  gm::ValueId q = g.add1(Op::Div, {num, idx});
  g.setOutputs({y, q});
  std::vector<Tensor> out =
      gm::ref::evaluate(g, std::vector<Tensor>{tensor({3}, {10, 20, 30}), tensor({2}, {-1, 2})});
  checkValues(out[0], {2}, {30, 30});
  checkValues(out[1], {2}, {-7, -3});
  CHECK_THROWS_WITH_AS(gm::ref::evaluate(g, std::vector<Tensor>{tensor({3}, {10, 20, 30}), tensor({2}, {5, 1})}),
                       "node 'Gather_7' (gather): gather index 5 out of range [0,3)", gm::InputError);
}

TEST_CASE("evaluate: const via fromConstant, f16 widened exactly") {
  gm::Graph g;
  std::vector<double> v = {0.1, -2.5};
  gm::ValueId c = g.addConst(gm::Constant::fromDoubles(TensorType{DType::F32, {2}}, v));
  g.setOutputs({c});
  std::vector<Tensor> out = gm::ref::evaluate(g, {});
  checkValues(out[0], {2}, {static_cast<double>(0.1f), -2.5}, 0);
}

} // TEST_SUITE
