// Op-by-op bound programs (passes/lower_graph.cpp): on the soundness fuzzer's
// generated graphs — every op a method bounds, residual values, whole
// transformer blocks — the interpreted program gives the direct DAG engine's
// numbers, refuses what the direct methods refuse with the same message, and
// passes the fuzzer's own point checks.
#include "bounds/bounds.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "ir/verifier.h"
#include "passes/pass.h"
#include "test/fuzz/soundness_fuzz.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

using namespace gm;
using bounds::Method;

namespace {

// The program of `method` for `net` with `rows` spec rows, run on box and spec.
bounds::Result viaProgram(const Graph &net, const bounds::Box &box, const bounds::Spec *spec, Method method) {
  bounds::registerProgramRules();
  std::int64_t rows = spec ? static_cast<std::int64_t>(spec->numRows()) + 1 : 0; // one zero row of padding
  Graph program = net;
  PassOptions options;
  options.boundMethod = std::string(bounds::methodName(method));
  options.specRows = rows;
  runPasses(program, boundPipeline(), options, "fuzz case");
  std::int64_t n = static_cast<std::int64_t>(box.lower.size());
  std::vector<ref::Tensor> inputs{{{n}, box.lower}, {{n}, box.upper}};
  if (spec) {
    std::int64_t outs = static_cast<std::int64_t>(spec->numOutputs);
    ref::Tensor C{{rows, outs}, std::vector<double>(static_cast<std::size_t>(rows * outs), 0.0)};
    ref::Tensor d{{rows}, std::vector<double>(static_cast<std::size_t>(rows), 0.0)};
    std::copy(spec->outputCoeffs.begin(), spec->outputCoeffs.end(), C.data.begin());
    std::copy(spec->constants.begin(), spec->constants.end(), d.data.begin());
    inputs.push_back(std::move(C));
    inputs.push_back(std::move(d));
  }
  std::vector<ref::Tensor> out = ref::evaluate(program, inputs);
  bounds::Result r;
  r.lower = out[0].data;
  r.upper = out[1].data;
  if (spec) {
    std::size_t m = spec->numRows();
    r.rowLower.assign(out[2].data.begin(), out[2].data.begin() + static_cast<std::ptrdiff_t>(m));
    r.rowUpper.assign(out[3].data.begin(), out[3].data.begin() + static_cast<std::ptrdiff_t>(m));
  }
  return r;
}

bool opByOp(const Graph &net, Method method) {
  Graph program = net;
  PassOptions options;
  options.boundMethod = std::string(bounds::methodName(method));
  runPasses(program, {"lower-bounds"}, options, "fuzz case");
  return std::any_of(program.nodes().begin(), program.nodes().end(),
                     [](const Node &n) { return n.op == Op::IbpNode || n.op == Op::LbNode; });
}

double worst = 0;

// The first element where a and b differ beyond float-order noise, or "".
std::string differs(const std::vector<double> &a, const std::vector<double> &b, const char *what) {
  if (a.size() != b.size())
    return fmt::format("{}: {} vs {} elements", what, a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (std::isinf(a[k]) || std::isinf(b[k])) {
      if (a[k] != b[k])
        return fmt::format("{}[{}]: {} vs {}", what, k, a[k], b[k]);
      continue;
    }
    double d = std::fabs(a[k] - b[k]) / (1 + std::fabs(b[k]));
    worst = std::max(worst, d);
    if (d > 1e-9)
      return fmt::format("{}[{}]: program {} vs direct {}", what, k, a[k], b[k]);
  }
  return {};
}

} // namespace

TEST_SUITE("bound_program") {

TEST_CASE("op-by-op programs give the DAG engine's bounds and refuse what it refuses") {
  fuzz::GenOptions gen;
  int compared = 0, refused = 0, ops = 0;
  for (std::uint64_t i = 0; i < 400; ++i) {
    fuzz::Case c = fuzz::generate(fuzz::caseSeed(404, i), gen);
    if (c.spec)
      c.spec->inputCoeffs.clear(); // plans take rows over the outputs only
    const bounds::Spec *spec = c.spec ? &*c.spec : nullptr;
    for (Method m : {Method::Ibp, Method::Crown, Method::CrownIbp}) {
      std::string direct;
      try {
        bounds::checkSupported(c.graph, m);
      } catch (const InputError &e) {
        direct = e.what();
      }
      if (!direct.empty()) {
        Graph program = c.graph;
        PassOptions options;
        options.boundMethod = std::string(bounds::methodName(m));
        CHECK_THROWS_WITH_AS(runPasses(program, {"lower-bounds"}, options, "t"), doctest::Contains(direct.c_str()),
                             InputError);
        ++refused;
        continue;
      }
      bounds::Options o;
      o.method = m;
      o.threads = 1;
      o.denseChain = !opByOp(c.graph, m); // a chain lowered as a chain: compare with the chain engine
      ops += o.denseChain ? 0 : 1;
      bounds::Result d = bounds::computeBounds(c.graph, c.box, spec, o);
      bounds::Result p = viaProgram(c.graph, c.box, spec, m);
      std::string why = differs(p.lower, d.lower, "lower");
      for (auto [a, b, what] : {std::tuple(&p.upper, &d.upper, "upper"), std::tuple(&p.rowLower, &d.rowLower, "row lower"),
                                std::tuple(&p.rowUpper, &d.rowUpper, "row upper")})
        if (why.empty())
          why = differs(*a, *b, what);
      CHECK_MESSAGE(why.empty(), bounds::methodName(m), ": ", why, "\n", fuzz::formatCase(c));
      ++compared;
    }
  }
  MESSAGE(compared << " (case, method) pairs compared (" << ops << " op by op), " << refused
                   << " refused as the direct path refuses; worst relative difference " << worst);
  CHECK(ops > 300);
  CHECK(refused > 0);
}

TEST_CASE("bounded-time soundness run through bound programs") {
  fuzz::GenOptions gen;
  fuzz::CheckOptions check;
  check.bound = [](const Graph &g, const bounds::Box &box, const bounds::Spec *spec, const bounds::Options &o) {
    return viaProgram(g, box, spec, o.method);
  };
  int checked = 0;
  for (std::uint64_t i = 0; i < 300; ++i) {
    fuzz::Case c = fuzz::generate(fuzz::caseSeed(505, i), gen);
    if (c.spec)
      c.spec->inputCoeffs.clear();
    c.intersectIbp = false; // programs lower the default (auto_LiRPA's "pure") profile
    Method methods[] = {Method::Ibp, Method::Crown, Method::CrownIbp};
    fuzz::CheckReport report = fuzz::check(c, methods, check);
    for (const fuzz::MethodResult &r : report.methods) {
      CHECK_MESSAGE(r.outcome != fuzz::Outcome::Failed, fuzz::formatCase(c, r.violation ? &*r.violation : nullptr));
      CHECK_MESSAGE(r.outcome != fuzz::Outcome::Rejected, r.message, " seed ", c.seed);
      checked += r.outcome == fuzz::Outcome::Checked;
    }
  }
  MESSAGE(checked << " (case, method) pairs checked against sampled and attack points");
  CHECK(checked > 300);
}

} // TEST_SUITE
