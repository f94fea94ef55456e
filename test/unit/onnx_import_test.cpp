// ONNX import: small models built with the protobuf API, written to a temp
// file and imported; bad files must give one-line InputErrors naming the file
// and the node or tensor; the shared VNN-COMP networks must import and match
// the ONNX Runtime reference outputs.
#include "frontend/onnx/onnx_import.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"

#include "test/temp_dir.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using gm::DType;
using gm::Graph;
using gm::Op;
using gm::Shape;
using gm::ref::Tensor;
using Ints = std::vector<std::int64_t>;

// A directory for the test models, removed at exit.
fs::path tempDir() {
  static gm::test::TempDir dir("gamma-onnx");
  return dir.path();
}

void writeFile(const fs::path &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readFile(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Builds a ModelProto. Dims of -1 in inputs are symbolic ("N").
struct Model {
  onnx::ModelProto proto;
  onnx::GraphProto *g;

  explicit Model(std::int64_t opset = 13) {
    proto.set_ir_version(8);
    proto.set_producer_name("gamma-test");
    onnx::OperatorSetIdProto *o = proto.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    g = proto.mutable_graph();
    g->set_name("test");
  }

  onnx::NodeProto &node(const std::string &op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                        const std::string &name = "") {
    onnx::NodeProto *n = g->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + std::to_string(g->node_size()) : name);
    for (auto &i : inputs)
      n->add_input(i);
    for (auto &o : outputs)
      n->add_output(o);
    return *n;
  }

  void input(const std::string &name, const Ints &dims, int elem = onnx::TensorProto_DataType_FLOAT) {
    onnx::ValueInfoProto *vi = g->add_input();
    vi->set_name(name);
    onnx::TypeProto_Tensor *tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    onnx::TensorShapeProto *shape = tt->mutable_shape();
    for (std::int64_t d : dims) {
      onnx::TensorShapeProto_Dimension *dim = shape->add_dim();
      if (d < 0)
        dim->set_dim_param("N");
      else
        dim->set_dim_value(d);
    }
  }

  void output(const std::string &name) { g->add_output()->set_name(name); }

  onnx::TensorProto &init(const std::string &name, const Ints &dims, const std::vector<float> &values,
                          bool raw = true) {
    onnx::TensorProto *t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_FLOAT);
    for (std::int64_t d : dims)
      t->add_dims(d);
    if (raw)
      t->set_raw_data(std::string(reinterpret_cast<const char *>(values.data()), values.size() * 4));
    else
      for (float v : values)
        t->add_float_data(v);
    return *t;
  }

  onnx::TensorProto &initInt64(const std::string &name, const Ints &dims, const Ints &values) {
    onnx::TensorProto *t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_INT64);
    for (std::int64_t d : dims)
      t->add_dims(d);
    for (std::int64_t v : values)
      t->add_int64_data(v);
    return *t;
  }

  std::string save(const std::string &stem) const {
    fs::path path = tempDir() / (stem + ".onnx");
    std::string bytes;
    REQUIRE(proto.SerializeToString(&bytes));
    writeFile(path, bytes);
    return path.string();
  }
};

void setInt(onnx::NodeProto &n, const std::string &name, std::int64_t v) {
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void setInts(onnx::NodeProto &n, const std::string &name, const Ints &v) {
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (std::int64_t x : v)
    a->add_ints(x);
}

void setFloat(onnx::NodeProto &n, const std::string &name, float v) {
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void setString(onnx::NodeProto &n, const std::string &name, const std::string &v) {
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

std::vector<Op> opsOf(const Graph &g) {
  std::vector<Op> ops;
  for (const gm::Node &n : g.nodes())
    ops.push_back(n.op);
  return ops;
}

// Ops other than input and const.
std::vector<Op> computeOps(const Graph &g) {
  std::vector<Op> ops;
  for (const gm::Node &n : g.nodes())
    if (n.op != Op::Input && n.op != Op::Const)
      ops.push_back(n.op);
  return ops;
}

const gm::Node &firstNode(const Graph &g, Op op) {
  for (const gm::Node &n : g.nodes())
    if (n.op == op)
      return n;
  FAIL("no node " << gm::opKeyword(op));
  throw 0;
}

Tensor iota(const Shape &shape, double scale = 1.0, double offset = 0.0) {
  Tensor t;
  t.shape = shape;
  std::int64_t n = gm::numElements(shape);
  for (std::int64_t i = 0; i < n; ++i)
    t.data.push_back(offset + scale * static_cast<double>(i));
  return t;
}

Tensor run1(const Graph &g, const std::vector<Tensor> &inputs) {
  std::vector<Tensor> out = gm::ref::evaluate(g, inputs);
  REQUIRE(out.size() == 1);
  return out[0];
}

void checkClose(const std::vector<double> &a, const std::vector<double> &b, double tol = 1e-6) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    CHECK_MESSAGE(std::fabs(a[i] - b[i]) <= tol * std::max(1.0, std::fabs(b[i])),
                  "element " << i << ": " << a[i] << " vs " << b[i]);
}

// The message of the InputError importFile throws, or "" when it does not.
std::string importError(const std::string &path) {
  try {
    gm::onnx_import::importFile(path);
  } catch (const gm::InputError &e) {
    std::string msg = e.what();
    CHECK_MESSAGE(msg.find('\n') == std::string::npos, msg);
    return msg;
  }
  return "";
}

bool contains(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

} // namespace

TEST_SUITE("onnx_import") {

TEST_CASE("Gemm with transB, alpha and beta") {
  Model m(9);
  m.input("a", {2, 3});
  std::vector<float> b = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; // [4,3], transposed by transB
  m.init("b", {4, 3}, b);
  m.init("c", {4}, {0.5f, -1.0f, 2.0f, 0.0f});
  onnx::NodeProto &n = m.node("Gemm", {"a", "b", "c"}, {"y"}, "gemm0");
  setInt(n, "transB", 1);
  setFloat(n, "alpha", 0.5f);
  setFloat(n, "beta", 2.0f);
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("gemm"));
  CHECK(computeOps(g) == std::vector<Op>{Op::MatMul, Op::Mul, Op::Add});
  CHECK(g.type(g.outputs()[0]) == gm::TensorType{DType::F32, {2, 4}});
  // B was transposed at import into an owned constant.
  const gm::Node &mm = firstNode(g, Op::MatMul);
  const gm::Node &bNode = g.definingNode(mm.operands[1]);
  REQUIRE(bNode.op == Op::Const);
  CHECK(bNode.constant->type().shape == Shape{3, 4});
  CHECK(!bNode.constant->source());
  CHECK(mm.name == "gemm0");

  Tensor a = iota({2, 3}, 1.0, -2.0);
  Tensor y = run1(g, {a});
  std::vector<double> expect;
  std::vector<double> c = {0.5, -1, 2, 0};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k)
        s += a.data[i * 3 + k] * b[j * 3 + k];
      expect.push_back(0.5 * s + 2.0 * c[j]);
    }
  checkClose(y.data, expect);
}

TEST_CASE("Gemm with transA and no C") {
  Model m(11);
  m.input("a", {3, 2});
  m.input("b", {3, 4});
  onnx::NodeProto &n = m.node("Gemm", {"a", "b"}, {"y"});
  setInt(n, "transA", 1);
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("gemm_ta"));
  CHECK(computeOps(g) == std::vector<Op>{Op::Transpose, Op::MatMul});
  CHECK(g.type(g.outputs()[0]).shape == Shape{2, 4});
}

TEST_CASE("Reshape with 0 and -1") {
  Model m(13);
  m.input("x", {2, 3, 4});
  m.initInt64("s", {2}, {0, -1});
  m.node("Reshape", {"x", "s"}, {"y"});
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("reshape"));
  CHECK(opsOf(g) == std::vector<Op>{Op::Input, Op::Reshape});
  CHECK(firstNode(g, Op::Reshape).attrs.getInts("shape") == Ints{2, 12});

  Model z(14); // allowzero: a 0 is a literal zero-size dimension
  z.input("x", {2, 3});
  z.initInt64("s", {3}, {0, 2, 3});
  onnx::NodeProto &n = z.node("Reshape", {"x", "s"}, {"y"}, "rz");
  setInt(n, "allowzero", 1);
  z.output("y");
  std::string msg = importError(z.save("reshape_allowzero"));
  CHECK(contains(msg, "rz"));
  CHECK(contains(msg, "cannot reshape"));
}

TEST_CASE("Shape, Gather, Concat and Reshape fold to one reshape") {
  Model m(11);
  m.input("x", {-1, 3, 4});
  m.node("Shape", {"x"}, {"shape"});
  m.initInt64("zero", {}, {0});
  onnx::NodeProto &gather = m.node("Gather", {"shape", "zero"}, {"batch"});
  setInt(gather, "axis", 0);
  onnx::NodeProto &unsq = m.node("Unsqueeze", {"batch"}, {"batch1"});
  setInts(unsq, "axes", {0});
  m.initInt64("minus1", {1}, {-1});
  onnx::NodeProto &cat = m.node("Concat", {"batch1", "minus1"}, {"newshape"});
  setInt(cat, "axis", 0);
  m.node("Reshape", {"x", "newshape"}, {"y"});
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("shape_fold"));
  CHECK(opsOf(g) == std::vector<Op>{Op::Input, Op::Reshape});
  CHECK(g.type(g.inputs()[0]).shape == Shape{1, 3, 4});
  CHECK(g.type(g.outputs()[0]).shape == Shape{1, 12});
}

TEST_CASE("Squeeze and Unsqueeze in both opset forms") {
  for (std::int64_t opset : {11, 13}) {
    CAPTURE(opset);
    Model m(opset);
    m.input("x", {1, 3, 1, 4});
    onnx::NodeProto &sq = m.node("Squeeze", {"x"}, {"s"});
    onnx::NodeProto &un = m.node("Unsqueeze", {"s"}, {"u"});
    if (opset < 13) {
      setInts(sq, "axes", {0, -2});
      setInts(un, "axes", {-1, 1});
    } else {
      m.initInt64("sq_axes", {2}, {0, -2});
      m.initInt64("un_axes", {2}, {-1, 1});
      sq.add_input("sq_axes");
      un.add_input("un_axes");
    }
    m.node("Squeeze", {"u"}, {"all"}); // no axes: every 1
    m.output("s");
    m.output("u");
    m.output("all");
    Graph g = gm::onnx_import::importFile(m.save("squeeze" + std::to_string(opset)));
    REQUIRE(g.outputs().size() == 3);
    CHECK(g.type(g.outputs()[0]).shape == Shape{3, 4});
    CHECK(g.type(g.outputs()[1]).shape == Shape{3, 1, 4, 1});
    CHECK(g.type(g.outputs()[2]).shape == Shape{3, 4});
    CHECK(computeOps(g) == std::vector<Op>{Op::Reshape, Op::Reshape, Op::Reshape});
  }
}

TEST_CASE("Slice with attributes (opset 9) and inputs (opset 13), negative steps") {
  {
    Model m(9);
    m.input("x", {2, 5});
    onnx::NodeProto &n = m.node("Slice", {"x"}, {"y"});
    setInts(n, "starts", {1, -4});
    setInts(n, "ends", {1000, -1});
    setInts(n, "axes", {0, 1});
    m.output("y");
    Graph g = gm::onnx_import::importFile(m.save("slice9"));
    const gm::Node &s = firstNode(g, Op::Slice);
    CHECK(s.attrs.getInts("starts") == Ints{1, 1});
    CHECK(s.attrs.getInts("ends") == Ints{2, 4});
    CHECK(s.attrs.getInts("steps") == Ints{1, 1});
    Tensor y = run1(g, {iota({2, 5})});
    CHECK(y.shape == Shape{1, 3});
    checkClose(y.data, {6, 7, 8});
  }
  {
    Model m(13);
    m.input("x", {2, 5});
    m.initInt64("starts", {1}, {-1});
    m.initInt64("ends", {1}, {std::numeric_limits<std::int64_t>::min()}); // through index 0
    m.initInt64("axes", {1}, {-1});
    m.initInt64("steps", {1}, {-2});
    m.node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"});
    m.output("y");
    Graph g = gm::onnx_import::importFile(m.save("slice13"));
    const gm::Node &s = firstNode(g, Op::Slice);
    CHECK(s.attrs.getInts("starts") == Ints{0, 4});
    CHECK(s.attrs.getInts("ends") == Ints{2, -1});
    CHECK(s.attrs.getInts("steps") == Ints{1, -2});
    Tensor y = run1(g, {iota({2, 5})});
    CHECK(y.shape == Shape{2, 3});
    checkClose(y.data, {4, 2, 0, 9, 7, 5});
  }
  {
    // Reverse with INT64_MAX start and a non-constant (folded) slice of a constant.
    Model m(13);
    m.input("x", {4});
    m.init("k", {4}, {10, 20, 30, 40});
    m.initInt64("starts", {1}, {std::numeric_limits<std::int64_t>::max()});
    m.initInt64("ends", {1}, {-5});
    m.initInt64("steps", {1}, {-1});
    m.node("Slice", {"k", "starts", "ends", "", "steps"}, {"rk"});
    m.node("Add", {"x", "rk"}, {"y"});
    m.output("y");
    Graph g = gm::onnx_import::importFile(m.save("slice_rev"));
    CHECK(computeOps(g) == std::vector<Op>{Op::Add});
    Tensor y = run1(g, {iota({4})});
    checkClose(y.data, {40, 31, 22, 13});
  }
}

TEST_CASE("Softmax before and after opset 13") {
  Model m11(11);
  m11.input("x", {1, 2, 3});
  m11.node("Softmax", {"x"}, {"y"}); // axis 1: softmax over the flattened 6
  m11.output("y");
  Graph g11 = gm::onnx_import::importFile(m11.save("softmax11"));
  CHECK(computeOps(g11) == std::vector<Op>{Op::Reshape, Op::Softmax, Op::Reshape});
  CHECK(firstNode(g11, Op::Softmax).attrs.getInt("axis") == 1);
  CHECK(g11.type(g11.outputs()[0]).shape == Shape{1, 2, 3});
  Tensor x = iota({1, 2, 3}, 0.5);
  Tensor y11 = run1(g11, {x});
  double sum = 0;
  for (double v : x.data)
    sum += std::exp(v);
  std::vector<double> expect11;
  for (double v : x.data)
    expect11.push_back(std::exp(v) / sum);
  checkClose(y11.data, expect11);

  Model m13(13);
  m13.input("x", {1, 2, 3});
  m13.node("Softmax", {"x"}, {"y"}); // axis -1
  m13.output("y");
  Graph g13 = gm::onnx_import::importFile(m13.save("softmax13"));
  CHECK(computeOps(g13) == std::vector<Op>{Op::Softmax});
  CHECK(firstNode(g13, Op::Softmax).attrs.getInt("axis") == 2);
  Tensor y13 = run1(g13, {x});
  std::vector<double> expect13;
  for (int r = 0; r < 2; ++r) {
    double s = 0;
    for (int i = 0; i < 3; ++i)
      s += std::exp(x.data[r * 3 + i]);
    for (int i = 0; i < 3; ++i)
      expect13.push_back(std::exp(x.data[r * 3 + i]) / s);
  }
  checkClose(y13.data, expect13);

  Model last(9); // opset < 13 with the last axis: the coercion is a no-op
  last.input("x", {1, 2, 3});
  setInt(last.node("Softmax", {"x"}, {"y"}), "axis", -1);
  last.output("y");
  Graph gl = gm::onnx_import::importFile(last.save("softmax9_last"));
  CHECK(computeOps(gl) == std::vector<Op>{Op::Softmax});
}

TEST_CASE("Conv with auto_pad SAME_UPPER and SAME_LOWER") {
  for (const char *mode : {"SAME_UPPER", "SAME_LOWER"}) {
    CAPTURE(mode);
    Model m(11);
    m.input("x", {1, 1, 4, 5});
    std::vector<float> w(2 * 1 * 2 * 2, 1.0f);
    m.init("w", {2, 1, 2, 2}, w);
    m.init("b", {2}, {0.0f, 1.0f});
    onnx::NodeProto &n = m.node("Conv", {"x", "w", "b"}, {"y"});
    setString(n, "auto_pad", mode);
    m.output("y");
    Graph g = gm::onnx_import::importFile(m.save(std::string("conv_") + mode));
    const gm::Node &c = firstNode(g, Op::Conv);
    bool upper = std::string(mode) == "SAME_UPPER";
    CHECK(c.attrs.getInts("pads") == (upper ? Ints{0, 0, 1, 1} : Ints{1, 1, 0, 0}));
    CHECK(c.attrs.getInts("strides") == Ints{1, 1});
    CHECK(c.attrs.getInts("dilations") == Ints{1, 1});
    CHECK(c.attrs.getInt("group") == 1);
    CHECK(g.type(g.outputs()[0]).shape == Shape{1, 2, 4, 5});
    Tensor y = run1(g, {iota({1, 1, 4, 5})});
    // Channel 0 at (0,0): upper pads after, so x00+x01+x10+x11; lower pads before, so x00.
    CHECK(y.data[0] == doctest::Approx(upper ? 0 + 1 + 5 + 6 : 0));
  }
  Model s(11); // stride 2: out = ceil(5/2) = 3, total pad = (3-1)*2+3-5 = 2
  s.input("x", {1, 1, 5, 5});
  s.init("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  onnx::NodeProto &n = s.node("Conv", {"x", "w"}, {"y"});
  setString(n, "auto_pad", "SAME_UPPER");
  setInts(n, "strides", {2, 2});
  setInts(n, "kernel_shape", {3, 3});
  s.output("y");
  Graph g = gm::onnx_import::importFile(s.save("conv_stride"));
  CHECK(firstNode(g, Op::Conv).attrs.getInts("pads") == Ints{1, 1, 1, 1});
  CHECK(g.type(g.outputs()[0]).shape == Shape{1, 1, 3, 3});
}

TEST_CASE("BatchNormalization") {
  Model m(9);
  m.input("x", {1, 2, 2});
  m.init("scale", {2}, {2.0f, 0.5f});
  m.init("bias", {2}, {1.0f, -1.0f});
  m.init("mean", {2}, {0.5f, 1.0f});
  m.init("var", {2}, {4.0f, 0.25f});
  onnx::NodeProto &n = m.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"});
  setFloat(n, "epsilon", 0.0f);
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("bn"));
  CHECK(computeOps(g) == std::vector<Op>{Op::BatchNorm});
  CHECK(firstNode(g, Op::BatchNorm).attrs.getFloat("epsilon") == 0.0);
  Tensor y = run1(g, {iota({1, 2, 2})});
  checkClose(y.data, {(0 - 0.5) / 2 * 2 + 1, (1 - 0.5) / 2 * 2 + 1, (2 - 1.0) / 0.5 * 0.5 - 1,
                      (3 - 1.0) / 0.5 * 0.5 - 1});

  Model d(9); // default epsilon is 1e-5 (as a float attribute)
  d.input("x", {1, 2});
  for (const char *p : {"s", "b", "m", "v"})
    d.init(p, {2}, {1.0f, 1.0f});
  d.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
  d.output("y");
  Graph gd = gm::onnx_import::importFile(d.save("bn_default"));
  CHECK(firstNode(gd, Op::BatchNorm).attrs.getFloat("epsilon") == static_cast<double>(1e-5f));

  Model t(15); // training outputs used
  t.input("x", {1, 2});
  for (const char *p : {"s", "b", "m", "v"})
    t.init(p, {2}, {1.0f, 1.0f});
  t.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y", "rm", "rv"}, "bn_train");
  t.output("y");
  t.output("rm");
  std::string msg = importError(t.save("bn_train"));
  CHECK(contains(msg, "bn_train"));
  CHECK(contains(msg, "'rm'"));
}

TEST_CASE("dynamic batch dimension becomes 1; other dynamic dimensions are errors") {
  Model m(13);
  m.input("x", {-1, 4});
  m.node("Relu", {"x"}, {"y"});
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("dyn_batch"));
  CHECK(g.type(g.inputs()[0]) == gm::TensorType{DType::F32, {1, 4}});
  CHECK(g.definingNode(g.inputs()[0]).attrs.getString("name") == "x");

  Model bad(13);
  bad.input("x", {1, -1});
  bad.node("Relu", {"x"}, {"y"});
  bad.output("y");
  std::string path = bad.save("dyn_other");
  std::string msg = importError(path);
  CHECK(contains(msg, path));
  CHECK(contains(msg, "input 'x'"));
  CHECK(contains(msg, "dynamic"));
}

TEST_CASE("large initializers refer to the bytes of the model file") {
  std::vector<float> w(20 * 30), w2(30 * 7);
  for (std::size_t i = 0; i < w.size(); ++i)
    w[i] = std::sin(static_cast<float>(i)) * 0.25f;
  for (std::size_t i = 0; i < w2.size(); ++i)
    w2[i] = std::cos(static_cast<float>(i) * 0.5f);
  Model m(13);
  m.input("x", {1, 20});
  m.init("w", {20, 30}, w);                // raw_data
  m.init("w2", {30, 7}, w2, /*raw=*/false); // packed float_data
  m.init("small", {7}, {1, 2, 3, 4, 5, 6, 7});
  m.node("MatMul", {"x", "w"}, {"h"});
  m.node("MatMul", {"h", "w2"}, {"h2"});
  m.node("Add", {"h2", "small"}, {"y"});
  m.output("y");
  std::string path = m.save("fileref");
  Graph g = gm::onnx_import::importFile(path);
  std::string bytes = readFile(path);
  int refs = 0;
  for (const gm::Node &n : g.nodes()) {
    if (n.op != Op::Const)
      continue;
    const auto &src = n.constant->source();
    if (n.constant->type().numElements() <= 16) {
      CHECK(!src);
      continue;
    }
    REQUIRE(src);
    ++refs;
    CHECK(src->path == fs::absolute(path).lexically_normal().string());
    auto cb = n.constant->bytes();
    REQUIRE(src->offset + cb.size() <= bytes.size());
    CHECK(std::memcmp(bytes.data() + src->offset, cb.data(), cb.size()) == 0);
    const std::vector<float> &expect = n.name == "w" ? w : w2;
    REQUIRE(cb.size() == expect.size() * 4);
    CHECK(std::memcmp(cb.data(), expect.data(), cb.size()) == 0);
  }
  CHECK(refs == 2);

  // The printed form refers to the file and parses back to the same text.
  std::string text = gm::printGraph(g);
  CHECK(contains(text, "@\"" + fs::absolute(path).lexically_normal().string() + "\""));
  Graph back = gm::parseGraph(text, path);
  CHECK(gm::printGraph(back) == text);
}

TEST_CASE("constants fold; Identity, Dropout and Cast") {
  Model m(13);
  m.input("x", {3});
  m.init("a", {3}, {1, 2, 3});
  m.init("b", {3}, {0.5f, 0.5f, 0.5f});
  m.node("Mul", {"a", "b"}, {"ab"});
  m.node("Identity", {"ab"}, {"abi"});
  m.node("Dropout", {"x"}, {"xd"});
  m.node("Add", {"xd", "abi"}, {"y"});
  onnx::NodeProto &c = m.node("Cast", {"y"}, {"yc"});
  setInt(c, "to", onnx::TensorProto_DataType_FLOAT);
  m.output("yc");
  m.output("ab");
  Graph g = gm::onnx_import::importFile(m.save("fold"));
  CHECK(computeOps(g) == std::vector<Op>{Op::Add});
  std::vector<Tensor> out = gm::ref::evaluate(g, std::vector<Tensor>{iota({3})});
  REQUIRE(out.size() == 2);
  checkClose(out[0].data, {0.5, 2, 3.5});
  checkClose(out[1].data, {0.5, 1, 1.5});

  Model bad(13);
  bad.input("x", {3});
  setInt(bad.node("Cast", {"x"}, {"y"}, "cast_i"), "to", onnx::TensorProto_DataType_INT64);
  bad.output("y");
  std::string msg = importError(bad.save("cast_bad"));
  CHECK(contains(msg, "cast_i"));
  CHECK(contains(msg, "(Cast)"));
}

TEST_CASE("ConstantOfShape, Constant and ReduceMean") {
  Model m(13);
  m.input("x", {1, 2, 3});
  m.node("Shape", {"x"}, {"s"});
  onnx::NodeProto &cos = m.node("ConstantOfShape", {"s"}, {"ones"});
  {
    onnx::AttributeProto *a = cos.add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto_DataType_FLOAT);
    a->mutable_t()->add_dims(1);
    a->mutable_t()->add_float_data(2.0f);
  }
  m.node("Mul", {"x", "ones"}, {"x2"});
  onnx::NodeProto &k = m.node("Constant", {}, {"axes"});
  setInts(k, "value_ints", {-1});
  onnx::NodeProto &r = m.node("ReduceMean", {"x2"}, {"y"});
  setInts(r, "axes", {-1});
  setInt(r, "keepdims", 0);
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("cos"));
  CHECK(computeOps(g) == std::vector<Op>{Op::Mul, Op::ReduceMean});
  CHECK(firstNode(g, Op::ReduceMean).attrs.getInts("axes") == Ints{2});
  Tensor y = run1(g, {iota({1, 2, 3})});
  CHECK(y.shape == Shape{1, 2});
  checkClose(y.data, {2, 8});
}

TEST_CASE("MaxPool and AveragePool") {
  Model m(12);
  m.input("x", {1, 1, 4, 4});
  onnx::NodeProto &mp = m.node("MaxPool", {"x"}, {"p"});
  setInts(mp, "kernel_shape", {2, 2});
  setInts(mp, "strides", {2, 2});
  onnx::NodeProto &ap = m.node("AveragePool", {"p"}, {"y"});
  setInts(ap, "kernel_shape", {2, 2});
  setInts(ap, "pads", {0, 0, 1, 1});
  setInt(ap, "count_include_pad", 1);
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("pool"));
  CHECK(computeOps(g) == std::vector<Op>{Op::MaxPool, Op::AveragePool});
  const gm::Node &mpn = firstNode(g, Op::MaxPool);
  CHECK(mpn.attrs.getInts("pads") == Ints{0, 0, 0, 0});
  CHECK(mpn.attrs.getInts("dilations") == Ints{1, 1});
  CHECK(mpn.attrs.getInt("ceil_mode") == 0);
  CHECK(firstNode(g, Op::AveragePool).attrs.getInt("count_include_pad") == 1);
  CHECK(g.type(g.outputs()[0]).shape == Shape{1, 1, 2, 2});

  Model bad(12);
  bad.input("x", {1, 1, 4, 4});
  onnx::NodeProto &n = bad.node("MaxPool", {"x"}, {"p", "idx"}, "mp_idx");
  setInts(n, "kernel_shape", {2, 2});
  bad.output("idx");
  std::string msg = importError(bad.save("pool_idx"));
  CHECK(contains(msg, "mp_idx"));
  CHECK(contains(msg, "Indices"));
}

TEST_CASE("LayerNormalization") {
  Model m(17);
  m.input("x", {1, 2, 4});
  m.init("g", {4}, {1, 1, 1, 1});
  m.init("b", {4}, {0, 0, 0, 0});
  m.node("LayerNormalization", {"x", "g", "b"}, {"y"});
  m.output("y");
  Graph g = gm::onnx_import::importFile(m.save("layernorm"));
  const gm::Node &ln = firstNode(g, Op::LayerNorm);
  CHECK(ln.attrs.getInt("axis") == 2);
  CHECK(ln.attrs.getFloat("epsilon") == static_cast<double>(1e-5f));
}

TEST_CASE("bad files give one-line errors naming the file and the culprit") {
  Model good(13);
  good.input("x", {1, 4});
  good.init("w", {4, 4}, std::vector<float>(16, 1.0f));
  good.node("MatMul", {"x", "w"}, {"y"});
  good.output("y");
  std::string goodPath = good.save("good");
  std::string whole = readFile(goodPath);

  SUBCASE("truncated") {
    fs::path p = tempDir() / "truncated.onnx";
    writeFile(p, whole.substr(0, whole.size() / 2));
    std::string msg = importError(p.string());
    CHECK(contains(msg, p.string()));
    CHECK(contains(msg, "not a valid ONNX model"));
  }
  SUBCASE("garbage") {
    fs::path p = tempDir() / "garbage.onnx";
    std::string junk;
    for (int i = 0; i < 1000; ++i)
      junk += static_cast<char>((i * 7919 + 13) % 251);
    writeFile(p, junk);
    std::string msg = importError(p.string());
    CHECK(contains(msg, p.string()));
    CHECK(contains(msg, "not a valid ONNX model"));
  }
  SUBCASE("empty file") {
    fs::path p = tempDir() / "empty.onnx";
    writeFile(p, "");
    CHECK(contains(importError(p.string()), "not a valid ONNX model"));
  }
  SUBCASE("missing file") {
    std::string p = (tempDir() / "does_not_exist.onnx").string();
    CHECK(contains(importError(p), "does_not_exist.onnx"));
  }
  SUBCASE("unknown op") {
    Model m(13);
    m.input("x", {1, 4});
    m.node("FooBar", {"x"}, {"y"}, "weird_node");
    m.output("y");
    std::string p = m.save("unknown_op");
    std::string msg = importError(p);
    CHECK(contains(msg, p));
    CHECK(contains(msg, "node 'weird_node' (FooBar): unsupported op"));
  }
  SUBCASE("unknown op without a name") {
    Model m(13);
    m.input("x", {1, 4});
    m.node("Relu", {"x"}, {"r"});
    onnx::NodeProto &n = m.node("FooBar", {"r"}, {"y"});
    n.clear_name();
    m.output("y");
    std::string msg = importError(m.save("unknown_op_unnamed"));
    CHECK(contains(msg, "#1 (FooBar)"));
  }
  SUBCASE("wrong initializer size") {
    Model m(13);
    m.input("x", {1, 3});
    onnx::TensorProto &t = m.init("bias", {3}, {1, 2});
    (void)t;
    m.node("Add", {"x", "bias"}, {"y"});
    m.output("y");
    std::string p = m.save("bad_init");
    std::string msg = importError(p);
    CHECK(contains(msg, p));
    CHECK(contains(msg, "initializer 'bias': 8 bytes, expected 12"));
  }
  SUBCASE("huge dimensions") {
    Model m(13);
    m.input("x", {1, 3});
    onnx::TensorProto &t = m.init("big", {}, {});
    t.add_dims(std::int64_t(1) << 40);
    t.add_dims(std::int64_t(1) << 40);
    m.node("Add", {"x", "big"}, {"y"});
    m.output("y");
    std::string p = m.save("huge");
    std::string msg = importError(p);
    CHECK(contains(msg, p));
    CHECK(contains(msg, "initializer 'big'"));
  }
  SUBCASE("negative dimension") {
    Model m(13);
    m.input("x", {1, 3});
    onnx::TensorProto &t = m.init("neg", {}, {});
    t.add_dims(-3);
    m.node("Add", {"x", "neg"}, {"y"});
    m.output("y");
    CHECK(contains(importError(m.save("negdim")), "initializer 'neg'"));
  }
  SUBCASE("huge ConstantOfShape") {
    Model m(13);
    m.input("x", {1, 3});
    m.initInt64("shape", {2}, {std::int64_t(1) << 30, std::int64_t(1) << 30});
    m.node("ConstantOfShape", {"shape"}, {"c"}, "cos_huge");
    m.node("Add", {"x", "c"}, {"y"});
    m.output("y");
    CHECK(contains(importError(m.save("cos_huge")), "cos_huge"));
  }
  SUBCASE("undefined input") {
    Model m(13);
    m.input("x", {1, 4});
    m.node("Relu", {"nothere"}, {"y"}, "relu_bad");
    m.output("y");
    std::string p = m.save("undefined");
    std::string msg = importError(p);
    CHECK(contains(msg, p));
    CHECK(contains(msg, "relu_bad"));
    CHECK(contains(msg, "input 'nothere' is not defined"));
  }
  SUBCASE("missing required input") {
    Model m(13);
    m.input("x", {1, 4});
    m.node("Add", {"x"}, {"y"}, "add_one");
    m.output("y");
    CHECK(contains(importError(m.save("missing_input")), "add_one"));
  }
  SUBCASE("unsupported opset") {
    for (std::int64_t opset : {7, 18}) {
      Model m(opset);
      m.input("x", {1, 4});
      m.node("Relu", {"x"}, {"y"});
      m.output("y");
      std::string p = m.save("opset" + std::to_string(opset));
      std::string msg = importError(p);
      CHECK(contains(msg, p));
      CHECK(contains(msg, "opset " + std::to_string(opset)));
    }
  }
  SUBCASE("other domain") {
    Model m(13);
    onnx::OperatorSetIdProto *o = m.proto.add_opset_import();
    o->set_domain("com.microsoft");
    o->set_version(1);
    m.input("x", {1, 4});
    m.node("Gelu", {"x"}, {"y"}, "gelu").set_domain("com.microsoft");
    m.output("y");
    std::string msg = importError(m.save("domain"));
    CHECK(contains(msg, "com.microsoft"));
    CHECK(contains(msg, "gelu"));
  }
  SUBCASE("wrong attribute type") {
    Model m(13);
    m.input("x", {1, 4});
    onnx::NodeProto &n = m.node("Flatten", {"x"}, {"y"}, "flat");
    setFloat(n, "axis", 1.0f);
    m.output("y");
    std::string msg = importError(m.save("attr_type"));
    CHECK(contains(msg, "flat"));
    CHECK(contains(msg, "axis"));
  }
  SUBCASE("out-of-range axis") {
    Model m(13);
    m.input("x", {1, 4});
    setInt(m.node("Concat", {"x", "x"}, {"y"}, "cat"), "axis", 5);
    m.output("y");
    CHECK(contains(importError(m.save("axis_range")), "cat"));
  }
  SUBCASE("shape mismatch") {
    Model m(13);
    m.input("x", {1, 4});
    m.init("w", {3, 2}, {1, 2, 3, 4, 5, 6});
    m.node("MatMul", {"x", "w"}, {"y"}, "mm");
    m.output("y");
    std::string msg = importError(m.save("mismatch"));
    CHECK(contains(msg, "node 'mm' (MatMul)"));
  }
  SUBCASE("non-constant reshape shape") {
    Model m(13);
    m.input("x", {1, 4});
    m.input("s", {2}, onnx::TensorProto_DataType_INT64);
    m.node("Reshape", {"x", "s"}, {"y"}, "dyn_reshape");
    m.output("y");
    CHECK(contains(importError(m.save("dyn_reshape")), "dyn_reshape"));
  }
  SUBCASE("undefined graph output") {
    Model m(13);
    m.input("x", {1, 4});
    m.output("nowhere");
    CHECK(contains(importError(m.save("no_output")), "'nowhere'"));
  }
  SUBCASE("external data") {
    Model m(13);
    m.input("x", {1, 4});
    onnx::TensorProto &t = m.init("ext", {4}, {});
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
    onnx::StringStringEntryProto *e = t.add_external_data();
    e->set_key("location");
    e->set_value("weights.bin");
    m.node("Add", {"x", "ext"}, {"y"});
    m.output("y");
    std::string msg = importError(m.save("external"));
    CHECK(contains(msg, "initializer 'ext'"));
    CHECK(contains(msg, "external data"));
  }
  SUBCASE("int64 beyond 2^53 in a graph constant") {
    Model m(13);
    m.input("x", {2}, onnx::TensorProto_DataType_INT64);
    m.initInt64("k", {2}, {1, (std::int64_t(1) << 53) + 1});
    m.node("Add", {"x", "k"}, {"y"}, "add_big");
    m.output("y");
    std::string msg = importError(m.save("int64_big"));
    CHECK(contains(msg, "add_big"));
    CHECK(contains(msg, "2^53"));
  }
}

TEST_CASE("every byte-prefix and corruption of a small model fails cleanly") {
  Model m(13);
  m.input("x", {1, 4});
  m.init("w", {4, 4}, std::vector<float>(16, 0.5f));
  m.init("b", {4}, {1, 2, 3, 4});
  m.node("Gemm", {"x", "w", "b"}, {"h"});
  setInts(m.node("Transpose", {"h"}, {"t"}), "perm", {1, 0});
  m.node("Softmax", {"t"}, {"y"});
  m.output("y");
  std::string whole;
  REQUIRE(m.proto.SerializeToString(&whole));
  fs::path p = tempDir() / "fuzz.onnx";
  int imported = 0, rejected = 0;
  auto attempt = [&](const std::string &bytes) {
    writeFile(p, bytes);
    try {
      gm::onnx_import::importFile(p.string());
      ++imported;
    } catch (const gm::InputError &e) {
      ++rejected;
      CHECK(contains(e.what(), p.string()));
    }
  };
  for (std::size_t n = 0; n < whole.size(); n += 3)
    attempt(whole.substr(0, n));
  std::uint32_t seed = 12345;
  for (int i = 0; i < 300; ++i) {
    std::string bytes = whole;
    for (int k = 0; k < 3; ++k) {
      seed = seed * 1664525u + 1013904223u;
      bytes[(seed >> 8) % bytes.size()] = static_cast<char>(seed >> 24);
    }
    attempt(bytes);
  }
  CHECK(rejected > 0);
  MESSAGE("fuzz: " << imported << " imported, " << rejected << " rejected");
}

// The shared VNN-COMP networks are covered by shared_models_test.cpp (import,
// round trip, and every reference point).

} // TEST_SUITE
