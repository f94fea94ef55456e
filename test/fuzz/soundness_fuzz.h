// The soundness fuzzer: random small graphs of every bounded op, random boxes
// and specification rows, bounds by each method, and points inside the box
// (centre, corners, uniform samples, gradient-sign attacks) evaluated by the
// reference interpreter. Every evaluated output and row must lie inside its
// bounds; a case that breaks that is shrunk to a small graph and printed as IR.
//
// Everything is a pure function of a 64-bit case seed (and the generator
// options and the list of methods checked together, which share points), so a
// printed failure is reproduced by the `gamma-fuzz --case SEED ...` line
// printed with it.
#pragma once

#include "bounds/bounds.h"
#include "ir/graph.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gm::fuzz {

// ---- Generation -------------------------------------------------------------

// One test case: a graph with one input and one output, a box over the input
// and, sometimes, specification rows over the output (and the input).
struct Case {
  Graph graph;
  bounds::Box box;
  std::optional<bounds::Spec> spec;
  bool intersectIbp = false;     // bounds::Options::intersectIbp for the CROWN methods
  std::uint64_t seed = 0;        // the case seed it was generated from
  std::vector<std::string> tags; // features exercised ("div-bounded", "conv-group", ...)
};

// The patterns the generator draws from: one per op keyword of ir/ops.def that
// a bound method may support, plus "residual" (a value used twice),
// "dense_chain" (a whole feed-forward network) and "qwen3_block" and
// "whisper_block" (a whole transformer block, see transformer_patterns.h).
std::span<const std::string_view> patternNames();

struct GenOptions {
  std::vector<std::string> patterns; // subset of patternNames(); empty means all
  int maxSteps = 5;                  // patterns applied per graph: 1..maxSteps
  std::int64_t maxInputElements = 24;
  std::int64_t maxElements = 192; // no intermediate value larger than this
};

Case generate(std::uint64_t caseSeed, const GenOptions &options);

// The seed of case `index` of a run started with `runSeed`.
std::uint64_t caseSeed(std::uint64_t runSeed, std::uint64_t index);

// ---- Checking ---------------------------------------------------------------

// The bound computation under test; computeBounds unless a test injects a
// deliberately broken one to check the checker.
using BoundFn = std::function<bounds::Result(const Graph &, const bounds::Box &, const bounds::Spec *,
                                             const bounds::Options &)>;
using SupportFn = std::function<void(const Graph &, bounds::Method)>;

struct CheckOptions {
  std::size_t samples = 32;           // uniform samples (some snapped to faces)
  std::size_t maxCorners = 1024;      // all corners up to this many, else random ones
  std::size_t randomCorners = 48;
  std::size_t attackTargets = 12;     // per method: the output/row extremes closest to their bounds
  std::size_t attackSteps = 6;
  std::size_t maxGradientCoords = 16; // finite differences over at most this many coordinates per step
  std::chrono::milliseconds boundTimeout{10000};
  std::vector<std::vector<double>> extraPoints; // checked first (the shrinker passes the failing point)
  BoundFn bound;                                 // empty: bounds::computeBounds
  SupportFn support;                             // empty: bounds::checkSupported
};

// The rounding slack of the oracle. The bounds claim to contain the exact real
// result, but the interpreter evaluates in float64 and rounds at every op: a
// sum of a few dozen terms of magnitude up to ~1e2 is off by ~1e-13 at most.
// A value may therefore exceed its bound by 1e-12*(1+|value|) without being
// evidence of unsoundness; anything more is a violation. A spec row, summed in
// long double, gets 1e-12*(1 + the sum of the magnitudes of its terms), since
// each output carries its own relative error. There is no other tolerance.
constexpr double kRelativeSlack = 1e-12;

enum class Outcome {
  Checked,     // bounds computed and every point inside them
  Unsupported, // checkSupported rejected the graph for this method
  Rejected,    // checkSupported accepted, computeBounds threw InputError
  Timeout,
  Failed,
};

struct Violation {
  // Crash: the check died of a signal (an abort in the bound code, a
  // segfault) or a sanitizer stopped it; only seen with RunOptions::isolate.
  enum class Kind { Exception, NaNBound, Output, Row, Crash } kind = Kind::Output;
  std::size_t index = 0;     // output element or row
  std::vector<double> point; // the input point (Output/Row)
  double value = 0, lower = 0, upper = 0;
  std::string what;   // one line
  std::string detail; // Crash: what the child wrote to stderr (a sanitizer's stack trace)
};

struct MethodResult {
  bounds::Method method = bounds::Method::Ibp;
  Outcome outcome = Outcome::Checked;
  std::string message;                // Unsupported/Rejected: the InputError
  std::optional<Violation> violation; // Failed
  std::size_t infiniteBounds = 0;     // output and row bounds that are +-inf
  std::size_t boundsCount = 0;        // output and row bounds in total
};

struct CheckReport {
  std::vector<MethodResult> methods;
  std::size_t points = 0; // evaluated points (shared by all methods)
};

// Bounds by every method, then points; the sample and attack points are a
// function of the case seed.
CheckReport check(const Case &c, std::span<const bounds::Method> methods, const CheckOptions &options);

// ---- Shrinking --------------------------------------------------------------

struct ShrinkOptions {
  std::size_t maxChecks = 400;
  std::chrono::milliseconds timeLimit{20000};
};

// Greedily shrinks a case that fails `method` with `violation`: reroutes the
// output and the users of a value to an earlier value of the same type, drops
// concat operands, replaces values by constants (their value at the failing
// point), shrinks the box toward the failing point, simplifies weights, spec
// rows and options, keeping each step only if the case still fails the same
// way (a crash is re-checked in a forked child). Returns the smallest failing
// case found and its violation.
std::pair<Case, Violation> shrink(const Case &c, bounds::Method method, const Violation &violation,
                                  const CheckOptions &checkOptions, const ShrinkOptions &options);

// Checks `method` on the case in a forked child; a Crash violation if it died.
std::optional<Violation> crashes(const Case &c, bounds::Method method, const CheckOptions &options);

// The graph as .gir text, the box, the spec and (if given) the violation.
std::string formatCase(const Case &c, const Violation *violation = nullptr);

// ---- Runs -------------------------------------------------------------------

struct RunOptions {
  std::uint64_t seed = 1;
  std::uint64_t iterations = 100;
  std::optional<std::uint64_t> onlyCase; // replay this case seed only
  std::chrono::milliseconds timeLimit{0}; // 0: none
  std::vector<bounds::Method> methods = {bounds::Method::Ibp, bounds::Method::Crown, bounds::Method::CrownIbp};
  GenOptions gen;
  CheckOptions check;
  bool shrink = true;
  // Check each batch of cases in a forked child first (and a batch that
  // crashed case by case), so a crash is reported and shrunk, not fatal.
  bool isolate = true;
  std::size_t maxShrunk = 1000; // failures after this many are reported unshrunk
  ShrinkOptions shrinkOptions;
  std::ostream *log = nullptr; // progress and failures as they happen
  std::uint64_t progressEvery = 0;
  // Called with each case seed before the case runs (the driver keeps it for
  // its crash handler: an abort in the bound code cannot be caught).
  std::function<void(std::uint64_t)> onCase;
};

struct Failure {
  std::uint64_t caseSeed = 0;
  bounds::Method method = bounds::Method::Ibp;
  Violation violation; // on the original case
  std::string replay;   // gamma-fuzz arguments that check this case again
  std::string original; // formatCase of the original case
  std::string shrunk;   // formatCase of the shrunk case (empty without shrinking)
};

// Per method, how many graphs containing an op (or tag) were generated and how
// many of them were actually checked; the difference shows what a method does
// not support yet.
struct Counts {
  std::size_t generated = 0, checked = 0, unsupported = 0, rejected = 0, timeout = 0, failed = 0;
};

struct RunReport {
  std::uint64_t cases = 0;
  std::size_t points = 0;
  bool timedOut = false; // stopped by the time limit before all iterations
  double seconds = 0;
  std::map<bounds::Method, Counts> perMethod;
  std::map<bounds::Method, std::map<std::string, Counts>> perOp;  // op keyword
  std::map<bounds::Method, std::map<std::string, Counts>> perTag; // generator feature tags
  std::map<bounds::Method, std::size_t> infiniteBounds, boundsCount;
  std::map<bounds::Method, std::map<std::string, std::size_t>> rejections; // message -> count
  std::vector<Failure> failures;
  std::vector<std::string> fuzzerErrors; // generator or oracle problems: bugs in the fuzzer, not in bounds
};

RunReport run(const RunOptions &options);

// A readable table: per method and op, generated / checked, then tags,
// rejections and failures.
std::string formatReport(const RunReport &report);

std::string formatFailure(const Failure &failure);

} // namespace gm::fuzz
