// gamma's bound methods against auto_LiRPA's reference bounds in
// shared/reference/{acasxu,mnist_fc,eran,oval21} (schema and tolerance in that
// folder's README): IBP against profile "ibp", CROWN against "pure", CROWN with
// intersectIbp against "pure_ibp", with and without the spec matrix C, and the
// pre-activation bounds of IBP and pure CROWN. Every mismatch is collected and
// summarised before the test fails, so one run shows all of them. A second test
// checks soundness by sampling: the centre, 64 uniform points and (for up to 10
// inputs) the corners, evaluated in float64, lie inside every bound gamma
// computes. Skips where the shared material is absent. For quick runs,
// GAMMA_REFERENCE_ONLY=TEXT keeps the reference files whose path contains TEXT
// (e.g. SIGMOID, oval21/cifar_base).
#include "bounds/bounds.h"
#include "frontend/model_loader.h"
#include "ir/interp/interpreter.h"
#include "ir/op.h"
#include "passes/pass.h"
#include "codegen/cpu_features.h"
#include "codegen/target_desc.h"
#include "runtime/falsify.h"
#include "runtime/object_code.h"
#include "runtime/plan_write.h"
#include "runtime/program_runner.h"

#include "test/shared_material.h"
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <tuple>

using namespace gm;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using gm::test::sharedDir;

bool haveReference() {
  if (fs::is_directory(sharedDir() / "reference") && fs::is_directory(sharedDir() / "vnncomp"))
    return true;
  MESSAGE("skipped: shared reference material not found (set GAMMA_SHARED_DIR)");
  return false;
}

// One gamma configuration, named by the auto_LiRPA profile it must reproduce
// (empty: no reference; checked by sampling only).
struct Config {
  const char *profile;
  bounds::Method method;
  bool intersectIbp;
};
constexpr Config kConfigs[] = {
    {"ibp", bounds::Method::Ibp, false},
    {"pure", bounds::Method::Crown, false},
    {"pure_ibp", bounds::Method::Crown, true},
    {"", bounds::Method::CrownIbp, false},
};

std::string configName(const Config &c) {
  std::string name(bounds::methodName(c.method));
  return c.intersectIbp ? name + "+ibp" : name;
}

// One run of computeBounds on a reference case.
struct Run {
  const Config *config = nullptr;
  bool usesC = false;
  std::optional<bounds::Result> result; // empty when computeBounds threw
  std::string error;
  double seconds = 0;
};

struct Case {
  fs::path file;   // relative to shared/reference
  std::string group; // benchmark, with eran split into its relu and sigmoid network
  json ref;
  std::shared_ptr<const Graph> graph;
  std::shared_ptr<const bounds::Network> network; // refers to *graph
  bounds::Box box;
  std::optional<bounds::Spec> spec;
  std::vector<Run> runs;
};

// Each network is loaded and read for bounding once.
std::pair<std::shared_ptr<const Graph>, std::shared_ptr<const bounds::Network>> loadCached(const fs::path &path) {
  static std::map<std::string, std::pair<std::shared_ptr<const Graph>, std::shared_ptr<const bounds::Network>>> cache;
  auto &slot = cache[path.string()];
  if (!slot.first) {
    slot.first = std::make_shared<const Graph>(loadModel(path.string()));
    slot.second = std::make_shared<const bounds::Network>(*slot.first);
  }
  return slot;
}

std::string groupOf(const json &ref) {
  std::string bench = ref["benchmark"].get<std::string>();
  if (bench != "eran")
    return bench;
  return ref["model"].get<std::string>().find("SIGMOID") != std::string::npos ? "eran-sigmoid" : "eran-relu";
}

// Every reference case with every configuration run once (both tests use them).
const std::vector<Case> &referenceCases() {
  static std::vector<Case> cases = [] {
    std::vector<Case> out;
    fs::path root = sharedDir() / "reference";
    std::vector<fs::path> files;
    const char *only = std::getenv("GAMMA_REFERENCE_ONLY"); // for quick runs: a substring of the file path
    for (const char *bench : {"acasxu", "mnist_fc", "eran", "oval21"})
      for (const auto &entry : fs::directory_iterator(root / bench))
        if (entry.path().extension() == ".json" &&
            (!only || fs::relative(entry.path(), root).string().find(only) != std::string::npos))
          files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const fs::path &path : files) {
      Case c;
      c.file = fs::relative(path, root);
      c.ref = json::parse(std::ifstream(path));
      c.group = groupOf(c.ref);
      std::tie(c.graph, c.network) = loadCached(sharedDir() / c.ref["model"].get<std::string>());
      c.box.lower = c.ref["input_lower"].get<std::vector<double>>();
      c.box.upper = c.ref["input_upper"].get<std::vector<double>>();
      if (!c.ref["C"].is_null()) {
        bounds::Spec spec;
        spec.numOutputs = c.ref["num_outputs"].get<std::size_t>();
        spec.numInputs = c.box.lower.size();
        for (const auto &row : c.ref["C"]) {
          std::vector<double> r = row.get<std::vector<double>>();
          REQUIRE(r.size() == spec.numOutputs);
          spec.outputCoeffs.insert(spec.outputCoeffs.end(), r.begin(), r.end());
          spec.constants.push_back(0.0);
        }
        c.spec = std::move(spec);
      }
      for (const Config &config : kConfigs)
        for (bool usesC : {false, true}) {
          if (usesC && !c.spec)
            continue;
          Run run;
          run.config = &config;
          run.usesC = usesC;
          bounds::Options options;
          options.method = config.method;
          options.intersectIbp = config.intersectIbp;
          options.keepIntermediate = !usesC;
          auto start = std::chrono::steady_clock::now();
          try {
            run.result = bounds::computeBounds(*c.network, c.box, usesC ? &*c.spec : nullptr, options);
          } catch (const std::exception &e) {
            run.error = e.what();
          }
          run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          c.runs.push_back(std::move(run));
        }
      out.push_back(std::move(c));
    }
    return out;
  }();
  return cases;
}

// Counts per (group, profile, spec) and the worst |mine - ref| / tol.
struct Tally {
  long cases = 0, bounds = 0, looser = 0, tighter = 0, errors = 0;
  double worst = 0, seconds = 0;
  std::string worstWhere;
};

struct Report {
  std::map<std::string, Tally> tallies;
  std::vector<std::string> mismatches;
  long failures = 0;

  // Compares one bound; `lowerSide` tells which way is looser.
  void compare(Tally &t, const std::string &where, bool lowerSide, double mine, double ref, double tol) {
    ++t.bounds;
    double diff = mine - ref;
    double ratio = std::isnan(mine) ? INFINITY : std::abs(diff) / tol;
    if (ratio > t.worst) {
      t.worst = ratio;
      t.worstWhere = where;
    }
    if (ratio <= 1)
      return;
    bool looser = std::isnan(mine) || (lowerSide ? diff < 0 : diff > 0);
    ++(looser ? t.looser : t.tighter);
    ++failures;
    mismatches.push_back(fmt::format("{}: {} gamma {:.9g} ref {:.9g} diff {:+.3g} tol {:.3g} ({:.1f} tol, {})", where,
                                     lowerSide ? "lower" : "upper", mine, ref, diff, tol, ratio,
                                     looser ? "looser" : "TIGHTER"));
  }

  void compareVectors(Tally &t, const std::string &where, const std::vector<double> &lo,
                      const std::vector<double> &hi, const json &refLo, const json &refHi) {
    std::vector<double> rl = refLo.get<std::vector<double>>(), ru = refHi.get<std::vector<double>>();
    if (lo.size() != rl.size() || hi.size() != ru.size()) {
      ++t.errors;
      ++failures;
      mismatches.push_back(fmt::format("{}: gamma gives {} bounds, the reference {}", where, lo.size(), rl.size()));
      return;
    }
    for (std::size_t k = 0; k < rl.size(); ++k) {
      double tol = 1e-4 * std::max(std::abs(rl[k]), std::abs(ru[k])) + 1e-6;
      compare(t, fmt::format("{}[{}]", where, k), true, lo[k], rl[k], tol);
      compare(t, fmt::format("{}[{}]", where, k), false, hi[k], ru[k], tol);
    }
  }

  std::string summary() const {
    std::string s = "group / profile / spec: cases, bounds compared, looser, tighter, errors, computeBounds seconds, "
                    "worst |diff|/tol (where)\n";
    for (const auto &[key, t] : tallies)
      s += fmt::format("  {:<36} {:>4} {:>6} {:>5} {:>5} {:>3} {:>7.2f}  {:.3f}  {}\n", key, t.cases, t.bounds,
                       t.looser, t.tighter, t.errors, t.seconds, t.worst, t.worstWhere);
    return s;
  }
};

const json *findRecord(const json &ref, const char *profile, bool usesC) {
  for (const json &r : ref["results"])
    if (r["bound_opts_profile"] == profile && r["uses_C"].get<bool>() == usesC)
      return &r;
  return nullptr;
}

bool isActivation(Op op) { return op == Op::Relu || op == Op::Sigmoid; }

std::string refOpName(Op op) { return op == Op::Relu ? "Relu" : "Sigmoid"; }

} // namespace

TEST_SUITE("reference") {

TEST_CASE("IBP and CROWN reproduce auto_LiRPA's reference bounds (ibp, pure, pure_ibp)") {
  if (!haveReference())
    return;
  auto start = std::chrono::steady_clock::now();
  const std::vector<Case> &cases = referenceCases();
  double setup = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); // 0 when cached
  if (const char *only = std::getenv("GAMMA_REFERENCE_ONLY"))
    MESSAGE("GAMMA_REFERENCE_ONLY=" << std::string(only) << ": only the reference files whose path contains it");
  else
    REQUIRE(cases.size() >= 135);
  Report report;
  std::map<std::string, double> seconds; // bound time per configuration
  for (const Case &c : cases) {
    for (const Run &run : c.runs) {
      seconds[configName(*run.config)] += run.seconds;
      if (!*run.config->profile)
        continue;
      std::string spec = run.usesC ? "C" : "noC";
      std::string key = fmt::format("{} / {} / {}", c.group, run.config->profile, spec);
      Tally &t = report.tallies[key];
      ++t.cases;
      t.seconds += run.seconds;
      std::string where = fmt::format("{} {} {}", c.file.string(), run.config->profile, spec);
      const json *rec = findRecord(c.ref, run.config->profile, run.usesC);
      if (!rec) {
        ++t.errors;
        ++report.failures;
        report.mismatches.push_back(where + ": no reference record");
        continue;
      }
      if (!run.result) {
        ++t.errors;
        ++report.failures;
        report.mismatches.push_back(where + ": computeBounds threw: " + run.error);
        continue;
      }
      const bounds::Result &r = *run.result;
      if (run.usesC)
        report.compareVectors(t, where, r.rowLower, r.rowUpper, (*rec)["lower"], (*rec)["upper"]);
      else
        report.compareVectors(t, where, r.lower, r.upper, (*rec)["lower"], (*rec)["upper"]);

      // Pre-activation bounds: the inputs of every relu/sigmoid in graph order.
      if (!rec->contains("pre_activation_bounds"))
        continue;
      Tally &p = report.tallies[fmt::format("{} / {} / pre-activation", c.group, run.config->profile)];
      ++p.cases;
      const json &pre = (*rec)["pre_activation_bounds"];
      std::vector<const bounds::NodeBounds *> mine;
      for (const bounds::NodeBounds &nb : r.intermediate)
        if (isActivation(c.graph->node(nb.node).op))
          mine.push_back(&nb);
      if (mine.size() != pre.size()) {
        ++p.errors;
        ++report.failures;
        report.mismatches.push_back(fmt::format("{} pre-activation: gamma keeps {} activation inputs, the reference {}",
                                                where, mine.size(), pre.size()));
        continue;
      }
      for (std::size_t i = 0; i < pre.size(); ++i) {
        std::string layer = fmt::format("{} pre-activation #{} ({})", where, i, pre[i]["op"].get<std::string>());
        std::string myOp = refOpName(c.graph->node(mine[i]->node).op);
        if (myOp != pre[i]["op"]) {
          ++p.errors;
          ++report.failures;
          report.mismatches.push_back(layer + ": gamma's node is a " + myOp);
          continue;
        }
        report.compareVectors(p, layer, mine[i]->lower, mine[i]->upper, pre[i]["lower"], pre[i]["upper"]);
      }
    }
  }

  std::string timing = fmt::format("{} reference cases; computeBounds total:", cases.size());
  for (const auto &[name, s] : seconds)
    timing += fmt::format(" {} {:.2f} s,", name, s);
  if (setup > 0.01)
    timing += fmt::format(" (all, with model loading: {:.2f} s)", setup);
  MESSAGE(timing);
  MESSAGE(report.summary());
  if (!report.mismatches.empty()) {
    constexpr std::size_t kShown = 200;
    std::string list = fmt::format("{} mismatches{}:\n", report.mismatches.size(),
                                   report.mismatches.size() > kShown ? fmt::format(" (first {})", kShown) : "");
    for (std::size_t i = 0; i < std::min(kShown, report.mismatches.size()); ++i)
      list += "  " + report.mismatches[i] + "\n";
    MESSAGE(list);
  }
  CHECK(report.failures == 0);
}

TEST_CASE("sampled outputs lie inside every bound gamma computes on the reference boxes") {
  if (!haveReference())
    return;
  const std::vector<Case> &cases = referenceCases();
  auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(20261124);
  long points = 0, checks = 0, outside = 0, refCentreOutside = 0;
  std::vector<std::string> failures;
  auto fail = [&](std::string text) {
    if (failures.size() < 100)
      failures.push_back(std::move(text));
  };
  for (const Case &c : cases) {
    const std::vector<double> &lo = c.box.lower, &hi = c.box.upper;
    std::size_t n = lo.size();
    std::vector<std::vector<double>> xs;
    std::vector<double> centre(n);
    for (std::size_t i = 0; i < n; ++i)
      centre[i] = lo[i] + 0.5 * (hi[i] - lo[i]);
    xs.push_back(centre);
    for (int s = 0; s < 64; ++s) {
      std::vector<double> x(n);
      for (std::size_t i = 0; i < n; ++i)
        x[i] = std::uniform_real_distribution<double>(lo[i], hi[i])(rng);
      xs.push_back(std::move(x));
    }
    if (n <= 10)
      for (std::size_t mask = 0; mask < (std::size_t(1) << n); ++mask) {
        std::vector<double> x(n);
        for (std::size_t i = 0; i < n; ++i)
          x[i] = (mask >> i) & 1 ? hi[i] : lo[i];
        xs.push_back(std::move(x));
      }
    std::vector<std::vector<double>> ys;
    for (const auto &x : xs)
      ys.push_back(evaluateFlat(*c.graph, x));
    points += static_cast<long>(xs.size());
    // The reference centre output is the float32 model's: allow float32 error.
    std::vector<double> refCentre = c.ref["center_output"].get<std::vector<double>>();

    auto inside = [](double v, double l, double u, double slack) { return v >= l - slack && v <= u + slack; };
    for (const Run &run : c.runs) {
      if (!run.result)
        continue;
      const bounds::Result &r = *run.result;
      std::string where = fmt::format("{} {} {}", c.file.string(), configName(*run.config), run.usesC ? "C" : "noC");
      auto values = [&](const std::vector<double> &y) {
        if (!run.usesC)
          return y;
        const bounds::Spec &spec = *c.spec;
        std::vector<double> v(spec.numRows(), 0.0);
        for (std::size_t k = 0; k < spec.numRows(); ++k)
          for (std::size_t j = 0; j < spec.numOutputs; ++j)
            v[k] += spec.outputCoeffs[k * spec.numOutputs + j] * y[j];
        return v;
      };
      const std::vector<double> &l = run.usesC ? r.rowLower : r.lower;
      const std::vector<double> &u = run.usesC ? r.rowUpper : r.upper;
      for (std::size_t p = 0; p < ys.size(); ++p) {
        std::vector<double> v = values(ys[p]);
        if (v.size() != l.size() || v.size() != u.size()) {
          ++outside;
          fail(fmt::format("{}: {} bounds for {} values", where, l.size(), v.size()));
          break;
        }
        for (std::size_t k = 0; k < v.size(); ++k) {
          ++checks;
          // float64 evaluation error is far below this slack.
          if (!inside(v[k], l[k], u[k], 1e-9 * (1 + std::abs(v[k])))) {
            ++outside;
            fail(fmt::format("{} point #{} output {}: {:.12g} not in [{:.12g}, {:.12g}]", where, p, k, v[k], l[k],
                             u[k]));
          }
        }
      }
      std::vector<double> rc = values(refCentre);
      for (std::size_t k = 0; k < rc.size() && k < l.size(); ++k)
        if (!inside(rc[k], l[k], u[k], 1e-5 * (1 + std::abs(rc[k])))) {
          ++refCentreOutside;
          fail(fmt::format("{} reference centre_output {}: {:.9g} not in [{:.9g}, {:.9g}]", where, k, rc[k], l[k], u[k]));
        }
    }
  }
  MESSAGE(fmt::format("{} cases, {} points evaluated, {} point-bound checks: {} outside, reference centre outputs "
                      "outside: {} ({:.2f} s of evaluation and checks)",
                      cases.size(), points, checks, outside, refCentreOutside,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  if (!failures.empty()) {
    std::string list;
    for (const auto &f : failures)
      list += "  " + f + "\n";
    MESSAGE(list);
  }
  CHECK(outside == 0);
  CHECK(refCentreOutside == 0);
}

// Acceptance of the compiler: one bound program per (network, method), the
// box and spec as run-time inputs, gives the direct path's bounds on every
// reference case (outputs, and the C rows where the case has them). The
// programs run as plans do: their kernels compiled to object code, linked by
// the runtime's loader, over one arena.
TEST_CASE("bound programs give the direct bounds on every reference case") {
  if (!haveReference())
    return;
  bounds::registerProgramRules();
  const std::vector<Case> &cases = referenceCases();
  struct Compiled {
    Graph program;
    std::optional<ObjectCode> code;
    std::optional<ProgramRunner> runner;
  };
  std::map<std::string, Compiled> programs;
  std::map<std::string, std::tuple<long, double, double>> tally; // runs, worst relative difference, seconds
  long compared = 0;
  std::size_t compiledNodes = 0;
  std::string target = codegen::missingHostFeatures("x86-64-v3").empty() ? "x86-64-v3" : "host";
  for (const Case &c : cases)
    for (const Run &run : c.runs) {
      if (run.config->intersectIbp || !run.result)
        continue;
      std::string method(bounds::methodName(run.config->method));
      std::int64_t outs = c.ref["num_outputs"].get<std::int64_t>();
      Compiled &compiled = programs[c.ref["model"].get<std::string>() + " " + method];
      if (!compiled.runner) {
        compiled.program = *c.graph;
        PassOptions options;
        options.boundMethod = method;
        options.specRows = outs;
        runPasses(compiled.program, boundPipeline(), options, c.ref["model"].get<std::string>());
        PlanFile plan;
        compilePlanKernels(plan, compiled.program, codegen::describeTarget(target));
        if (!plan.object.empty() && ObjectCode::supportedHost())
          compiled.code = ObjectCode::link(plan.object, "kernels");
        compiled.runner.emplace(compiled.program, compiled.code ? &*compiled.code : nullptr, "program");
        compiledNodes += compiled.runner->compiledNodes();
      }
      auto start = std::chrono::steady_clock::now();
      std::vector<double> C(static_cast<std::size_t>(outs * outs), 0.0), d(static_cast<std::size_t>(outs), 0.0);
      std::size_t rows = run.usesC ? c.spec->numRows() : 0;
      if (run.usesC)
        std::copy(c.spec->outputCoeffs.begin(), c.spec->outputCoeffs.end(), C.begin());
      std::vector<std::span<const double>> inputs{c.box.lower, c.box.upper, C, d};
      std::vector<std::vector<double>> out = compiled.runner->run(inputs);
      auto &[runs, worst, seconds] = tally[c.group + " " + method + (run.usesC ? " C" : "")];
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      ++runs;
      auto same = [&](const std::vector<double> &mine, const std::vector<double> &direct, std::size_t count,
                      const char *what) {
        REQUIRE(mine.size() >= count);
        for (std::size_t k = 0; k < count; ++k) {
          double diff = std::fabs(mine[k] - direct[k]) / (1 + std::fabs(direct[k]));
          worst = std::max(worst, diff);
          ++compared;
          CHECK_MESSAGE(diff <= 1e-9, c.file.string(), " ", method, run.usesC ? " C " : " ", what, "[", k,
                        "]: program ", mine[k], " direct ", direct[k]);
        }
      };
      same(out[0], run.result->lower, run.result->lower.size(), "lower");
      same(out[1], run.result->upper, run.result->upper.size(), "upper");
      same(out[2], run.result->rowLower, rows, "row lower");
      same(out[3], run.result->rowUpper, rows, "row upper");
    }
  std::string summary = "group method spec: runs, worst relative difference to the direct path, program seconds\n";
  for (const auto &[key, t] : tally)
    summary += fmt::format("  {:<28} {:>4} {:.2e} {:>7.2f}\n", key, std::get<0>(t), std::get<1>(t), std::get<2>(t));
  MESSAGE(summary << compared << " bounds compared over " << programs.size() << " programs, " << compiledNodes
                  << " nodes run by object code for " << target);
  CHECK(compared > 0);
  if (ObjectCode::supportedHost())
    CHECK(compiledNodes > 0);
}

} // TEST_SUITE
