#include "frontend/demo/demo_model.h"
#include "ir/error.h"
#include "ir/text.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>

using namespace gm;

TEST_SUITE("text") {

TEST_CASE("print(parse(print(g))) == print(g) for the demo network") {
  std::string once = printGraph(demo::buildModel());
  std::string twice = printGraph(parseGraph(once, "demo.gir"));
  CHECK(once == twice);
  CHECK(once.find("matmul") != std::string::npos);
}

TEST_CASE("attributes, several results, names and special floats survive a round trip") {
  const char *text = R"(graph @"odd name" {
  %0 = input {name = "x \"quoted\""} : f32[1,3,4,4] loc("in")
  %1 = max_pool %0 {ceil_mode = 1, dilations = [1, 1], kernel = [3, 3], pads = [0, 0, 1, 1], strides = [2, 2]} : f32[1,3,2,2]
  %2 = const dense<[1.5, -0]> : f32[2]
  %3 = const dense<[0.1, 3, inf, -inf]> : f64[4]
  %4 = layer_norm %1, %2 {axis = 3, epsilon = 1e-05} : f32[1,3,2,2]
  %5 = const dense<[1, -7]> : i64[2]
  return %4, %3, %5
})";
  std::string once = printGraph(parseGraph(text, "t.gir"));
  CHECK(printGraph(parseGraph(once, "t.gir")) == once);
  CHECK(once.find("epsilon = 1e-05") != std::string::npos);
  CHECK(once.find("dense<[1.5, -0]>") != std::string::npos);
  CHECK(once.find("dense<[0.1, 3, inf, -inf]> : f64[4]") != std::string::npos);
  CHECK(once.find("return %4, %3, %5") != std::string::npos);
  CHECK(once.find("loc(\"in\")") != std::string::npos);
}

TEST_CASE("parse errors give path:line:col") {
  auto message = [](const char *text) {
    try {
      parseGraph(text, "bad.gir");
    } catch (const InputError &e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("graph @g {\n  %0 = input {name = \"x\"} : f32[2]\n  %1 = frobnicate %0 : f32[2]\n  return %1\n}") ==
        "bad.gir:3:8: unknown op 'frobnicate'");
  CHECK(message("graph @g {\n  %0 = input {name = \"x\"} : f32[2]\n  %1 = relu %7 : f32[2]\n  return %1\n}") ==
        "bad.gir:3:13: use of undefined value %7");
  CHECK(message("graph @g {\n  %0 = input {name = \"x\"} : f32[2]\n  %1 = relu %0 : f32[3]\n  return %1\n}")
            .starts_with("bad.gir:3:8: result 0 is declared f32[3] but relu gives f32[2]"));
  CHECK(message("graph @g {\n  %0 = input {name = \"x\"} : f32[2]\n") ==
        "bad.gir:3:1: unexpected end of file: missing 'return'");
  CHECK(message("graph @g {\n  %0 = const dense<[1, 2]> : f32[3]\n  return %0\n}")
            .starts_with("bad.gir:2:14: dense constant has 2 values"));
  CHECK(message("graph @g {\n  %0 = input {name = \"x\"} : f32[1099511627776,2]\n  return %0\n}")
            .starts_with("bad.gir:2:29: shape [1099511627776,2] has more than 2^40 elements"));
  CHECK(message("graph @g {\n  %0 = input {name = \"x\"} : f32[2]\n  %0 = relu %0 : f32[2]\n  return %0\n}") ==
        "bad.gir:3:3: value %0 defined twice");
}

TEST_CASE("weight references: printed for large file-backed constants, checked by hash") {
  auto dir = std::filesystem::temp_directory_path() / "gamma-text-test";
  std::filesystem::create_directories(dir);
  auto weights = dir / "w.bin";
  std::vector<float> values(64);
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = 0.25f * static_cast<float>(i);
  {
    std::ofstream out(weights, std::ios::binary);
    out.write("HEADER..", 8);
    out.write(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(float));
  }
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {1, 8}});
  ValueId w = g.addConst(Constant::fromFile({DType::F32, {8, 8}}, MappedFile::open(weights.string()), 8));
  g.setOutputs({g.add1(Op::MatMul, {x, w})});
  std::string text = printGraph(g);
  CHECK(text.find("@\"" + weights.string() + "\"[8] xxh3:") != std::string::npos);
  Graph back = parseGraph(text, (dir / "m.gir").string());
  CHECK(printGraph(back) == text);
  CHECK(back.definingNode(back.node(2).operands[1]).constant->at(5) == 1.25);

  // The same reference against changed bytes is refused.
  {
    std::fstream out(weights, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(12);
    float changed = 99.0f;
    out.write(reinterpret_cast<const char *>(&changed), sizeof changed);
  }
  CHECK_THROWS_WITH_AS(parseGraph(text, (dir / "m.gir").string()), doctest::Contains("changed"), InputError);
  std::filesystem::remove_all(dir);
}

} // TEST_SUITE
