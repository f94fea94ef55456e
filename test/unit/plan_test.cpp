// Plans: the file format and its refusals, and plan results against the
// direct bound methods.
#include "bounds/bounds.h"
#include "codegen/cpu_features.h"
#include "codegen/target_desc.h"
#include "frontend/demo/demo_model.h"
#include "frontend/model_loader.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/error.h"
#include "ir/text.h"
#include "passes/pass.h"
#include "runtime/plan_run.h"
#include "runtime/plan_kernels.h"
#include "runtime/plan_write.h"
#include "runtime/row_ops.h"
#include "bounds/relu_lines.h"
#include "ir/interp/interpreter.h"
#include "test/shared_material.h"
#include "test/temp_dir.h"

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <regex>
#include <sstream>

using namespace gm;

namespace {

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const InputError &e) {
    return e.what();
  }
  return "(no error)";
}

// The target plans are compiled for here: gammac's default where this CPU
// runs it.
std::string testTarget() { return codegen::missingHostFeatures("x86-64-v3").empty() ? "x86-64-v3" : "host"; }

// What gammac --emit plan writes, object code included.
PlanFile makePlan(const Graph &net, const std::string &modelPath, const std::string &method, std::int64_t rows) {
  PlanFile plan;
  PlanHeader &h = plan.header;
  h.gammaVersion = "test";
  h.method = method;
  h.specRows = rows;
  h.target = "x86-64-v3";
  h.modelPath = modelPath;
  h.modelHash = modelPath == demo::kModelName ? "" : fileHash(modelPath);
  h.inputs = net.type(net.inputs()[0]).numElements();
  h.outputs = net.type(net.outputs()[0]).numElements();
  Graph program = net;
  PassOptions options;
  options.boundMethod = method;
  options.specRows = rows;
  options.arenaBytes = &h.arenaBytes;
  runPasses(program, boundPipeline(), options, "test");
  plan.boundIr = printGraph(program);
  compilePlanKernels(plan, program, codegen::describeTarget(testTarget()));
  h.target = testTarget();
  h.requiredFeatures = h.target == "host" ? codegen::hostVectorFeatures() : codegen::requiredFeatures(h.target);
  return plan;
}

// A random dense relu chain, weights inline (the .gir holds them).
Graph randomChain(std::mt19937_64 &rng, int layers) {
  std::uniform_int_distribution<int> width(2, 7);
  std::normal_distribution<double> w(0, 0.6);
  Graph g;
  int n = width(rng);
  ValueId v = g.addInput("x", {DType::F32, {1, n}});
  for (int l = 0; l < layers; ++l) {
    int m = width(rng);
    std::vector<double> W(static_cast<std::size_t>(n * m)), b(static_cast<std::size_t>(m));
    for (double &x : W)
      x = static_cast<float>(w(rng));
    for (double &x : b)
      x = static_cast<float>(0.3 * w(rng));
    ValueId wv = g.addConst(Constant::fromDoubles({DType::F32, {n, m}}, W));
    v = g.add1(Op::MatMul, {v, wv}, {}, fmt::format("fc{}", l));
    v = g.add1(Op::Add, {v, g.addConst(Constant::fromDoubles({DType::F32, {m}}, b))}, {}, fmt::format("b{}", l));
    if (l + 1 < layers)
      v = g.add1(Op::Relu, {v}, {}, fmt::format("relu{}", l));
    n = m;
  }
  g.setOutputs({v});
  return g;
}

void compare(const std::vector<double> &a, const std::vector<double> &b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    CHECK_MESSAGE(std::fabs(a[i] - b[i]) <= 1e-9 * std::max({1.0, std::fabs(a[i]), std::fabs(b[i])}),
                  "element " << i << ": " << a[i] << " vs " << b[i]);
}

// Plan bounds against computeBounds with the same box and spec.
void checkPlanEqualsDirect(const test::TempDir &dir, const Graph &net, const std::string &modelPath,
                           std::mt19937_64 &rng) {
  std::size_t n = static_cast<std::size_t>(net.type(net.inputs()[0]).numElements());
  std::size_t outs = static_cast<std::size_t>(net.type(net.outputs()[0]).numElements());
  std::normal_distribution<double> c(0, 1);
  bounds::Box box;
  for (std::size_t i = 0; i < n; ++i) {
    double x = c(rng);
    box.lower.push_back(x - 0.1);
    box.upper.push_back(x + 0.1);
  }
  bounds::Spec spec;
  spec.numOutputs = outs;
  for (int r = 0; r < 2; ++r) {
    for (std::size_t j = 0; j < outs; ++j)
      spec.outputCoeffs.push_back(c(rng));
    spec.constants.push_back(c(rng));
  }
  for (const char *method : {"ibp", "crown"}) {
    CAPTURE(method);
    std::string path = (dir.path() / fmt::format("{}.gplan", method)).string();
    writePlan(path, makePlan(net, modelPath, method, 3)); // one padded row
    bounds::Options options;
    options.method = *bounds::parseMethod(method);
    options.threads = 1;
    bounds::Result direct = bounds::computeBounds(net, box, &spec, options);
    // The object code where this CPU runs it, and the interpreter alone.
    for (bool interpret : {false, true}) {
      CAPTURE(interpret);
      LoadedPlan plan = loadPlan(path, interpret);
      if (!interpret && ObjectCode::supportedHost()) {
        CHECK(plan.execution == "compiled");
        CHECK(plan.runner->compiledNodes() > 0); // every layer's product at least
      }
      if (interpret)
        CHECK(plan.runner->compiledNodes() == 0);
      bounds::Result p = runPlan(plan, box, &spec);
      compare(p.lower, direct.lower);
      compare(p.upper, direct.upper);
      compare(p.rowLower, direct.rowLower);
      compare(p.rowUpper, direct.rowUpper);
    }
  }
}

} // namespace

TEST_SUITE("plan") {

TEST_CASE("a plan's header and sections survive writing and reading") {
  test::TempDir dir;
  PlanFile plan = makePlan(demo::buildModel(), demo::kModelName, "crown", 5);
  plan.header.requiredFeatures = {"avx2", "fma"};
  plan.header.kernels = "object";
  plan.header.productKernels = 3;
  plan.object = std::string("\x7f" "ELF\0\0\xff", 7);
  std::string path = dir.write("x.bin", serializePlan(plan)); // any name: the magic says what it is
  CHECK(isPlanFile(path));
  CHECK_FALSE(isPlanFile(dir.write("y.gir", "graph main {}")));
  PlanFile back = readPlan(path);
  const PlanHeader &a = plan.header, &b = back.header;
  CHECK(b.gammaVersion == a.gammaVersion);
  CHECK(b.method == a.method);
  CHECK(b.specRows == 5);
  CHECK(b.target == a.target);
  CHECK(b.requiredFeatures == a.requiredFeatures);
  CHECK(b.modelPath == a.modelPath);
  CHECK(b.modelHash == a.modelHash);
  CHECK(b.arenaBytes == a.arenaBytes);
  CHECK(b.arenaBytes > 0);
  CHECK(b.inputs == a.inputs);
  CHECK(b.outputs == a.outputs);
  CHECK(b.kernels == "object");
  CHECK(b.productKernels == 3);
  CHECK(back.boundIr == plan.boundIr);
  CHECK(back.object == plan.object);
}

TEST_CASE("a damaged plan, another format version and a changed model are refused") {
  test::TempDir dir;
  std::string bytes = serializePlan(makePlan(demo::buildModel(), demo::kModelName, "ibp", 1));
  std::string e = errorOf([&] { parsePlan("GAMMAPLX" + bytes.substr(8), "p.gplan"); });
  CHECK(e.find("p.gplan: not a gamma plan (bad magic") == 0);
  std::string other = bytes;
  other[8] = 7;
  e = errorOf([&] { parsePlan(other, "p.gplan"); });
  CHECK(e == fmt::format("p.gplan: plan format 7, this gamma reads {}: recompile with gammac --emit plan",
                         kPlanFormatVersion));
  for (std::size_t cut : {std::size_t(10), std::size_t(20), bytes.size() - 1}) {
    CAPTURE(cut);
    e = errorOf([&] { parsePlan(bytes.substr(0, cut), "p.gplan"); });
    CHECK(e.find("p.gplan: plan truncated") == 0);
  }
  std::string renamed = bytes;
  renamed.replace(renamed.find("\"object\"", renamed.find("\"sections\"")), 8, "\"objecx\"");
  e = errorOf([&] { parsePlan(renamed, "p.gplan"); });
  CHECK(e == "p.gplan: plan has no 'object' section");
  e = errorOf([&] { parsePlan(bytes + "x", "p.gplan"); });
  CHECK(e.find("p.gplan: bytes after the plan's last section") == 0);

  std::mt19937_64 rng(3);
  Graph net = randomChain(rng, 3);
  std::string model = dir.write("net.gir", printGraph(net));
  std::string planPath = (dir.path() / "net.gplan").string();
  writePlan(planPath, makePlan(loadModel(model), model, "crown", 2));
  CHECK_NOTHROW(loadPlan(planPath));
  dir.write("net.gir", printGraph(net) + "\n");
  e = errorOf([&] { loadPlan(planPath); });
  CHECK(e.find(planPath + ": the model file " + model + " changed since the plan was compiled") == 0);
  CHECK(e.find("recompile with gammac --emit plan") != std::string::npos);
}

TEST_CASE("a property with more rows than the plan takes is refused with the fix") {
  test::TempDir dir;
  std::string path = (dir.path() / "demo.gplan").string();
  writePlan(path, makePlan(demo::buildModel(), demo::kModelName, "ibp", 1));
  LoadedPlan plan = loadPlan(path);
  vnnlib::Property p = vnnlib::parse(demo::propertyText(), "demo.vnnlib");
  p.disjuncts[0].rows.push_back(p.disjuncts[0].rows[0]);
  std::string e = errorOf([&] { verifyWithPlan(plan, p, {}); });
  CHECK(e.find("demo.vnnlib: a disjunct has 2 rows, the plan") == 0);
  CHECK(e.find("--spec-rows 2") != std::string::npos);
}

TEST_CASE("plan bounds equal the direct methods on the demo network and generated chains") {
  test::TempDir dir;
  std::mt19937_64 rng(11);
  checkPlanEqualsDirect(dir, demo::buildModel(), demo::kModelName, rng);
  for (int k = 0; k < 8; ++k) {
    CAPTURE(k);
    std::string model = dir.write(fmt::format("chain{}.gir", k), printGraph(randomChain(rng, 1 + k % 4)));
    checkPlanEqualsDirect(dir, loadModel(model), model, rng);
  }
}

TEST_CASE("an ACAS Xu plan decides as the direct path does") {
  std::filesystem::path acas = test::sharedDir() / "vnncomp" / "acasxu";
  std::string model = (acas / "ACASXU_run2a_1_1_batch_2000.onnx").string();
  if (!std::filesystem::exists(model)) {
    MESSAGE("skipped: no shared ACAS Xu networks");
    return;
  }
  test::TempDir dir;
  std::string path = (dir.path() / "acas.gplan").string();
  Graph net = loadModel(model);
  writePlan(path, makePlan(net, model, "crown", 5));
  LoadedPlan plan = loadPlan(path);
  vnnlib::Property p = vnnlib::parseFile((acas / "prop_1.vnnlib").string());
  VerifyOptions options;
  options.searchSeconds = 0.5;
  options.samples = 200;
  options.attack = false;
  VerifyReport viaPlan = verifyWithPlan(plan, p, options), direct = verifyProperty(net, p, options);
  CHECK(viaPlan.verdict == direct.verdict);
  compare(viaPlan.outputLower, direct.outputLower);
  compare(viaPlan.outputUpper, direct.outputUpper);
  REQUIRE(viaPlan.disjuncts.size() == direct.disjuncts.size());
  for (std::size_t k = 0; k < direct.disjuncts.size(); ++k)
    for (std::size_t r = 0; r < direct.disjuncts[k].rows.size(); ++r)
      CHECK(std::fabs(viaPlan.disjuncts[k].rows[r].lower - direct.disjuncts[k].rows[r].lower) <=
            1e-9 * std::max(1.0, std::fabs(direct.disjuncts[k].rows[r].lower)));
}

} // TEST_SUITE

TEST_SUITE("plan") {

// Running a plan trusts its arena offsets; a plan whose offsets would make
// two live values share memory (a hand-edited or damaged plan) would compute
// wrong bounds, so it is refused at load.
TEST_CASE("a plan whose arena offsets overlap live values is refused") {
  test::TempDir dir;
  PlanFile plan = makePlan(demo::buildModel(), demo::kModelName, "crown", 1);
  std::regex arena(R"(ibp\.matmul_pn ([^{]*)\{arena = \[(\d+), (\d+)\])");
  std::smatch m;
  REQUIRE(std::regex_search(plan.boundIr, m, arena));
  auto edited = [&](const std::string &offsets) {
    PlanFile p = plan;
    p.boundIr.replace(static_cast<std::size_t>(m.position(0)), static_cast<std::size_t>(m.length(0)),
                      "ibp.matmul_pn " + m[1].str() + "{arena = [" + offsets + "]");
    std::string path = (dir.path() / "edited.gplan").string();
    writePlan(path, p);
    return path;
  };
  CHECK_NOTHROW(loadPlan(edited(m[2].str() + ", " + m[3].str())));
  std::string e = errorOf([&] { loadPlan(edited(m[2].str() + ", " + m[2].str())); });
  CHECK(e.find("overlaps a value still in use; recompile the plan") != std::string::npos);
  CHECK(e.find((dir.path() / "edited.gplan").string() + ": ") == 0);
  e = errorOf([&] { loadPlan(edited("99999936, " + m[3].str())); });
  CHECK(e.find("is not an aligned place inside the arena") != std::string::npos);
  e = errorOf([&] { loadPlan(edited("4, " + m[3].str())); });
  CHECK(e.find("is not an aligned place inside the arena") != std::string::npos);
}

} // TEST_SUITE

TEST_SUITE("plan") {

// runtime/row_ops.h against the interpreter's arithmetic (the oracle): the
// same bounds up to the order of the sums, and the same unbounded rows where
// a coefficient, a box side or a pre-activation bound is infinite.
TEST_CASE("the BLAS row ops agree with the interpreter's lb.affine, lb.relax_pn, lb.concretize_pn and lb.settle") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0, 1);
  std::uniform_int_distribution<int> size(1, 19), pick(0, 9);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // Infinite results must agree exactly (the same unbounded rows), finite ones to rounding.
  auto close = [](double a, double b) {
    if (!std::isfinite(a) || !std::isfinite(b))
      return a == b;
    return std::fabs(a - b) <= 1e-12 * std::max({1.0, std::fabs(a), std::fabs(b)});
  };
  auto fill = [&](std::int64_t n, bool infinite, double sign) {
    std::vector<double> v(static_cast<std::size_t>(n));
    for (double &x : v)
      x = infinite && pick(rng) == 0 ? sign * kInf : g(rng);
    return v;
  };
  // Columns of A zeroed as an inactive ReLU leaves them: none, one (the
  // product keeps A as it is), about half (it gathers the rest), or all.
  auto zeroColumns = [&](std::vector<double> &A, std::int64_t R, std::int64_t m, int how) {
    for (std::int64_t j = 0; j < m; ++j)
      if ((how == 1 && j == m / 2) || (how == 2 && pick(rng) < 5) || how == 3)
        for (std::int64_t r = 0; r < R; ++r)
          A[static_cast<std::size_t>(r * m + j)] = 0;
  };
  int unbounded = 0, settled = 0, unsettled = 0;
  for (int trial = 0; trial < 400; ++trial) {
    CAPTURE(trial);
    std::int64_t R = size(rng), m = size(rng), k = size(rng);
    bool inf = trial % 3 == 0;
    std::vector<double> A = fill(R * m, inf && trial % 2 == 0, 1), c = fill(R, false, 1), W = fill(m * k, false, 1);
    zeroColumns(A, R, m, trial % 4);
    std::vector<double> hlo = fill(k, inf, -1), hhi = fill(k, inf, 1), b = fill(m, false, 1);
    for (std::size_t q = 0; q < hlo.size(); ++q)
      if (hlo[q] > hhi[q])
        std::swap(hlo[q], hhi[q]);
    Shape sA{R, m}, sC{R}, sW{m, k}, sH{k}, sB{m}, sOut{R, k};
    std::vector<ref::View> in{{A, sA}, {c, sC}, {W, sW}, {hlo, sH}, {hhi, sH}, {b, sB}};
    std::vector<double> oA(static_cast<std::size_t>(R * k)), oC(static_cast<std::size_t>(R));
    std::vector<double> rA(oA.size()), rC(oC.size());
    std::vector<double> scratch(static_cast<std::size_t>(std::max({rowops::affineScratch(R, m, k), m, k})));
    std::vector<double> absW = W, v(static_cast<std::size_t>(m));
    for (double &x : absW)
      x = std::fabs(x);
    rowops::magnitudes(absW.data(), hlo.data(), hhi.data(), m, k, v.data(), scratch.data());
    for (bool bias : {true, false}) {
      std::vector<std::span<double>> out{rA, rC};
      ref::boundOpInto(Op::LbAffine, {}, std::span(in).first(bias ? 6 : 5), out);
      rowops::affine(A.data(), c.data(), W.data(), v.data(), bias ? b.data() : nullptr, R, m, k, oA.data(), oC.data(),
                     scratch.data());
      for (std::size_t r = 0; r < oC.size(); ++r) {
        CHECK_MESSAGE(close(oC[r], rC[r]), "affine c[", r, "]: ", oC[r], " vs ", rC[r]);
        unbounded += oC[r] == -kInf;
      }
      for (std::size_t i = 0; i < oA.size(); ++i)
        if (std::isfinite(rA[i]))
          CHECK_MESSAGE(close(oA[i], rA[i]), "affine A[", i, "]");
    }
    // relax_pn and concretize_pn over rows of m columns.
    std::vector<double> zlo = fill(m, inf, -1), zhi = fill(m, inf, 1), kl(m), bl(m), ku(m), bu(m);
    for (std::size_t j = 0; j < zlo.size(); ++j) {
      if (zlo[j] > zhi[j])
        std::swap(zlo[j], zhi[j]);
      bounds::reluLines(zlo[j], zhi[j], kl[j], bl[j], ku[j], bu[j]);
    }
    Shape sM{m};
    std::vector<ref::View> rin{{A, sA}, {c, sC}, {kl, sM}, {bl, sM}, {ku, sM}, {bu, sM}, {zlo, sM}, {zhi, sM}};
    std::vector<double> xA(static_cast<std::size_t>(R * m)), xC(static_cast<std::size_t>(R)), yA(xA.size()), yC(xC.size());
    std::vector<std::span<double>> out{yA, yC};
    ref::boundOpInto(Op::LbRelaxPN, {}, rin, out);
    rowops::relax(A.data(), c.data(), kl.data(), bl.data(), ku.data(), bu.data(), zlo.data(), zhi.data(), R, m,
                  xA.data(), xC.data(), scratch.data());
    for (std::size_t r = 0; r < xC.size(); ++r)
      CHECK_MESSAGE(close(xC[r], yC[r]), "relax c[", r, "]: ", xC[r], " vs ", yC[r]);
    std::vector<ref::View> cin{{A, sA}, {c, sC}, {zlo, sM}, {zhi, sM}};
    std::vector<std::span<double>> cout{yC};
    ref::boundOpInto(Op::LbConcretizePN, {}, cin, cout);
    rowops::concretize(A.data(), c.data(), zlo.data(), zhi.data(), R, m, xC.data());
    for (std::size_t r = 0; r < xC.size(); ++r) {
      CHECK_MESSAGE(close(xC[r], yC[r]), "concretize [", r, "]: ", xC[r], " vs ", yC[r]);
      unbounded += xC[r] == -kInf;
    }
    // settle: pairs [B; -B] as a pass for a ReLU input builds them, against
    // narrow intervals of z so that some pairs settle and others do not.
    std::int64_t q = size(rng);
    std::vector<double> B = fill(q * m, false, 1), d = fill(q, false, 1), S(static_cast<std::size_t>(2 * q * m)),
                        e(static_cast<std::size_t>(2 * q));
    zeroColumns(B, q, m, trial % 4);
    for (std::int64_t t = 0; t < q; ++t) {
      e[t] = 3 * d[t];
      e[q + t] = -3 * d[t];
      for (std::int64_t j = 0; j < m; ++j) {
        S[t * m + j] = B[t * m + j];
        S[(q + t) * m + j] = -B[t * m + j];
      }
    }
    std::vector<double> mid = fill(m, false, 1), nlo(m), nhi(m);
    for (std::size_t j = 0; j < mid.size(); ++j) {
      nlo[j] = mid[j] * 0.1 - 0.05, nhi[j] = mid[j] * 0.1 + 0.05;
      if (inf && pick(rng) == 0) // an unbounded side of z, picked by some coefficients and not others
        (pick(rng) < 5 ? nlo[j] = -kInf : nhi[j] = kInf);
    }
    Shape sS{2 * q, m}, sE{2 * q};
    for (bool bias : {true, false}) {
      std::vector<ref::View> sin{{S, sS}, {e, sE}, {nlo, sM}, {nhi, sM}, {W, sW}, {hlo, sH}, {hhi, sH}, {b, sB}};
      std::vector<double> want(static_cast<std::size_t>(2 * q)), got(want.size()), loose(want.size());
      std::vector<std::span<double>> sout{want};
      ref::boundOpInto(Op::LbSettle, {}, std::span(sin).first(bias ? 8 : 7), sout);
      std::vector<double> big(static_cast<std::size_t>(rowops::settleScratch(2 * q, m, k)));
      rowops::settle(S.data(), e.data(), nlo.data(), nhi.data(), W.data(), v.data(), hlo.data(), hhi.data(),
                     bias ? b.data() : nullptr, 2 * q, m, k, got.data(), big.data());
      rowops::concretize(S.data(), e.data(), nlo.data(), nhi.data(), 2 * q, m, loose.data());
      for (std::size_t r = 0; r < got.size(); ++r) {
        CHECK_MESSAGE(close(got[r], want[r]), "settle [", r, "]: ", got[r], " vs ", want[r]);
        (got[r] == loose[r] ? settled : unsettled) += 1;
      }
    }
  }
  CHECK(unbounded > 0); // the infinite cases were reached
  CHECK(settled > 0);   // and both kinds of settle rows
  CHECK(unsettled > 0);
}

} // TEST_SUITE

TEST_SUITE("plan") {

// A scalar step is baked into the chain's code, so it is part of the kernel's
// name: a plan whose IR changed the constant no longer finds its kernel.
TEST_CASE("a chain kernel's name carries its scalar constants exactly") {
  auto name = [](const std::string &scalar) {
    std::string text = "graph @g {\n"
                       "  %0 = input {name = \"lo\"} : f64[3]\n"
                       "  %1 = input {name = \"hi\"} : f64[3]\n"
                       "  %2 = const dense<[" + scalar + "]> : f64[1]\n"
                       "  %3, %4 = ibp.chain %0, %1, %2 {steps = \"mul,relu\"} : f64[3], f64[3]\n"
                       "  return %3, %4\n}\n";
    Graph g = parseGraph(text, "chain.gir");
    std::optional<std::vector<ChainKernelStep>> steps = chainKernelSteps(g, 3);
    REQUIRE(steps.has_value());
    REQUIRE(steps->size() == 2);
    CHECK((*steps)[0].scalar);
    return chainKernelName(g, 3, *steps);
  };
  CHECK(name("1.5") == "chain3.ms0x1.8p+0r.3");
  CHECK(name("1.5") != name("1.5000000000000002"));
}

} // TEST_SUITE
