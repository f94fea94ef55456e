// Internals shared by the bound methods (not part of the public API).
//
// The network graph is read once into GraphInfo: which values depend on the
// input ("bounded" values), the concrete value of every other value (folded
// with the reference interpreter), and index maps for broadcasting and data
// movement. IBP (ibp.cpp) fills an Interval per bounded value; CROWN
// (crown.cpp) propagates linear bounds backward using relaxations (relax.h).
#pragma once

#include "bounds/bounds.h"
#include "bounds/relax.h"
#include "ir/interp/interpreter.h"
#include "ir/linear_weights.h"

#include <cstdint>
#include <functional>
#include <span>
#include <optional>
#include <vector>

namespace gm::bounds {

struct Interval {
  std::vector<double> lo, hi;
  std::size_t size() const { return lo.size(); }
};

struct GraphInfo {
  const Graph &graph;
  ValueId input = kNoValue, output = kNoValue;
  std::vector<bool> bounded;                      // depends on the input
  std::vector<std::optional<ref::Tensor>> consts; // value of every value that does not
  std::vector<std::vector<NodeId>> users;         // nodes reading each value
  // Per value: the [out, in] constant a matmul reads row by row in place of
  // this (transposed, never folded) value; null for every other value.
  std::vector<const Constant *> streamed;
  // Per value: its rows over the last axis are probability vectors (a softmax
  // over that axis made it), which IBP's matmul uses (ibp.cpp, simplexProduct).
  std::vector<bool> simplexRows;

  // streamWeightsFrom: see NetworkOptions. oneInput = false admits several
  // inputs (a one-node graph of a bound program's ibp.node; `input` is the first).
  explicit GraphInfo(const Graph &g, std::int64_t streamWeightsFrom = -1, bool oneInput = true);
  std::size_t size(ValueId v) const { return static_cast<std::size_t>(graph.type(v).numElements()); }
  const Shape &shape(ValueId v) const { return graph.type(v).shape; }
  std::string where(NodeId n) const { return graph.describe(n); }
};

// For each element of a value of shape `out`, the index of the element of a
// value of shape `in` it reads under numpy broadcasting.
std::vector<std::int64_t> broadcastIndex(const Shape &in, const Shape &out);

// For each output element of a movement node (reshape, transpose, slice,
// gather, concat), the operand and element it copies. Computed by running the
// reference kernel on element numbers, so it is exactly the op's semantics.
struct MovementMap {
  std::vector<std::uint32_t> operand;
  std::vector<std::int64_t> element;
};
MovementMap movementMap(const GraphInfo &info, NodeId node);

// For each element of a reduce node's input, the output element it adds into.
std::vector<std::int64_t> reduceIndex(const Shape &in, const std::vector<std::int64_t> &axes);

// The taps of a sliding-window op (conv, pools): for output element o and
// input element i, weight index w (conv: into the weight tensor; pools: 0).
struct Tap {
  std::int64_t out, in, weight;
};
struct WindowTaps {
  std::vector<Tap> taps;             // grouped by output element, ascending
  std::vector<std::int64_t> divisor; // average_pool: per output element
  std::int64_t maxFanIn = 0;         // most taps of one output element
  std::int64_t maxFanOut = 0;        // most taps reading one input element
};
WindowTaps windowTaps(const GraphInfo &info, NodeId node);
// The same taps one output element at a time (in ascending order), without
// holding them all: a conv over long sequences has billions. `divisor` is the
// average_pool divisor of that output element.
using WindowVisitor = std::function<void(std::int64_t out, std::span<const Tap> taps, std::int64_t divisor)>;
void forEachWindow(const GraphInfo &info, NodeId node, const WindowVisitor &visit);

// IBP for one node with a bounded result, from the intervals of its bounded
// operands (and the constants of the others). Every op is handled.
Interval ibpNode(const GraphInfo &info, NodeId node, const std::vector<Interval> &intervals);

// Interval of a value: its IBP interval, or a point for a constant.
Interval intervalOf(const GraphInfo &info, ValueId v, const std::vector<Interval> &intervals);

// Why CROWN cannot bound this node, or empty when it can.
std::string crownUnsupported(const GraphInfo &info, NodeId node);

// One backward pass. Rows are all lower-bound rows:  row_r >= lower_r  where
// the pass starts from `startCoeffs` (rows × size(start)) on value `start`
// and optional coefficients on the input. `bounds` holds the interval of every
// value that CROWN relaxes (intermediate bounds) and a sound magnitude bound
// for every bounded value (used for rounding-error terms). When `cut` is
// given, values with cut[v] set are concretised against bounds[v] instead of
// being propagated through (IBP with a spec folds it into the last linear layer).
struct BackwardInputs {
  const GraphInfo &info;
  const Box &box;
  const std::vector<Interval> &bounds;      // per value; relaxed values hold their intermediate bounds
  const std::vector<Interval> &magnitudes;  // per value: sound interval used only for error terms
  const std::vector<bool> *cut = nullptr;
  const std::optional<std::chrono::steady_clock::time_point> *deadline = nullptr;
  // Relaxation lines per node, filled on first use: a node's intermediate
  // bounds never change once set, and every later pass goes through it.
  std::vector<std::optional<Lines>> *lines = nullptr;
};
std::vector<double> backward(const BackwardInputs &in, ValueId start, std::size_t rows,
                             const std::vector<double> *startCoeffs, // null: [I; -I] over `start`
                             const std::vector<double> *inputCoeffs, const std::vector<double> &constants);

// The schedule of computeBounds, shared with the lowering of bound programs
// (passes/lower_graph.cpp) so both bound the same values the same way:
// the operands whose intervals CROWN's rule for a node reads (they get
// intermediate bounds), and whether IBP with a spec folds the rows through a
// node (auto_LiRPA merges C into the last linear layers) or concretises them.
std::vector<ValueId> relaxedOperands(const GraphInfo &info, const Node &node);
bool foldsSpec(const GraphInfo &info, NodeId id);

// One node's backward rule alone (lb.node): rows over its result y -> rows
// over each of its distinct bounded operands (in operand order), with the
// starting constants c and every rounding error of the rule folded into the
// returned constants, rounded down. `in.bounds` and `in.magnitudes` need only
// the node's operands.
struct StepRows {
  std::vector<double> c;
  std::vector<std::vector<double>> A; // per distinct bounded operand
};
StepRows backwardStep(const BackwardInputs &in, NodeId node, std::size_t rows, std::vector<double> A,
                      const std::vector<double> &c);

Interval intersect(const Interval &a, const Interval &b);

// Largest and mean width of an interval.
ValueWidth widthOf(NodeId node, const Interval &v);

// Lower bounds of the rows [I; -I] over a value of n elements, as an interval.
Interval fromRows(const std::vector<double> &rows, std::size_t n);

// A spec as lower-bound rows [C; -C] (outputs, optional input part, constants),
// the constants moved outward for the rounding of parsed decimals; y and box
// bound what the coefficients multiply.
struct SpecRows {
  std::vector<double> out, in, constants;
};
SpecRows specRows(const Spec &spec, const Interval &y, const Box &box);

void checkDeadline(const std::optional<std::chrono::steady_clock::time_point> *deadline);

} // namespace gm::bounds
