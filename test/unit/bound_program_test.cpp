// Bound programs: lower-bounds against the direct methods (bounds/), and the
// bound-program passes against the interpreter's numbers before them.
#include "bounds/bounds.h"
#include "bounds/fp.h"
#include "bounds/relax.h"
#include "frontend/demo/demo_model.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "passes/pass.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

using namespace gm;

namespace {

std::shared_ptr<const Constant> f32(Shape shape, const std::vector<double> &values) {
  std::vector<double> rounded(values.begin(), values.end());
  for (double &v : rounded)
    v = static_cast<float>(v);
  return Constant::fromDoubles(TensorType{DType::F32, std::move(shape)}, rounded);
}

// A random feed-forward net: optional normalisation prefix, dense layers with
// relu between them, an affine last layer. Some weights come transposed, as
// PyTorch exports store them.
Graph randomChain(std::mt19937_64 &rng, int layers) {
  std::uniform_int_distribution<int> width(1, 7);
  std::normal_distribution<double> w(0, 0.6);
  Graph g;
  int n = width(rng) + 1;
  ValueId v = g.addInput("x", {DType::F32, {1, n}});
  if (rng() % 2) {
    std::vector<double> mean(n), scale(n);
    for (int i = 0; i < n; ++i)
      mean[i] = w(rng), scale[i] = 0.5 + std::fabs(w(rng));
    v = g.add1(Op::Sub, {v, g.addConst(f32({n}, mean))}, {}, "norm.sub");
    v = g.add1(Op::Mul, {v, g.addConst(f32({1, n}, scale))}, {}, "norm.mul");
  }
  for (int l = 0; l < layers; ++l) {
    int m = l + 1 == layers ? width(rng) : width(rng) + 2;
    std::vector<double> W(static_cast<std::size_t>(n * m)), b(m);
    for (double &x : W)
      x = w(rng);
    for (double &x : b)
      x = 0.3 * w(rng);
    ValueId wv;
    if (rng() % 2) {
      wv = g.addConst(f32({n, m}, W));
    } else {
      Attrs perm;
      perm.set("perm", std::vector<std::int64_t>{1, 0});
      wv = g.add1(Op::Transpose, {g.addConst(f32({m, n}, W))}, perm);
    }
    v = g.add1(Op::MatMul, {v, wv}, {}, fmt::format("fc{}", l));
    v = g.add1(Op::Add, {v, g.addConst(f32({m}, b))}, {}, fmt::format("fc{}.bias", l));
    if (l + 1 < layers)
      v = g.add1(Op::Relu, {v}, {}, fmt::format("relu{}", l));
    n = m;
  }
  g.setOutputs({v});
  return g;
}

bounds::Box randomBox(std::mt19937_64 &rng, std::size_t n, double radius) {
  std::normal_distribution<double> c(0, 1);
  bounds::Box box;
  for (std::size_t i = 0; i < n; ++i) {
    double x = c(rng);
    box.lower.push_back(x - radius);
    box.upper.push_back(x + radius);
  }
  return box;
}

bounds::Spec randomSpec(std::mt19937_64 &rng, std::size_t outputs, std::size_t rows) {
  std::normal_distribution<double> c(0, 1);
  bounds::Spec spec;
  spec.numOutputs = outputs;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < outputs; ++j)
      spec.outputCoeffs.push_back(rng() % 3 == 0 ? 0 : c(rng));
    spec.constants.push_back(c(rng));
  }
  return spec;
}

struct ProgramResult {
  std::vector<double> lower, upper, rowLower, rowUpper;
};

// Runs a bound program in the interpreter; specRows rows, the spec's first.
ProgramResult runProgram(const Graph &program, const bounds::Box &box, const bounds::Spec *spec,
                         std::int64_t specRows) {
  std::int64_t n = static_cast<std::int64_t>(box.lower.size());
  std::vector<ref::Tensor> inputs{{{n}, box.lower}, {{n}, box.upper}};
  if (specRows > 0) {
    std::int64_t outs = static_cast<std::int64_t>(spec->numOutputs);
    ref::Tensor C{{specRows, outs}, std::vector<double>(static_cast<std::size_t>(specRows * outs), 0.0)};
    ref::Tensor d{{specRows}, std::vector<double>(static_cast<std::size_t>(specRows), 0.0)};
    std::copy(spec->outputCoeffs.begin(), spec->outputCoeffs.end(), C.data.begin());
    std::copy(spec->constants.begin(), spec->constants.end(), d.data.begin());
    inputs.push_back(C);
    inputs.push_back(d);
  }
  std::vector<ref::Tensor> out = ref::evaluate(program, inputs);
  ProgramResult r{out[0].data, out[1].data, {}, {}};
  if (specRows > 0) {
    r.rowLower.assign(out[2].data.begin(), out[2].data.begin() + static_cast<std::ptrdiff_t>(spec->numRows()));
    r.rowUpper.assign(out[3].data.begin(), out[3].data.begin() + static_cast<std::ptrdiff_t>(spec->numRows()));
  }
  return r;
}

Graph lower(const Graph &net, const std::string &method, std::int64_t specRows,
            const std::vector<std::string> &passes = {}) {
  Graph g = net;
  PassOptions options;
  options.boundMethod = method;
  options.specRows = specRows;
  std::vector<std::string> names{"lower-bounds"};
  names.insert(names.end(), passes.begin(), passes.end());
  runPasses(g, names, options, "test");
  verify(g, "test");
  return g;
}

// Largest difference relative to the magnitude, over both results.
double worst = 0;
void compare(const std::vector<double> &a, const std::vector<double> &b, double tolerance) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(a[i] - b[i]) / (1 + std::max(std::fabs(a[i]), std::fabs(b[i])));
    worst = std::max(worst, d);
    CHECK_MESSAGE(d <= tolerance, "element " << i << ": " << a[i] << " vs " << b[i]);
  }
}

const char *kMethods[] = {"ibp", "crown", "crown-ibp"};

void checkAgainstDirect(const Graph &net, const bounds::Box &box, const bounds::Spec *spec) {
  std::int64_t rows = spec ? static_cast<std::int64_t>(spec->numRows()) + 2 : 0; // padded with zero rows
  for (const char *method : kMethods) {
    CAPTURE(method);
    Graph program = lower(net, method, rows);
    ProgramResult p = runProgram(program, box, spec, rows);
    bounds::Options options;
    options.method = *bounds::parseMethod(method);
    options.threads = 1;
    bounds::Result direct = bounds::computeBounds(net, box, spec, options);
    compare(p.lower, direct.lower, 1e-9);
    compare(p.upper, direct.upper, 1e-9);
    if (spec) {
      compare(p.rowLower, direct.rowLower, 1e-9);
      compare(p.rowUpper, direct.rowUpper, 1e-9);
    }
  }
}

// Sampled points (corners included) lie inside the program's bounds.
void checkSound(const Graph &net, const bounds::Box &box, const bounds::Spec &spec, std::mt19937_64 &rng) {
  std::size_t n = box.lower.size();
  for (const char *method : kMethods) {
    Graph program = lower(net, method, static_cast<std::int64_t>(spec.numRows()));
    ProgramResult p = runProgram(program, box, &spec, static_cast<std::int64_t>(spec.numRows()));
    for (int s = 0; s < 200; ++s) {
      ref::Tensor x{net.type(net.inputs()[0]).shape, std::vector<double>(n)};
      for (std::size_t i = 0; i < n; ++i) {
        double t = s < 2 ? s : std::uniform_real_distribution<double>(0, 1)(rng);
        x.data[i] = box.lower[i] + t * (box.upper[i] - box.lower[i]);
      }
      std::vector<double> y = ref::evaluate(net, std::span(&x, 1))[0].data;
      for (std::size_t j = 0; j < y.size(); ++j) {
        CHECK(p.lower[j] <= y[j]);
        CHECK(y[j] <= p.upper[j]);
      }
      for (std::size_t r = 0; r < spec.numRows(); ++r) {
        double row = spec.constants[r];
        for (std::size_t j = 0; j < y.size(); ++j)
          row += spec.outputCoeffs[r * y.size() + j] * y[j];
        CHECK(p.rowLower[r] <= row + 1e-12 * std::fabs(row));
        CHECK(row - 1e-12 * std::fabs(row) <= p.rowUpper[r]);
      }
    }
  }
}

std::map<std::string, int> opCounts(const Graph &g) {
  std::map<std::string, int> counts;
  for (const Node &node : g.nodes())
    ++counts[std::string(opKeyword(node.op))];
  return counts;
}

} // namespace

TEST_SUITE("bound_program") {

TEST_CASE("bound programs print, parse back and verify") {
  Graph net = demo::buildModel();
  for (const char *method : kMethods) {
    Graph program = lower(net, method, 3);
    std::string text = printGraph(program);
    CHECK(printGraph(parseGraph(text, "test")) == text);
  }
}

TEST_CASE("relax relu equals bounds::relax") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> c(0, 2);
  std::vector<double> lo, hi;
  for (int i = 0; i < 2000; ++i) {
    double a = c(rng), b = c(rng);
    lo.push_back(std::min(a, b));
    hi.push_back(std::max(a, b));
  }
  lo.push_back(-1e-300), hi.push_back(1e-300);
  bounds::Lines lines = bounds::relax(Op::Relu, lo, hi);
  std::int64_t n = static_cast<std::int64_t>(lo.size());
  Attrs fn;
  fn.set("fn", std::string("relu"));
  std::vector<ref::Tensor> in{{{n}, lo}, {{n}, hi}};
  TensorType t{DType::F64, {n}};
  std::vector<TensorType> types{t, t, t, t};
  std::vector<ref::Tensor> r = ref::evaluateOp(Op::Relax, fn, in, types);
  CHECK(r[0].data == lines.kl);
  CHECK(r[1].data == lines.bl);
  CHECK(r[2].data == lines.ku);
  CHECK(r[3].data == lines.bu);
}

TEST_CASE("interpreted bound programs equal the direct methods on the demo network") {
  Graph net = demo::buildModel();
  std::mt19937_64 rng(11);
  for (double radius : {0.02, 0.3}) {
    bounds::Box box = randomBox(rng, 5, radius);
    bounds::Spec spec = randomSpec(rng, 5, 4);
    checkAgainstDirect(net, box, nullptr);
    checkAgainstDirect(net, box, &spec);
  }
  MESSAGE("worst relative difference so far: " << worst);
}

TEST_CASE("interpreted bound programs equal the direct methods on generated chains") {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 60; ++trial) {
    CAPTURE(trial);
    Graph net = randomChain(rng, 1 + trial % 4);
    std::size_t n = static_cast<std::size_t>(net.type(net.inputs()[0]).numElements());
    std::size_t outs = static_cast<std::size_t>(net.type(net.outputs()[0]).numElements());
    bounds::Box box = randomBox(rng, n, trial % 3 == 0 ? 1.0 : 0.1);
    bounds::Spec spec = randomSpec(rng, outs, 1 + trial % 3);
    checkAgainstDirect(net, box, nullptr);
    checkAgainstDirect(net, box, &spec);
  }
  MESSAGE("worst relative difference: " << worst);
}

TEST_CASE("bound programs are sound on sampled points") {
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 20; ++trial) {
    Graph net = trial == 0 ? demo::buildModel() : randomChain(rng, 1 + trial % 4);
    std::size_t n = static_cast<std::size_t>(net.type(net.inputs()[0]).numElements());
    std::size_t outs = static_cast<std::size_t>(net.type(net.outputs()[0]).numElements());
    checkSound(net, randomBox(rng, n, 0.5), randomSpec(rng, outs, 3), rng);
  }
}

TEST_CASE("lower-bounds refuses what the method cannot bound, naming the node") {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {1, 4}});
  Attrs axis;
  axis.set("axis", std::int64_t{1});
  g.setOutputs({g.add1(Op::Softmax, {x}, axis, "Softmax_7")});
  for (const char *method : kMethods) {
    Graph copy = g;
    PassOptions options;
    options.boundMethod = method;
    if (std::string(method) == "ibp") { // op by op: the softmax's own IBP rule
      runPasses(copy, {"lower-bounds"}, options, "test");
      CHECK(opCounts(copy)["ibp.node"] == 1);
      continue;
    }
    CHECK_THROWS_WITH_AS(runPasses(copy, {"lower-bounds"}, options, "test"),
                         doctest::Contains("node 'Softmax_7' (softmax): CROWN cannot bound softmax"), InputError);
  }
}

TEST_CASE("fuse-pos-neg and fuse-mul-add keep every number and fuse what they say") {
  std::mt19937_64 rng(21);
  for (int trial = 0; trial < 12; ++trial) {
    Graph net = trial == 0 ? demo::buildModel() : randomChain(rng, 1 + trial % 4);
    std::size_t n = static_cast<std::size_t>(net.type(net.inputs()[0]).numElements());
    std::size_t outs = static_cast<std::size_t>(net.type(net.outputs()[0]).numElements());
    bounds::Box box = randomBox(rng, n, 0.4);
    bounds::Spec spec = randomSpec(rng, outs, 2);
    for (const char *method : kMethods) {
      CAPTURE(method);
      Graph plain = lower(net, method, 2);
      Graph pn = lower(net, method, 2, {"fuse-pos-neg"});
      Graph both = lower(net, method, 2, {"fuse-pos-neg", "fuse-mul-add"});
      Graph all = lower(net, method, 2, {"fuse-pos-neg", "fuse-mul-add", "dce", "plan-memory"});
      auto before = opCounts(plain), afterPn = opCounts(pn), afterChain = opCounts(both);
      CHECK(afterPn["split_sign"] == 0);
      CHECK(afterPn["ibp.matmul"] == 0);
      CHECK(afterPn["ibp.matmul_pn"] == before["ibp.matmul"]);
      CHECK(afterPn["lb.relax_pn"] == before["lb.relax"]);
      CHECK(afterPn["lb.concretize_pn"] == before["lb.concretize"]);
      CHECK(pn.numNodes() == plain.numNodes() - static_cast<std::size_t>(before["split_sign"]));
      // every relu follows a bias add: each such pair becomes one chain
      int steps = afterPn["ibp.add"] + afterPn["ibp.mul"] + afterPn["ibp.relu"];
      int fusedSteps = afterChain["ibp.add"] + afterChain["ibp.mul"] + afterChain["ibp.relu"];
      if (std::string(method) == "ibp") // CROWN reads every pre-activation again: those stay
        CHECK(afterChain["ibp.chain"] >= afterPn["ibp.relu"]);
      CHECK(fusedSteps + 2 * afterChain["ibp.chain"] <= steps);
      ProgramResult a = runProgram(plain, box, &spec, 2);
      for (const Graph *g : {&pn, &both, &all}) {
        ProgramResult b = runProgram(*g, box, &spec, 2);
        CHECK(a.lower == b.lower); // bit for bit
        CHECK(a.upper == b.upper);
        CHECK(a.rowLower == b.rowLower);
        CHECK(a.rowUpper == b.rowUpper);
      }
    }
  }
}

TEST_CASE("plan-memory gives simultaneously live values disjoint arena ranges") {
  std::mt19937_64 rng(33);
  for (int trial = 0; trial < 10; ++trial) {
    Graph net = trial == 0 ? demo::buildModel() : randomChain(rng, 1 + trial % 4);
    for (const char *method : kMethods) {
      std::int64_t arena = -1;
      Graph g = net;
      PassOptions options;
      options.boundMethod = method;
      options.specRows = 3;
      options.arenaBytes = &arena;
      runPasses(g, boundPipeline(), options, "test");
      verify(g, "test");
      CHECK(arena == arenaSize(g));
      std::vector<std::size_t> lastUse(g.numValues(), 0);
      for (NodeId id = 0; id < g.numNodes(); ++id)
        for (ValueId v : g.node(id).operands)
          lastUse[v] = id;
      for (ValueId v : g.outputs())
        lastUse[v] = g.numNodes();
      struct Range {
        std::size_t def, last;
        std::int64_t begin, end;
      };
      std::vector<Range> ranges;
      std::int64_t total = 0;
      for (NodeId id = 0; id < g.numNodes(); ++id) {
        const Node &node = g.node(id);
        if (node.op == Op::Input || node.op == Op::Const) {
          CHECK_FALSE(node.attrs.has("arena"));
          continue;
        }
        const auto &offsets = node.attrs.getInts("arena");
        REQUIRE(offsets.size() == node.results.size());
        for (std::size_t i = 0; i < offsets.size(); ++i) {
          const TensorType &t = g.type(node.results[i]);
          std::int64_t bytes = t.numElements() * static_cast<std::int64_t>(dtypeSize(t.dtype));
          CHECK(offsets[i] % 64 == 0);
          ranges.push_back({id, std::max<std::size_t>(lastUse[node.results[i]], id), offsets[i], offsets[i] + bytes});
          total += bytes;
        }
      }
      for (std::size_t i = 0; i < ranges.size(); ++i)
        for (std::size_t j = i + 1; j < ranges.size(); ++j) {
          const Range &a = ranges[i], &b = ranges[j];
          bool together = a.def <= b.last && b.def <= a.last;
          bool overlap = a.begin < b.end && b.begin < a.end;
          CHECK_MESSAGE(!(together && overlap), "nodes " << a.def << ".." << a.last << " [" << a.begin << ", "
                                                      << a.end << ") and " << b.def << ".." << b.last << " ["
                                                      << b.begin << ", " << b.end << ")");
        }
      CHECK(arena <= total + 64 * static_cast<std::int64_t>(ranges.size()));
      if (trial == 0 && std::string(method) == "crown")
        MESSAGE("demo crown, 3 spec rows: arena " << arena << " bytes, " << total << " bytes of intermediates");
    }
  }
}

} // TEST_SUITE
