// Verdicts for properties: bounds prove, search falsifies.
//
//   unsat    every disjunct has a row whose sound lower bound is > 0
//   sat      a counterexample found by sampling or gradient attack, re-checked
//            in float64 by the reference interpreter
//   unknown  neither
//   timeout  the time limit passed first
// Disjuncts over the same box share one bound computation (their rows are
// stacked into one spec), which is what robustness properties need.
#pragma once

#include "bounds/bounds.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/graph.h"
#include "runtime/falsify.h"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace gm {

struct VerifyOptions {
  bounds::Method method = bounds::Method::Crown;
  bool intersectIbp = false;
  double timeoutSeconds = 0; // 0: none
  std::size_t samples = 1000;
  double searchSeconds = 10; // time for the counterexample search, within the timeout
  std::uint64_t seed = 1;
  bool attack = true;
};

struct RowReport {
  std::vector<std::pair<std::uint32_t, double>> outputCoeffs, inputCoeffs;
  double constant = 0;
  bool strict = false;
  double lower = 0, upper = 0; // bounds on the row's value over the disjunct's box
};

struct DisjunctReport {
  std::vector<RowReport> rows;
  // "refuted" (some row's lower bound > 0), "violated" (holds the
  // counterexample), "open", or "not-run" (timeout before its bounds)
  std::string status = "not-run";
  std::vector<double> outputLower, outputUpper;
};

struct VerifyReport {
  std::string verdict; // unsat, sat, unknown, timeout
  std::string method;
  double seconds = 0;
  std::vector<double> outputLower, outputUpper; // over the union of the disjuncts' boxes
  std::vector<DisjunctReport> disjuncts;
  std::optional<Counterexample> counterexample;
};

VerifyReport verifyProperty(const Graph &graph, const vnnlib::Property &property, const VerifyOptions &options);

// The report of a property before any bound: every row open at (−∞, ∞).
VerifyReport openReport(const vnnlib::Property &property, std::string method);

// Bounds every disjunct of `property` into `report` (rows, statuses, output
// bounds). Disjuncts over the same box share one call of `bound`, up to
// `maxRows` rows per call; `bound` gets the box widened by one ulp for the
// decimals (docs/SOUNDNESS.md, "Input boxes") and the rows as a spec. An
// empty box refutes its disjuncts without a call.
using DisjunctBound = std::function<bounds::Result(const bounds::Box &box, const bounds::Spec &spec)>;
void boundDisjuncts(VerifyReport &report, const vnnlib::Property &property, std::size_t maxRows,
                    const DisjunctBound &bound);

// The verdict once the bounds have filled `report` (every disjunct "refuted",
// "open" or "not-run"): unsat if all are refuted, else the counterexample
// search over the open ones on `graph` (sampling, then the gradient attack,
// within options.searchSeconds and the deadline), then sat, timeout or
// unknown. `graph` is called only when a search is needed, so a caller that
// has no network at hand (a plan) loads it then.
VerifyReport decideAfterBounds(VerifyReport report, const vnnlib::Property &property,
                               const std::function<const Graph &()> &graph, const VerifyOptions &options,
                               std::chrono::steady_clock::time_point start,
                               std::optional<std::chrono::steady_clock::time_point> deadline, bool timedOut);

// A local-robustness property as a VNNLIB one: the box x ± epsilon (clipped),
// and one disjunct per class j != label with the row  Y_label - Y_j <= 0.
vnnlib::Property robustnessProperty(const std::vector<double> &input, double epsilon, std::size_t label,
                                    std::size_t numOutputs, double clipLower, double clipUpper);

// VNN-COMP's result file: "unsat", "unknown", "timeout", or "sat" followed by
// ((X_0 v) ... (Y_0 v) ...).
std::string vnncompResult(const VerifyReport &report);

} // namespace gm
