// ref::inputGradient against central finite differences of the interpreter,
// op by op, on small graphs with random inputs (away from kinks with
// probability one) and random output weights.
#include "ir/error.h"
#include "ir/graph.h"
#include "ir/interp/gradient.h"
#include "ir/interp/interpreter.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using gm::Attrs;
using gm::DType;
using gm::Graph;
using gm::Op;
using gm::Shape;
using gm::TensorType;
using gm::ValueId;
using gm::ref::Tensor;
using Ints = std::vector<std::int64_t>;

// Deterministic values in [lo, hi).
std::vector<double> uniform(std::size_t n, std::uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<double> v(n);
  std::uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;
  for (double &e : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    e = lo + (hi - lo) * static_cast<double>(s >> 11) * 0x1.0p-53;
  }
  return v;
}

ValueId constant(Graph &g, Shape shape, std::uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<double> v = uniform(static_cast<std::size_t>(gm::numElements(shape)), seed, lo, hi);
  return g.addConst(gm::Constant::fromDoubles(TensorType{DType::F32, std::move(shape)}, v));
}

ValueId scalar(Graph &g, double value) {
  std::vector<double> v = {value};
  return g.addConst(gm::Constant::fromDoubles(TensorType{DType::F32, {1}}, v));
}

double weightedSum(const Graph &g, const Tensor &x, const std::vector<double> &w) {
  double sum = 0;
  std::size_t k = 0;
  for (const Tensor &t : gm::ref::evaluate(g, std::span(&x, 1)))
    for (double v : t.data)
      sum += w[k++] * v;
  return sum;
}

// The input gets values in [lo, hi); the check is relative to the larger of
// the gradient's magnitude and 1.
void checkGradient(const Graph &g, double lo = -1.0, double hi = 1.0, std::uint32_t seed = 1) {
  const TensorType &type = g.type(g.inputs().at(0));
  Tensor x{type.shape, uniform(static_cast<std::size_t>(type.numElements()), seed, lo, hi)};
  std::size_t numOutputs = 0;
  for (ValueId v : g.outputs())
    numOutputs += static_cast<std::size_t>(g.type(v).numElements());
  std::vector<double> w = uniform(numOutputs, seed + 100);
  gm::ref::GradientResult r = gm::ref::inputGradient(g, x, w);

  std::vector<double> flat;
  for (const Tensor &t : gm::ref::evaluate(g, std::span(&x, 1)))
    flat.insert(flat.end(), t.data.begin(), t.data.end());
  CHECK(r.outputs == flat);
  REQUIRE(r.gradient.size() == x.data.size());
  const double h = 1e-6;
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    Tensor plus = x, minus = x;
    plus.data[i] += h;
    minus.data[i] -= h;
    double fd = (weightedSum(g, plus, w) - weightedSum(g, minus, w)) / (2 * h);
    INFO("input element " << i << ": gradient " << r.gradient[i] << ", finite difference " << fd);
    CHECK(std::fabs(r.gradient[i] - fd) <= 1e-6 * std::max(1.0, std::fabs(fd)));
  }
}

Attrs intAttr(const char *name, std::int64_t value) {
  Attrs a;
  a.set(name, value);
  return a;
}

Attrs reduceAttrs(Ints axes, bool keepdims) {
  Attrs a;
  a.set("axes", axes);
  a.set("keepdims", std::int64_t(keepdims ? 1 : 0));
  return a;
}

} // namespace

TEST_SUITE("gradient") {

TEST_CASE("unary ops") {
  for (Op op : {Op::Relu, Op::Sigmoid, Op::Tanh, Op::Exp, Op::Log, Op::Erf, Op::Sqrt, Op::Neg, Op::Abs,
                Op::Silu, Op::Gelu}) {
    INFO(std::string(gm::opKeyword(op)));
    Graph g;
    ValueId x = g.addInput("x", {DType::F32, {2, 3}});
    g.setOutputs({g.add1(op, {x})});
    bool positive = op == Op::Log || op == Op::Sqrt;
    checkGradient(g, positive ? 0.2 : -2.0, 2.0);
  }
}

TEST_CASE("binary ops with broadcasting, both operands depending on the input") {
  for (Op op : {Op::Add, Op::Sub, Op::Mul, Op::Div, Op::Pow}) {
    INFO(std::string(gm::opKeyword(op)));
    Graph g;
    ValueId x = g.addInput("x", {DType::F32, {2, 3, 4}});
    // b is [1,3,4] (broadcast along dim 0) and c is [4] (broadcast from a lower rank).
    ValueId b = g.add1(Op::ReduceMean, {x}, reduceAttrs({0}, true));
    ValueId c = g.add1(Op::ReduceSum, {x}, reduceAttrs({0, 1}, false));
    ValueId a = x;
    if (op == Op::Div || op == Op::Pow) { // keep denominators and bases away from 0
      a = g.add1(Op::Add, {g.add1(Op::Sigmoid, {x}), scalar(g, 0.5)});
      b = g.add1(Op::Add, {g.add1(Op::Sigmoid, {b}), scalar(g, 0.5)});
      c = g.add1(Op::Add, {g.add1(Op::Sigmoid, {c}), scalar(g, 0.5)});
    }
    ValueId k = constant(g, {3, 1}, 5, 0.5, 1.5);
    g.setOutputs({g.add1(op, {a, b}), g.add1(op, {c, a}), g.add1(op, {k, a}), g.add1(op, {a, a})});
    checkGradient(g);
  }
}

TEST_CASE("matmul: batched, broadcast, vectors, both operands from the input") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {2, 3, 4}});
  Attrs perm;
  perm.set("perm", Ints{0, 2, 1});
  ValueId xt = g.add1(Op::Transpose, {x}, perm); // [2,4,3]
  ValueId self = g.add1(Op::MatMul, {x, xt});    // [2,3,3]
  ValueId right = g.add1(Op::MatMul, {x, constant(g, {4, 5}, 2)});   // B broadcast over the batch
  ValueId left = g.add1(Op::MatMul, {constant(g, {1, 2, 3}, 3), x}); // A broadcast: [2,2,4]
  Attrs flat;
  flat.set("shape", Ints{24});
  Attrs first4;
  first4.set("starts", Ints{0});
  first4.set("ends", Ints{4});
  first4.set("steps", Ints{1});
  ValueId v = g.add1(Op::Slice, {g.add1(Op::Reshape, {x}, flat)}, first4); // [4]
  // A 1-D operand on either side: [4] x [2,4,3] and [2,3,4] x [4].
  g.setOutputs({self, right, left, g.add1(Op::MatMul, {v, xt}), g.add1(Op::MatMul, {x, v})});
  checkGradient(g);
}

TEST_CASE("conv: strides, pads, dilations, groups, bias; weights from the input") {
  {
    Graph g;
    ValueId x = g.addInput("x", {DType::F32, {1, 4, 5, 6}});
    Attrs a;
    a.set("strides", Ints{2, 1});
    a.set("pads", Ints{1, 0, 1, 2});
    a.set("dilations", Ints{1, 2});
    a.set("group", std::int64_t(2));
    g.setOutputs({g.add1(Op::Conv, {x, constant(g, {6, 2, 3, 2}, 4), constant(g, {6}, 5)}, a)});
    checkGradient(g);
  }
  {
    // 1-D conv whose weights are a slice of the input itself.
    Graph g;
    ValueId x = g.addInput("x", {DType::F32, {1, 2, 7}});
    Attrs s;
    s.set("starts", Ints{0, 0, 2});
    s.set("ends", Ints{1, 2, 5});
    s.set("steps", Ints{1, 1, 1});
    ValueId w = g.add1(Op::Slice, {x}, s); // [1,2,3]
    Attrs a;
    a.set("strides", Ints{1});
    a.set("pads", Ints{1, 1});
    a.set("dilations", Ints{2});
    a.set("group", std::int64_t(1));
    g.setOutputs({g.add1(Op::Conv, {x, w}, a)});
    checkGradient(g);
  }
}

TEST_CASE("batch_norm, with parameters from the input too") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {2, 3, 2, 2}});
  Attrs eps;
  eps.set("epsilon", 1e-3);
  ValueId fixed = g.add1(Op::BatchNorm,
                         {x, constant(g, {3}, 6), constant(g, {3}, 7), constant(g, {3}, 8), constant(g, {3}, 9, 0.1, 2)},
                         eps);
  ValueId m = g.add1(Op::ReduceMean, {x}, reduceAttrs({0, 2, 3}, false)); // [3]
  ValueId var = g.add1(Op::Add, {g.add1(Op::Sigmoid, {m}), scalar(g, 0.5)});
  ValueId moving = g.add1(Op::BatchNorm, {x, m, g.add1(Op::Tanh, {m}), g.add1(Op::Neg, {m}), var}, eps);
  g.setOutputs({fixed, moving});
  checkGradient(g);
}

TEST_CASE("max_pool and average_pool: padding, ceil mode, dilations, both divisors") {
  auto pool = [](Op op, Ints kernel, Ints strides, Ints pads, bool ceil) {
    Attrs a;
    a.set("kernel", kernel);
    a.set("strides", strides);
    a.set("pads", pads);
    a.set("ceil_mode", std::int64_t(ceil ? 1 : 0));
    return a;
  };
  for (bool ceil : {false, true}) {
    Graph g;
    ValueId x = g.addInput("x", {DType::F32, {1, 2, 5, 6}});
    Attrs mp = pool(Op::MaxPool, {2, 3}, {2, 2}, {1, 1, 0, 1}, ceil);
    mp.set("dilations", Ints{1, 2});
    Attrs ap0 = pool(Op::AveragePool, {3, 2}, {2, 1}, {1, 0, 1, 1}, ceil);
    ap0.set("count_include_pad", std::int64_t(0));
    Attrs ap1 = ap0;
    ap1.set("count_include_pad", std::int64_t(1));
    g.setOutputs({g.add1(Op::MaxPool, {x}, mp), g.add1(Op::AveragePool, {x}, ap0), g.add1(Op::AveragePool, {x}, ap1)});
    checkGradient(g);
  }
  { // 1-D and 3-D
    Graph g;
    ValueId x = g.addInput("x", {DType::F32, {1, 2, 3, 3, 4}});
    Attrs mp = pool(Op::MaxPool, {2, 2, 2}, {1, 1, 2}, {0, 1, 0, 0, 0, 1}, false);
    mp.set("dilations", Ints{1, 1, 1});
    g.setOutputs({g.add1(Op::MaxPool, {x}, mp)});
    checkGradient(g);
  }
}

TEST_CASE("softmax along inner and outer axes") {
  for (std::int64_t axis : {0, 1, 2}) {
    Graph g;
    ValueId x = g.addInput("x", {DType::F32, {2, 3, 4}});
    g.setOutputs({g.add1(Op::Softmax, {x}, intAttr("axis", axis))});
    checkGradient(g, -3.0, 3.0);
  }
}

TEST_CASE("layer_norm with broadcast scale and bias, and scale from the input") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {2, 3, 4}});
  Attrs a = intAttr("axis", 1);
  a.set("epsilon", 1e-3);
  ValueId fixed = g.add1(Op::LayerNorm, {x, constant(g, {4}, 10), constant(g, {3, 4}, 11)}, a);
  Attrs last = intAttr("axis", 2);
  last.set("epsilon", 1e-5);
  ValueId scale = g.add1(Op::ReduceMean, {x}, reduceAttrs({0, 1}, false)); // [4]
  ValueId moving = g.add1(Op::LayerNorm, {x, scale}, last);
  g.setOutputs({fixed, moving});
  checkGradient(g);
}

TEST_CASE("rms_norm with broadcast scale, and scale from the input") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {2, 3, 4}});
  Attrs a = intAttr("axis", 1);
  a.set("epsilon", 1e-3);
  ValueId fixed = g.add1(Op::RmsNorm, {x, constant(g, {3, 1}, 10)}, a);
  Attrs last = intAttr("axis", 2);
  last.set("epsilon", 1e-5);
  ValueId scale = g.add1(Op::ReduceMean, {x}, reduceAttrs({0, 1}, false)); // [4]
  ValueId moving = g.add1(Op::RmsNorm, {x, scale}, last);
  g.setOutputs({fixed, moving});
  checkGradient(g);
}

TEST_CASE("reduce_mean and reduce_sum, with and without keepdims") {
  for (Op op : {Op::ReduceMean, Op::ReduceSum})
    for (bool keep : {false, true}) {
      Graph g;
      ValueId x = g.addInput("x", {DType::F32, {2, 3, 4}});
      g.setOutputs({g.add1(op, {x}, reduceAttrs({0, 2}, keep)), g.add1(op, {x}, reduceAttrs({1}, keep))});
      checkGradient(g);
    }
}

TEST_CASE("movement ops: reshape, transpose, slice with negative steps, concat, gather") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {2, 3, 4}});
  Attrs shape;
  shape.set("shape", Ints{4, 6});
  Attrs perm;
  perm.set("perm", Ints{2, 0, 1});
  Attrs slice;
  slice.set("starts", Ints{1, 2, 3});
  slice.set("ends", Ints{2, -1, 0});
  slice.set("steps", Ints{1, -2, -2});
  ValueId t = g.add1(Op::Transpose, {x}, perm);
  // concat of the input, a constant and a value derived from the input
  ValueId cat = g.add1(Op::Concat, {x, constant(g, {2, 1, 4}, 12), g.add1(Op::Exp, {x})}, intAttr("axis", 1));
  std::vector<double> idx = {2, -1, 2, 0};
  ValueId indices = g.addConst(gm::Constant::fromDoubles(TensorType{DType::I64, {2, 2}}, idx));
  ValueId gathered = g.add1(Op::Gather, {x, indices}, intAttr("axis", 2)); // repeated index: scatter-add
  g.setOutputs({g.add1(Op::Reshape, {x}, shape), t,
                g.add1(Op::Slice, {x}, slice), cat, gathered});
  checkGradient(g);
}

TEST_CASE("a small network end to end; integer and constant branches carry no gradient") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {1, 6}});
  ValueId h = g.add1(Op::Relu, {g.add1(Op::Add, {g.add1(Op::MatMul, {x, constant(g, {6, 8}, 13)}), constant(g, {8}, 14)})});
  ValueId y = g.add1(Op::MatMul, {h, constant(g, {8, 3}, 15)});
  ValueId unrelated = g.add1(Op::Exp, {constant(g, {3}, 16)});
  g.setOutputs({y, unrelated, x});
  checkGradient(g);

  std::vector<double> w(3 + 3 + 6, 0.0);
  w[3] = 1.0; // only the constant output: zero gradient
  Tensor in{{1, 6}, uniform(6, 3)};
  gm::ref::GradientResult r = gm::ref::inputGradient(g, in, w);
  CHECK(r.gradient == std::vector<double>(6, 0.0));
  w.assign(12, 0.0);
  w[6 + 4] = 2.5; // the input itself as an output
  r = gm::ref::inputGradient(g, in, w);
  CHECK(r.gradient == std::vector<double>{0, 0, 0, 0, 2.5, 0});
}

TEST_CASE("the evaluator gives the same answer on repeated calls") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {2, 3}});
  ValueId w = constant(g, {3, 3}, 17);
  g.setOutputs({g.add1(Op::Tanh, {g.add1(Op::MatMul, {g.add1(Op::Mul, {x, x}), w})})});
  gm::ref::GradientEvaluator evaluator(g);
  std::vector<double> weights = uniform(6, 18);
  for (std::uint32_t seed = 0; seed < 3; ++seed) {
    Tensor in{{2, 3}, uniform(6, seed)};
    gm::ref::GradientResult a = evaluator(in, weights), b = gm::ref::inputGradient(g, in, weights);
    CHECK(a.outputs == b.outputs);
    CHECK(a.gradient == b.gradient);
  }
}

TEST_CASE("errors: input count, input shape, weight count") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {2}});
  g.setOutputs({g.add1(Op::Relu, {x})});
  std::vector<double> two = {1, 1}, three = {1, 1, 1};
  CHECK_THROWS_WITH_AS(gm::ref::inputGradient(g, Tensor{{2}, {1, 2}}, three),
                       "gradient weights have 3 entries for 2 output elements", gm::InputError);
  CHECK_THROWS_WITH_AS(gm::ref::inputGradient(g, Tensor{{1, 2}, {1, 2}}, two),
                       "gradient input expects shape [2], got [1,2] with 2 values", gm::InputError);
  Graph none;
  none.setOutputs({scalar(none, 1.0)});
  CHECK_THROWS_AS(gm::ref::inputGradient(none, Tensor{{1}, {0}}, std::vector<double>{1}), gm::InputError);
}

} // TEST_SUITE
