// Sound output bounds of a network over an input box: IBP and CROWN, computed
// directly on the network graph (the reference semantics of the bound methods;
// the compiler will lower the same rules to bound programs).
//
// Every number returned is a proven bound on the exact real-valued result of
// the graph over the box: rounding error is accounted for outward as described
// in docs/SOUNDNESS.md. An op a method cannot bound is an InputError naming the
// node, never a pass-through.
#pragma once

#include "ir/graph.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace gm::bounds {

enum class Method {
  Ibp,      // interval propagation
  Crown,    // backward linear bounds; intermediate bounds by CROWN too (auto_LiRPA's "pure" profile)
  CrownIbp, // backward linear bounds for the output; intermediate bounds by IBP
};
std::string_view methodName(Method method); // "ibp", "crown", "crown-ibp"
std::optional<Method> parseMethod(std::string_view name);

// The input region: a box over the flat (row-major) elements of the graph's
// single input. Bounds must be finite.
struct Box {
  std::vector<double> lower, upper;
};

// Linear specification rows over the flat elements of the graph's single
// output (and optionally over the input):  row_r = C[r]·y + X[r]·x + d[r].
// Coefficients and constants may be the nearest doubles of decimals written
// in a property file; bounds allow for one ulp of error in each.
struct Spec {
  std::size_t numOutputs = 0;
  std::size_t numInputs = 0;
  std::vector<double> outputCoeffs; // rows × numOutputs, row-major
  std::vector<double> inputCoeffs;  // rows × numInputs, or empty when no row reads the input
  std::vector<double> constants;    // one per row
  std::size_t numRows() const { return constants.size(); }
};

struct Options {
  Method method = Method::Crown;
  // Intersect every CROWN bound (intermediate and final) with one step of IBP
  // from the previous bounds (auto_LiRPA's compare_crown_with_ibp, profile "pure_ibp").
  bool intersectIbp = false;
  // Give up with Timeout once this time has passed (checked between layers).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Keep the bounds of the inputs of every relaxed node (tests compare them
  // with auto_LiRPA's pre-activation bounds).
  bool keepIntermediate = false;
  // Keep the width of every bounded value's interval (Result::widths), to show
  // where bounds grow through a network.
  bool keepWidths = false;
  // Feed-forward networks of dense layers take a matrix-form implementation
  // of the same rules (bounds/dense_chain.h); false forces the general DAG
  // engine (tests compare the two).
  bool denseChain = true;
  // Threads for the rows of a backward pass: 1 = serial, 0 = the process's
  // shared pool (GAMMA_THREADS, else every hardware thread). Results are the
  // same either way.
  unsigned threads = 0;
};

struct NodeBounds {
  NodeId node = 0; // the relaxed node (relu, sigmoid, ...) whose input these bound
  std::vector<double> lower, upper;
};

// How wide a value's interval is: the largest and the mean of upper - lower
// over its elements (infinite when a side is unbounded).
struct ValueWidth {
  NodeId node = 0; // the node defining the value
  double maxWidth = 0, meanWidth = 0;
};

struct Result {
  std::vector<double> lower, upper;       // every output element
  std::vector<double> rowLower, rowUpper; // every spec row (empty without a spec)
  std::vector<NodeBounds> intermediate;   // with Options::keepIntermediate, in graph order
  std::vector<ValueWidth> widths;         // with Options::keepWidths: every bounded value in graph order
                                          // (a dense chain: each layer's pre-activation and activation)
};

class Timeout : public std::runtime_error {
public:
  Timeout() : std::runtime_error("timeout") {}
};

struct GraphInfo;
struct DenseChain;

struct NetworkOptions {
  // Linear layers (matmul by a transposed constant [out, in]) whose weight has
  // at least this many elements are read from the model a row at a time
  // instead of being folded into float64 (large transformers: the model stays
  // in its file encoding); -1: never. IBP, and CROWN folding a spec through a
  // single-position layer (the LM head), read them; other CROWN uses refuse.
  std::int64_t streamWeightsFrom = -1;
};

// A graph read once for bounding: constant subgraphs folded, users and index
// maps known. Refers to the graph, which must outlive it. Build one per
// network and reuse it across properties.
class Network {
public:
  explicit Network(const Graph &graph, const NetworkOptions &options = {});
  ~Network();
  Network(Network &&) noexcept;
  const GraphInfo &info() const { return *info_; }
  const DenseChain *denseChain() const { return chain_.get(); } // null unless the network is a dense chain

private:
  std::unique_ptr<GraphInfo> info_;
  std::unique_ptr<DenseChain> chain_;
};

// Bounds on the single output of `graph` over `box`, and on `spec`'s rows when
// given. Throws InputError when the graph has other than one input and one
// output, when the box does not fit the input, or when the method cannot bound
// an op; Timeout when the deadline passes.
Result computeBounds(const Graph &graph, const Box &box, const Spec *spec, const Options &options);
Result computeBounds(const Network &network, const Box &box, const Spec *spec, const Options &options);

// Checks up front that `method` can bound every op of `graph` (the same
// InputError computeBounds would throw, without computing anything).
void checkSupported(const Graph &graph, Method method);

// Installs the rules of bound programs' ibp.node and lb.node (bounds/
// program_rules.cpp) into the reference interpreter; call before running a
// program that has them. Idempotent.
void registerProgramRules();

} // namespace gm::bounds
