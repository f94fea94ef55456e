#include "frontend/demo/demo_model.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "ir/verifier.h"
#include "passes/pass.h"

#include <doctest/doctest.h>

using namespace gm;

TEST_SUITE("ir") {

TEST_CASE("every op has a distinct keyword that maps back to it") {
  for (int i = 0; i < numOps(); ++i) {
    Op op = static_cast<Op>(i);
    auto back = opFromKeyword(opKeyword(op));
    REQUIRE(back.has_value());
    CHECK(*back == op);
  }
  CHECK_FALSE(opFromKeyword("no_such_op").has_value());
}

TEST_CASE("type rules: broadcasting, matmul, conv, pools") {
  using T = TensorType;
  auto one = [](Op op, std::vector<T> in, Attrs attrs = {}) { return inferResultTypes(op, in, attrs).at(0); };
  CHECK(one(Op::Add, {T{DType::F32, {4, 1, 3}}, T{DType::F32, {5, 1}}}).shape == Shape{4, 5, 3});
  CHECK_THROWS_AS(one(Op::Add, {T{DType::F32, {4, 3}}, T{DType::F32, {5}}}), InputError);
  CHECK_THROWS_AS(one(Op::Add, {T{DType::F32, {3}}, T{DType::I64, {3}}}), InputError);
  CHECK(one(Op::MatMul, {T{DType::F32, {2, 1, 3, 4}}, T{DType::F32, {5, 4, 6}}}).shape == Shape{2, 5, 3, 6});
  CHECK(one(Op::MatMul, {T{DType::F32, {4}}, T{DType::F32, {4, 6}}}).shape == Shape{6});
  CHECK_THROWS_AS(one(Op::MatMul, {T{DType::F32, {3, 4}}, T{DType::F32, {5, 6}}}), InputError);

  Attrs conv;
  conv.set("strides", std::vector<std::int64_t>{2, 2});
  conv.set("pads", std::vector<std::int64_t>{1, 1, 1, 1});
  conv.set("dilations", std::vector<std::int64_t>{1, 1});
  conv.set("group", std::int64_t{1});
  CHECK(one(Op::Conv, {T{DType::F32, {1, 3, 32, 32}}, T{DType::F32, {16, 3, 4, 4}}, T{DType::F32, {16}}}, conv)
            .shape == Shape{1, 16, 16, 16});
  CHECK_THROWS_AS(one(Op::Conv, {T{DType::F32, {1, 4, 32, 32}}, T{DType::F32, {16, 3, 4, 4}}}, conv), InputError);

  Attrs pool;
  pool.set("kernel", std::vector<std::int64_t>{3, 3});
  pool.set("strides", std::vector<std::int64_t>{2, 2});
  pool.set("pads", std::vector<std::int64_t>{0, 0, 0, 0});
  pool.set("dilations", std::vector<std::int64_t>{1, 1});
  pool.set("ceil_mode", std::int64_t{0});
  CHECK(one(Op::MaxPool, {T{DType::F32, {1, 1, 4, 4}}}, pool).shape == Shape{1, 1, 1, 1});
  pool.set("ceil_mode", std::int64_t{1});
  CHECK(one(Op::MaxPool, {T{DType::F32, {1, 1, 4, 4}}}, pool).shape == Shape{1, 1, 2, 2});
}

TEST_CASE("type rules: arity and missing attributes are errors, not crashes") {
  TensorType t{DType::F32, {2, 3}};
  CHECK_THROWS_AS(inferResultTypes(Op::Relu, std::vector<TensorType>{}, {}), InputError);
  CHECK_THROWS_AS(inferResultTypes(Op::Add, std::vector<TensorType>{t}, {}), InputError);
  CHECK_THROWS_WITH_AS(inferResultTypes(Op::Transpose, std::vector<TensorType>{t}, {}),
                       doctest::Contains("attribute 'perm' missing"), InputError);
  Attrs bad;
  bad.set("shape", std::vector<std::int64_t>{7});
  CHECK_THROWS_WITH_AS(inferResultTypes(Op::Reshape, std::vector<TensorType>{t}, bad),
                       doctest::Contains("changes the element count"), InputError);
}

TEST_CASE("huge shapes are rejected before anything is allocated") {
  CHECK_THROWS_AS(numElements(Shape{1 << 30, 1 << 30, 1 << 30}), InputError);
  CHECK_THROWS_AS(numElements(Shape{4, -1}), InputError);
  Graph g;
  CHECK_THROWS_AS(g.addInput("x", {DType::F32, {std::int64_t(1) << 40, 2}}), InputError);
}

TEST_CASE("the builder rejects ill-typed nodes; the verifier names the node") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {1, 4}});
  ValueId w = g.addConst(Constant::fromDoubles({DType::F32, {3, 2}}, std::vector<double>(6, 1.0)));
  CHECK_THROWS_WITH_AS(g.add1(Op::MatMul, {x, w}), doctest::Contains("inner dimensions"), InputError);

  Graph h;
  ValueId a = h.addInput("a", {DType::F32, {2}});
  Node bad;
  bad.op = Op::Relu;
  bad.operands = {a};
  bad.name = "relu_7";
  TensorType wrong[] = {{DType::F32, {3}}};
  h.setOutputs(h.addUnchecked(bad, wrong));
  CHECK_THROWS_WITH_AS(verify(h, "m.gir"), doctest::Contains("m.gir: node 'relu_7' (relu)"), InputError);
}

TEST_CASE("dce removes unused nodes and keeps inputs and outputs") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {3}});
  ValueId unused = g.add1(Op::Exp, {x});
  g.add1(Op::Neg, {unused});
  ValueId y = g.add1(Op::Relu, {x});
  g.setOutputs({y});
  PassOptions options;
  CHECK(dce(g, options));
  CHECK(g.numNodes() == 2);
  CHECK(g.node(1).op == Op::Relu);
  verify(g, "dce");
  CHECK_FALSE(dce(g, options));
}

TEST_CASE("runPasses refuses an unknown pass by name") {
  Graph g = demo::buildModel();
  CHECK_THROWS_WITH_AS(runPasses(g, {"no-such-pass"}, {}, "demo"), doctest::Contains("unknown pass 'no-such-pass'"),
                       InputError);
}

TEST_CASE("half and bfloat16 conversions are exact where they must be") {
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    float f = halfToFloat(static_cast<std::uint16_t>(bits));
    if (f != f)
      continue; // NaN payloads need not survive
    CHECK_EQ(floatToHalfNearest(f), static_cast<std::uint16_t>(bits));
  }
  CHECK(halfToFloat(0x3c00) == 1.0f);
  CHECK(halfToFloat(0x0001) == 0x1.0p-24f);
  CHECK(bfloat16ToFloat(0x3f80) == 1.0f);
  CHECK(floatToHalfNearest(1.0f + 0x1.0p-11f) == 0x3c00); // tie to even
}

} // TEST_SUITE
