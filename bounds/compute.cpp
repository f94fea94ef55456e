// computeBounds: one forward sweep in graph order. Every bounded value gets its
// IBP interval; the input of every relaxed node also gets intermediate bounds
// (by a CROWN backward pass for Method::Crown, IBP for CrownIbp); the output
// and the spec rows get one final pass. docs/ARCHITECTURE.md, "Bounds".
#include "bounds/dense_chain.h"
#include "bounds/engine.h"
#include "bounds/fp.h"
#include "bounds/relax.h"
#include "ir/error.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gm::bounds {

std::string_view methodName(Method method) {
  switch (method) {
  case Method::Ibp:
    return "ibp";
  case Method::Crown:
    return "crown";
  case Method::CrownIbp:
    return "crown-ibp";
  }
  return "?";
}

std::optional<Method> parseMethod(std::string_view name) {
  for (Method m : {Method::Ibp, Method::Crown, Method::CrownIbp})
    if (methodName(m) == name)
      return m;
  return std::nullopt;
}

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
} // namespace

// Operands whose intervals CROWN's rule for this node reads.
std::vector<ValueId> relaxedOperands(const GraphInfo &info, const Node &node) {
  if (node.op == Op::Mul && info.bounded[node.operands[0]] && info.bounded[node.operands[1]])
    return {node.operands[0], node.operands[1]};
  if (hasRelaxation(node.op) && info.bounded[node.operands[0]])
    return {node.operands[0]};
  return {};
}

// Ops IBP-with-spec folds the rows through (auto_LiRPA merges C into the last
// linear layer); everything else is concretised against its interval.
bool foldsSpec(const GraphInfo &info, NodeId id) {
  const Node &node = info.graph.node(id);
  if (!crownUnsupported(info, id).empty())
    return false;
  switch (node.op) {
  case Op::MatMul:
    return !(info.bounded[node.operands[0]] && info.bounded[node.operands[1]]);
  case Op::Add:
  case Op::Sub:
    return !(info.bounded[node.operands[0]] && info.bounded[node.operands[1]]);
  case Op::Conv:
  case Op::BatchNorm:
  case Op::Reshape:
    return true;
  default:
    return false;
  }
}

ValueWidth widthOf(NodeId node, const Interval &v) {
  ValueWidth w{node, 0, 0};
  for (std::size_t i = 0; i < v.size(); ++i) {
    double d = v.hi[i] - v.lo[i];
    w.maxWidth = std::max(w.maxWidth, d);
    w.meanWidth += d;
  }
  if (v.size())
    w.meanWidth /= static_cast<double>(v.size());
  return w;
}

Interval intersect(const Interval &a, const Interval &b) {
  Interval r = a;
  for (std::size_t i = 0; i < r.size(); ++i) {
    r.lo[i] = std::max(a.lo[i], b.lo[i]);
    r.hi[i] = std::min(a.hi[i], b.hi[i]);
  }
  return r;
}

// Lower bounds of [I; -I] rows -> an interval.
Interval fromRows(const std::vector<double> &rows, std::size_t n) {
  Interval r{std::vector<double>(n), std::vector<double>(n)};
  for (std::size_t i = 0; i < n; ++i) {
    r.lo[i] = rows[i];
    r.hi[i] = -rows[n + i];
  }
  return r;
}

// The spec as lower-bound rows [C; -C] with constants moved outward by the
// uncertainty of decimals parsed to the nearest double: one ulp of each
// constant and of each coefficient times the magnitude of what it multiplies.
SpecRows specRows(const Spec &spec, const Interval &y, const Box &box) {
  std::size_t m = spec.numRows(), no = spec.numOutputs, ni = spec.numInputs;
  SpecRows s;
  s.out.resize(2 * m * no);
  if (!spec.inputCoeffs.empty())
    s.in.resize(2 * m * ni);
  s.constants.resize(2 * m);
  auto ulp = [](double v) { return std::fabs(fp::nextUp(std::fabs(v)) - std::fabs(v)); };
  for (std::size_t r = 0; r < m; ++r) {
    double fuzz = ulp(spec.constants[r]);
    for (std::size_t j = 0; j < no; ++j) {
      double c = spec.outputCoeffs[r * no + j];
      s.out[r * no + j] = c;
      s.out[(m + r) * no + j] = -c;
      if (c != 0)
        fuzz += ulp(c) * std::max(std::fabs(y.lo[j]), std::fabs(y.hi[j]));
    }
    if (!spec.inputCoeffs.empty())
      for (std::size_t i = 0; i < ni; ++i) {
        double c = spec.inputCoeffs[r * ni + i];
        s.in[r * ni + i] = c;
        s.in[(m + r) * ni + i] = -c;
        if (c != 0)
          fuzz += ulp(c) * std::max(std::fabs(box.lower[i]), std::fabs(box.upper[i]));
      }
    fuzz = fp::nextUp(fuzz * (1 + 0x1p-40));
    s.constants[r] = fp::subDown(spec.constants[r], fuzz);
    s.constants[m + r] = fp::subDown(-spec.constants[r], fuzz);
  }
  return s;
}

void checkSupported(const Graph &graph, Method method) {
  GraphInfo info(graph);
  if (method == Method::Ibp)
    return;
  for (NodeId n = 0; n < graph.numNodes(); ++n)
    if (info.bounded[graph.node(n).results[0]]) {
      std::string why = crownUnsupported(info, n);
      if (!why.empty())
        fail(info.where(n), "{}", why);
    }
}

Network::Network(const Graph &graph, const NetworkOptions &options)
    : info_(std::make_unique<GraphInfo>(graph, options.streamWeightsFrom)) {
  if (std::optional<DenseChain> chain = matchDenseChain(*info_))
    chain_ = std::make_unique<DenseChain>(std::move(*chain));
}
Network::~Network() = default;
Network::Network(Network &&) noexcept = default;

Result computeBounds(const Graph &graph, const Box &box, const Spec *spec, const Options &options) {
  return computeBounds(Network(graph), box, spec, options);
}

Result computeBounds(const Network &network, const Box &box, const Spec *spec, const Options &options) {
  const GraphInfo &info = network.info();
  const Graph &graph = info.graph;
  std::size_t nIn = info.size(info.input), nOut = info.size(info.output);
  if (box.lower.size() != nIn || box.upper.size() != nIn)
    fail("", "the input box has {} bounds but the model input {} has {} elements", box.lower.size(),
         typeString(graph.type(info.input)), nIn);
  for (std::size_t i = 0; i < nIn; ++i)
    if (!(box.lower[i] <= box.upper[i]))
      fail("", "input box element {} is empty or NaN: [{}, {}]", i, box.lower[i], box.upper[i]);
  if (spec) {
    if (spec->numOutputs != nOut || spec->outputCoeffs.size() != spec->numRows() * nOut)
      fail("", "the spec has {} output coefficients per row but the model has {} outputs", spec->numOutputs, nOut);
    if (!spec->inputCoeffs.empty() && (spec->numInputs != nIn || spec->inputCoeffs.size() != spec->numRows() * nIn))
      fail("", "the spec's input coefficients do not match the model input ({} elements)", nIn);
  }
  bool crown = options.method != Method::Ibp;
  if (crown)
    for (NodeId n = 0; n < graph.numNodes(); ++n)
      if (info.bounded[graph.node(n).results[0]]) {
        std::string why = crownUnsupported(info, n);
        if (!why.empty())
          fail(info.where(n), "{}", why);
      }
  if (options.denseChain && network.denseChain() && denseChainServes(*network.denseChain(), box, spec))
    return denseChainBounds(info, *network.denseChain(), box, spec, options);
  const auto *deadline = &options.deadline;

  std::size_t numValues = graph.numValues();
  std::vector<Interval> cur(numValues);  // best sound interval known (IBP, intersected with CROWN)
  std::vector<Interval> used(numValues); // intermediate bounds the relaxations use
  std::vector<bool> needed(numValues, false);
  for (const Node &node : graph.nodes())
    for (ValueId v : relaxedOperands(info, node))
      needed[v] = true;

  std::vector<std::optional<Lines>> lines(graph.numNodes());
  Result result;
  for (NodeId n = 0; n < graph.numNodes(); ++n) {
    checkDeadline(deadline);
    const Node &node = graph.node(n);
    ValueId v = node.results[0];
    if (!info.bounded[v])
      continue;
    cur[v] = node.op == Op::Input ? Interval{box.lower, box.upper} : ibpNode(info, n, cur);
    if (!needed[v])
      continue;
    if (options.method == Method::Crown && node.op != Op::Input) {
      BackwardInputs in{info, box, used, cur, nullptr, deadline, &lines};
      std::size_t size = info.size(v);
      Interval c = fromRows(backward(in, v, 2 * size, nullptr, nullptr, std::vector<double>(2 * size, 0.0)), size);
      Interval both = intersect(cur[v], c);
      used[v] = options.intersectIbp ? both : c;
      cur[v] = both;
    } else {
      used[v] = cur[v];
    }
  }
  if (options.keepWidths)
    for (NodeId n = 0; n < graph.numNodes(); ++n)
      if (info.bounded[graph.node(n).results[0]])
        result.widths.push_back(widthOf(n, cur[graph.node(n).results[0]]));
  if (options.keepIntermediate)
    for (NodeId n = 0; n < graph.numNodes(); ++n)
      if (hasRelaxation(graph.node(n).op) && info.bounded[graph.node(n).operands[0]])
        result.intermediate.push_back({n, used[graph.node(n).operands[0]].lo, used[graph.node(n).operands[0]].hi});

  // Final pass: rows [I; -I] for the outputs, then the spec's [C; -C].
  ValueId out = info.output;
  SpecRows rows;
  if (spec)
    rows = specRows(*spec, cur[out], box);
  std::size_t m = spec ? spec->numRows() : 0;
  Interval outputs = cur[out];
  std::vector<double> rowLower(m, -kInf), rowUpper(m, kInf);
  auto takeRows = [&](const std::vector<double> &lower) {
    for (std::size_t r = 0; r < m; ++r) {
      rowLower[r] = std::max(rowLower[r], lower[r]);
      rowUpper[r] = std::min(rowUpper[r], -lower[m + r]);
    }
  };
  if (crown) {
    BackwardInputs in{info, box, used, cur, nullptr, deadline, &lines};
    Interval c = fromRows(backward(in, out, 2 * nOut, nullptr, nullptr, std::vector<double>(2 * nOut, 0.0)), nOut);
    outputs = options.intersectIbp ? intersect(cur[out], c) : c;
    if (spec)
      takeRows(backward(in, out, 2 * m, &rows.out, rows.in.empty() ? nullptr : &rows.in, rows.constants));
  }
  if (spec && (!crown || options.intersectIbp)) {
    std::vector<bool> cut(numValues, false);
    for (NodeId n = 0; n < graph.numNodes(); ++n) {
      ValueId v = graph.node(n).results[0];
      cut[v] = info.bounded[v] && graph.node(n).op != Op::Input && !foldsSpec(info, n);
    }
    BackwardInputs in{info, box, cur, cur, &cut, deadline};
    takeRows(backward(in, out, 2 * m, &rows.out, rows.in.empty() ? nullptr : &rows.in, rows.constants));
  }
  result.lower = outputs.lo;
  result.upper = outputs.hi;
  result.rowLower = rowLower;
  result.rowUpper = rowUpper;
  return result;
}

} // namespace gm::bounds
