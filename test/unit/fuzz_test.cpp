// The soundness fuzzer: its generator and checker on their own (with bound
// functions that are wrong on purpose), then a bounded-time run against the
// real bound methods. The long run is scripts/fuzz.sh.
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "test/fuzz/soundness_fuzz.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <set>
#include <stdexcept>

using namespace gm;
using bounds::Method;

namespace {

std::vector<double> centreOf(const bounds::Box &box) {
  std::vector<double> c(box.lower.size());
  for (std::size_t i = 0; i < c.size(); ++i)
    c[i] = 0.5 * box.lower[i] + 0.5 * box.upper[i];
  return c;
}

// Unsound on purpose: the value at the centre as both bounds.
bounds::Result centreBounds(const Graph &g, const bounds::Box &box, const bounds::Spec *spec, const bounds::Options &) {
  std::vector<double> x = centreOf(box);
  ref::Tensor in{g.type(g.inputs()[0]).shape, x};
  std::vector<double> y = ref::evaluate(g, std::span(&in, 1))[0].data;
  bounds::Result r;
  r.lower = r.upper = y;
  if (spec)
    for (std::size_t row = 0; row < spec->numRows(); ++row) {
      double v = spec->constants[row];
      for (std::size_t i = 0; i < y.size(); ++i)
        v += spec->outputCoeffs[row * y.size() + i] * y[i];
      if (!spec->inputCoeffs.empty())
        for (std::size_t j = 0; j < x.size(); ++j)
          v += spec->inputCoeffs[row * x.size() + j] * x[j];
      r.rowLower.push_back(v);
      r.rowUpper.push_back(v);
    }
  return r;
}

// Sound and useless: everything in (-inf, inf).
bounds::Result infiniteBounds(const Graph &g, const bounds::Box &, const bounds::Spec *spec, const bounds::Options &) {
  std::size_t n = std::size_t(g.type(g.outputs()[0]).numElements()), rows = spec ? spec->numRows() : 0;
  bounds::Result r;
  r.lower.assign(n, -INFINITY);
  r.upper.assign(n, INFINITY);
  r.rowLower.assign(rows, -INFINITY);
  r.rowUpper.assign(rows, INFINITY);
  return r;
}

void acceptAll(const Graph &, Method) {}

// A case whose box has at least one coordinate of nonzero width.
fuzz::Case wideCase(std::uint64_t from) {
  for (std::uint64_t s = from;; ++s) {
    fuzz::Case c = fuzz::generate(fuzz::caseSeed(s, 0), {});
    for (std::size_t i = 0; i < c.box.lower.size(); ++i)
      if (c.box.upper[i] - c.box.lower[i] > 0.01)
        return c;
  }
}

} // namespace

TEST_SUITE("fuzz") {

TEST_CASE("generated cases are verified one-input one-output graphs that print, parse and evaluate") {
  std::set<std::string> ops;
  for (std::uint64_t i = 0; i < 300; ++i) {
    fuzz::Case c = fuzz::generate(fuzz::caseSeed(11, i), {});
    CAPTURE(fuzz::formatCase(c));
    REQUIRE_NOTHROW(verify(c.graph, "fuzz"));
    REQUIRE(c.graph.inputs().size() == 1);
    REQUIRE(c.graph.outputs().size() == 1);
    REQUIRE(c.box.lower.size() == std::size_t(c.graph.type(c.graph.inputs()[0]).numElements()));
    for (std::size_t k = 0; k < c.box.lower.size(); ++k)
      REQUIRE(c.box.lower[k] <= c.box.upper[k]);
    std::string text = printGraph(c.graph);
    CHECK(printGraph(parseGraph(text, "fuzz.gir")) == text);
    ref::Tensor in{c.graph.type(c.graph.inputs()[0]).shape, centreOf(c.box)};
    REQUIRE_NOTHROW(ref::evaluate(c.graph, std::span(&in, 1)));
    for (const Node &n : c.graph.nodes())
      ops.insert(std::string(opKeyword(n.op)));
    // A case is a function of its seed.
    CHECK(printGraph(fuzz::generate(c.seed, {}).graph) == text);
  }
  // Every op of the network family shows up.
  for (int i = 0; i < numOps(); ++i) {
    Op op = static_cast<Op>(i);
    if (!hasTrait(op, OpTrait::Bound))
      CHECK_MESSAGE(ops.count(std::string(opKeyword(op))), opKeyword(op));
  }
}

TEST_CASE("the checker finds a bound that is too tight and the shrinker reduces the case to the input") {
  fuzz::Case c = wideCase(1);
  fuzz::CheckOptions options;
  options.bound = centreBounds;
  options.support = acceptAll;
  Method methods[] = {Method::Ibp};
  fuzz::CheckReport r = fuzz::check(c, methods, options);
  REQUIRE(r.methods[0].outcome == fuzz::Outcome::Failed);
  const fuzz::Violation &v = *r.methods[0].violation;
  CHECK((v.kind == fuzz::Violation::Kind::Output || v.kind == fuzz::Violation::Kind::Row));
  CHECK(v.point.size() == c.box.lower.size());

  auto [small, sv] = fuzz::shrink(c, Method::Ibp, v, options, {});
  CAPTURE(fuzz::formatCase(small, &sv));
  // The smallest graph that still fails: the output is the input itself, and
  // the box is wide in one coordinate only.
  CHECK(small.graph.numNodes() == 1);
  std::size_t wide = 0;
  for (std::size_t i = 0; i < small.box.lower.size(); ++i)
    wide += small.box.upper[i] > small.box.lower[i];
  CHECK(wide == 1);
  CHECK(fuzz::formatCase(small, &sv).find("violation: output") != std::string::npos);
}

TEST_CASE("exceptions, NaN bounds and late rejections are told apart; infinite bounds pass and are counted") {
  fuzz::Case c = wideCase(2);
  Method methods[] = {Method::Crown};
  fuzz::CheckOptions options;
  options.support = acceptAll;

  options.bound = [](const Graph &, const bounds::Box &, const bounds::Spec *, const bounds::Options &)
      -> bounds::Result { throw std::logic_error("broken"); };
  fuzz::CheckReport r = fuzz::check(c, methods, options);
  REQUIRE(r.methods[0].outcome == fuzz::Outcome::Failed);
  CHECK(r.methods[0].violation->kind == fuzz::Violation::Kind::Exception);

  options.bound = [](const Graph &, const bounds::Box &, const bounds::Spec *, const bounds::Options &)
      -> bounds::Result { throw InputError("crown cannot bound this"); };
  CHECK(fuzz::check(c, methods, options).methods[0].outcome == fuzz::Outcome::Rejected);

  options.bound = [](const Graph &g, const bounds::Box &b, const bounds::Spec *s, const bounds::Options &o) {
    bounds::Result r = infiniteBounds(g, b, s, o);
    r.upper[0] = NAN;
    return r;
  };
  r = fuzz::check(c, methods, options);
  REQUIRE(r.methods[0].outcome == fuzz::Outcome::Failed);
  CHECK(r.methods[0].violation->kind == fuzz::Violation::Kind::NaNBound);

  options.bound = infiniteBounds;
  r = fuzz::check(c, methods, options);
  CHECK(r.methods[0].outcome == fuzz::Outcome::Checked);
  CHECK(r.methods[0].infiniteBounds == r.methods[0].boundsCount);
  CHECK(r.points > 1);

  options.support = [](const Graph &, Method) { throw InputError("unsupported"); };
  CHECK(fuzz::check(c, methods, options).methods[0].outcome == fuzz::Outcome::Unsupported);
}

TEST_CASE("bounded-time soundness run: every method, every op") {
  fuzz::RunOptions options;
  options.seed = 2024;
  options.iterations = 2000;
  // A guard for slow builds (sanitizers); the count above is what a normal
  // build runs, so the report below is the same every time there.
  options.timeLimit = std::chrono::milliseconds(12000);
  options.maxShrunk = 3;
  options.shrinkOptions.timeLimit = std::chrono::milliseconds(5000);
  fuzz::RunReport report = fuzz::run(options);
  MESSAGE(fuzz::formatReport(report));
  for (std::size_t i = 0; i < report.failures.size() && i < 10; ++i)
    FAIL_CHECK(fuzz::formatFailure(report.failures[i]));
  CHECK_MESSAGE(report.failures.empty(), report.failures.size(), " failures in all (the first 10 shown)");
  CHECK(report.fuzzerErrors.empty());
  CHECK(report.perMethod[Method::Ibp].checked > 0);
  CHECK(report.perMethod[Method::Crown].checked > 0);
  CHECK(report.perMethod[Method::CrownIbp].checked > 0);
  // IBP bounds every op and every whole block: each one was checked by it at
  // least once (blocks are counted by their tag, ops by their keyword).
  if (!report.timedOut)
    for (std::string_view p : fuzz::patternNames())
      if (p == "qwen3_block" || p == "whisper_block")
        CHECK_MESSAGE(report.perTag[Method::Ibp][p == "qwen3_block" ? "qwen3-block" : "whisper-block"].checked > 0, p);
      else if (p != "residual" && p != "dense_chain")
        CHECK_MESSAGE(report.perOp[Method::Ibp][std::string(p)].checked > 0, p);
}

// The dense-chain form (bounds/dense_chain.h) is a second implementation of
// the same rules: on every generated chain it must give the DAG engine's
// bounds up to rounding (and a ReLU whose cheap bound already proves it stable
// where the DAG engine's rounding leaves it a hair unstable, which moves a
// bound by about that hair), and be sound.
TEST_CASE("dense chains: the matrix form gives the DAG engine's bounds") {
  fuzz::GenOptions gen;
  gen.patterns = {"dense_chain"};
  int chains = 0, compared = 0;
  double worst = 0;
  for (std::uint64_t i = 0; i < 300; ++i) {
    fuzz::Case c = fuzz::generate(fuzz::caseSeed(77, i), gen);
    bounds::Network net(c.graph);
    if (!net.denseChain())
      continue;
    ++chains;
    for (Method m : {Method::Ibp, Method::Crown, Method::CrownIbp})
      for (bool intersect : {false, true})
        for (bool keep : {false, true}) {
          bounds::Options o;
          o.method = m;
          o.intersectIbp = intersect;
          o.keepIntermediate = keep;
          const bounds::Spec *spec = c.spec ? &*c.spec : nullptr;
          if (spec && !spec->inputCoeffs.empty())
            spec = nullptr;
          bounds::Result fast = bounds::computeBounds(net, c.box, spec, o);
          o.denseChain = false;
          bounds::Result dag = bounds::computeBounds(net, c.box, spec, o);
          auto near = [&](const std::vector<double> &a, const std::vector<double> &b, const char *what) {
            REQUIRE(a.size() == b.size());
            for (std::size_t k = 0; k < a.size(); ++k) {
              if (std::isinf(a[k]) || std::isinf(b[k])) {
                CHECK_MESSAGE(a[k] == b[k], what, " case ", i);
                continue;
              }
              double d = std::fabs(a[k] - b[k]) / (1e-6 + std::fabs(b[k]));
              worst = std::max(worst, d);
              CHECK_MESSAGE(d < 1e-6, std::string(what), "[", k, "] ", a[k], " vs ", b[k], " case ", i, " method ",
                            bounds::methodName(m), std::string(intersect ? " +ibp" : ""),
                            std::string(keep ? " keep" : ""));
            }
            ++compared;
          };
          near(fast.lower, dag.lower, "lower");
          near(fast.upper, dag.upper, "upper");
          near(fast.rowLower, dag.rowLower, "row lower");
          near(fast.rowUpper, dag.rowUpper, "row upper");
          REQUIRE(fast.intermediate.size() == dag.intermediate.size());
          for (std::size_t k = 0; k < fast.intermediate.size(); ++k) {
            CHECK(fast.intermediate[k].node == dag.intermediate[k].node);
            near(fast.intermediate[k].lower, dag.intermediate[k].lower, "intermediate lower");
            near(fast.intermediate[k].upper, dag.intermediate[k].upper, "intermediate upper");
          }
        }
  }
  MESSAGE(chains, " dense chains, ", compared, " bound vectors compared, worst relative difference ", worst);
  CHECK(chains > 200);
}

} // TEST_SUITE
