// The shrinker: greedy delta debugging on a failing case. Each candidate is a
// smaller or simpler case; it is kept when the same method still fails it the
// same way (an exception stays an exception, a NaN bound a NaN bound, a point
// outside its bounds a point outside its bounds), and the search restarts from
// the first kind of edit. The failing point is checked first, so a candidate
// that still fails there costs one bound computation and one evaluation.
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "test/fuzz/graph_edit.h"
#include "test/fuzz/soundness_fuzz.h"

#include <algorithm>
#include <cmath>

namespace gm::fuzz {

namespace {

using bounds::Method;

bool atPoint(Violation::Kind k) { return k == Violation::Kind::Output || k == Violation::Kind::Row; }

class Shrinker {
public:
  Shrinker(const Case &c, Method method, const Violation &v, const CheckOptions &checkOptions,
           const ShrinkOptions &options)
      : best_(c), violation_(v), method_(method), checkOptions_(checkOptions), options_(options),
        deadline_(std::chrono::steady_clock::now() + options.timeLimit) {}

  std::pair<Case, Violation> run() {
    while (budgetLeft() && (outputs() || bypass() || dropOperands() || freeze() || box() || weights() || spec() || flags()))
      ;
    return {std::move(best_), std::move(violation_)};
  }

private:
  Case best_;
  Violation violation_;
  Method method_;
  const CheckOptions &checkOptions_;
  const ShrinkOptions &options_;
  std::chrono::steady_clock::time_point deadline_;
  std::size_t checks_ = 0;

  bool budgetLeft() const { return checks_ < options_.maxChecks && std::chrono::steady_clock::now() < deadline_; }

  // The point the failure is about; for exceptions and NaN bounds, the centre.
  std::vector<double> point() const {
    if (atPoint(violation_.kind))
      return violation_.point;
    std::vector<double> c(best_.box.lower.size());
    for (std::size_t i = 0; i < c.size(); ++i)
      c[i] = 0.5 * best_.box.lower[i] + 0.5 * best_.box.upper[i];
    return c;
  }

  bool attempt(Case candidate) {
    if (!budgetLeft())
      return false;
    ++checks_;
    if (violation_.kind == Violation::Kind::Crash) {
      std::optional<Violation> v = crashes(candidate, method_, checkOptions_);
      if (!v)
        return false;
      best_ = std::move(candidate);
      violation_ = *v;
      return true;
    }
    CheckOptions o = checkOptions_;
    if (atPoint(violation_.kind))
      o.extraPoints = {violation_.point};
    Method methods[] = {method_};
    CheckReport r;
    try {
      r = check(candidate, methods, o);
    } catch (const InputError &) {
      return false; // an edit the oracle cannot evaluate
    }
    const MethodResult &m = r.methods[0];
    if (m.outcome != Outcome::Failed)
      return false;
    Violation::Kind k = m.violation->kind, want = violation_.kind;
    if (k != want && !(atPoint(k) && atPoint(want)))
      return false;
    best_ = std::move(candidate);
    violation_ = *m.violation;
    return true;
  }

  bool tryEdit(const Edit &edit, bool keepSpec) {
    Case c;
    try {
      c.graph = applyEdit(best_.graph, edit);
    } catch (const InputError &) {
      return false;
    }
    c.seed = best_.seed;
    c.intersectIbp = best_.intersectIbp;
    c.box = best_.box;
    c.tags = best_.tags;
    if (keepSpec && c.graph.type(c.graph.outputs()[0]).numElements() ==
                        best_.graph.type(best_.graph.outputs()[0]).numElements())
      c.spec = best_.spec;
    return attempt(std::move(c));
  }

  ValueId output() const { return best_.graph.outputs()[0]; }

  // (a) The output becomes an earlier value, earliest first.
  bool outputs() {
    std::vector<bool> constant = constantValues(best_.graph);
    std::int64_t outCount = best_.graph.type(output()).numElements();
    for (ValueId v = 0; v < output(); ++v) {
      if (constant[v])
        continue;
      Edit e;
      e.output = v;
      bool keepSpec = best_.graph.type(v).numElements() == outCount;
      if (tryEdit(e, keepSpec))
        return true;
      if (keepSpec && best_.spec && tryEdit(e, false))
        return true;
    }
    return false;
  }

  // (a') A node is bypassed: its users read one of its operands (or the
  // input) of the same type.
  bool bypass() {
    const Graph &g = best_.graph;
    for (NodeId id = NodeId(g.numNodes()); id-- > 0;) {
      const Node &n = g.node(id);
      if (n.op == Op::Input || n.op == Op::Const)
        continue;
      ValueId r = n.results[0];
      std::vector<ValueId> candidates = n.operands;
      candidates.push_back(g.inputs()[0]);
      for (ValueId u : candidates)
        if (u != r && g.type(u) == g.type(r)) {
          Edit e;
          e.reroute[r] = u;
          if (tryEdit(e, true))
            return true;
        }
    }
    return false;
  }

  // (a'') A concat loses one operand.
  bool dropOperands() {
    const Graph &g = best_.graph;
    for (NodeId id = 0; id < g.numNodes(); ++id) {
      const Node &n = g.node(id);
      if (n.op != Op::Concat || n.operands.size() < 2)
        continue;
      for (std::size_t i = 0; i < n.operands.size(); ++i) {
        Edit e;
        e.operands[id] = n.operands;
        e.operands[id].erase(e.operands[id].begin() + std::ptrdiff_t(i));
        if (tryEdit(e, true) || (best_.spec && tryEdit(e, false)))
          return true;
      }
    }
    return false;
  }

  // (b) A value is frozen to a constant: its value at the failing point.
  bool freeze() {
    const Graph &g = best_.graph;
    std::vector<bool> constant = constantValues(g);
    std::vector<double> x = point();
    ref::Tensor in{g.type(g.inputs()[0]).shape, x};
    for (NodeId id = 0; id < g.numNodes(); ++id) {
      const Node &n = g.node(id);
      ValueId r = n.results[0];
      if (n.op == Op::Input || n.op == Op::Const || constant[r] || r == output())
        continue;
      Graph probe = g;
      probe.setOutputs({r});
      std::vector<double> value;
      try {
        value = ref::evaluate(probe, std::span(&in, 1))[0].data;
      } catch (const InputError &) {
        continue;
      }
      Edit e;
      e.freeze[r] = Constant::fromDoubles(g.type(r), value);
      if (tryEdit(e, true))
        return true;
    }
    return false;
  }

  // (c) The box shrinks toward the failing point: all at once, then halved,
  // then one coordinate at a time.
  bool box() {
    std::vector<double> x = point();
    const bounds::Box &b = best_.box;
    auto withBox = [&](bounds::Box nb) {
      Case c = best_;
      c.box = std::move(nb);
      return attempt(std::move(c));
    };
    bool wide = false;
    for (std::size_t i = 0; i < x.size(); ++i)
      wide = wide || b.upper[i] > b.lower[i];
    if (!wide)
      return false;
    if (withBox({x, x}))
      return true;
    bounds::Box half = b;
    for (std::size_t i = 0; i < x.size(); ++i) {
      half.lower[i] = x[i] - 0.5 * (x[i] - b.lower[i]);
      half.upper[i] = x[i] + 0.5 * (b.upper[i] - x[i]);
    }
    if (half.lower != b.lower || half.upper != b.upper) {
      if (withBox(half))
        return true;
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (b.upper[i] == b.lower[i])
        continue;
      bounds::Box nb = b;
      nb.lower[i] = nb.upper[i] = x[i];
      if (withBox(nb))
        return true;
    }
    return false;
  }

  // (d) Weights get simpler: zero, rounded, one element zeroed.
  bool weights() {
    const Graph &g = best_.graph;
    for (NodeId id = 0; id < g.numNodes(); ++id) {
      const Node &n = g.node(id);
      if (n.op != Op::Const || !isFloat(n.constant->type().dtype))
        continue;
      std::vector<double> w = n.constant->toDoubles();
      std::vector<std::vector<double>> variants;
      variants.push_back(std::vector<double>(w.size(), 0.0));
      for (double scale : {1.0, 10.0, 100.0}) {
        std::vector<double> r = w;
        for (double &v : r)
          v = std::round(v * scale) / scale;
        variants.push_back(std::move(r));
      }
      if (w.size() <= 64)
        for (std::size_t i = 0; i < w.size(); ++i) {
          std::vector<double> z = w;
          z[i] = 0;
          variants.push_back(std::move(z));
        }
      for (auto &v : variants) {
        std::shared_ptr<const Constant> replacement = Constant::fromDoubles(n.constant->type(), v);
        if (replacement->hash() == n.constant->hash())
          continue;
        Edit e;
        e.payload[id] = replacement;
        if (tryEdit(e, true))
          return true;
      }
    }
    return false;
  }

  // Options: intersectIbp off.
  bool flags() {
    if (!best_.intersectIbp)
      return false;
    Case c = best_;
    c.intersectIbp = false;
    return attempt(std::move(c));
  }

  // Spec rows: dropped, reduced to the failing row, without input terms, rounded.
  bool spec() {
    if (!best_.spec)
      return false;
    const bounds::Spec &s = *best_.spec;
    auto withSpec = [&](std::optional<bounds::Spec> ns) {
      Case c = best_;
      c.spec = std::move(ns);
      return attempt(std::move(c));
    };
    if (violation_.kind != Violation::Kind::Row && withSpec(std::nullopt))
      return true;
    if (violation_.kind == Violation::Kind::Row && s.numRows() > 1) {
      std::size_t r = violation_.index;
      bounds::Spec one = s;
      one.outputCoeffs.assign(s.outputCoeffs.begin() + r * s.numOutputs, s.outputCoeffs.begin() + (r + 1) * s.numOutputs);
      if (!s.inputCoeffs.empty())
        one.inputCoeffs.assign(s.inputCoeffs.begin() + r * s.numInputs, s.inputCoeffs.begin() + (r + 1) * s.numInputs);
      one.constants = {s.constants[r]};
      if (withSpec(one))
        return true;
    }
    if (s.numRows() > 1)
      for (std::size_t r = 0; r < s.numRows(); ++r) {
        if (violation_.kind == Violation::Kind::Row && r == violation_.index)
          continue;
        bounds::Spec ns = s;
        auto rowOf = [&](std::vector<double> &v, std::size_t width) {
          v.erase(v.begin() + std::ptrdiff_t(r * width), v.begin() + std::ptrdiff_t((r + 1) * width));
        };
        rowOf(ns.outputCoeffs, s.numOutputs);
        if (!ns.inputCoeffs.empty())
          rowOf(ns.inputCoeffs, s.numInputs);
        rowOf(ns.constants, 1);
        if (withSpec(ns)) // a Row violation's index may move; any row failing is the same kind
          return true;
      }
    if (std::any_of(s.constants.begin(), s.constants.end(), [](double d) { return d != 0; })) {
      bounds::Spec ns = s;
      std::fill(ns.constants.begin(), ns.constants.end(), 0.0);
      if (withSpec(ns))
        return true;
    }
    if (!s.inputCoeffs.empty()) {
      bounds::Spec ns = s;
      ns.inputCoeffs.clear();
      if (withSpec(ns))
        return true;
    }
    if (s.outputCoeffs.size() <= 64)
      for (std::size_t i = 0; i < s.outputCoeffs.size(); ++i)
        if (s.outputCoeffs[i] != 0) {
          bounds::Spec ns = s;
          ns.outputCoeffs[i] = 0;
          if (withSpec(ns))
            return true;
        }
    for (double scale : {1.0, 10.0}) {
      bounds::Spec ns = s;
      for (auto *v : {&ns.outputCoeffs, &ns.inputCoeffs, &ns.constants})
        for (double &x : *v)
          x = std::round(x * scale) / scale;
      if (ns.outputCoeffs != s.outputCoeffs || ns.inputCoeffs != s.inputCoeffs || ns.constants != s.constants)
        if (withSpec(ns))
          return true;
    }
    return false;
  }
};

} // namespace

std::pair<Case, Violation> shrink(const Case &c, Method method, const Violation &violation,
                                  const CheckOptions &checkOptions, const ShrinkOptions &options) {
  return Shrinker(c, method, violation, checkOptions, options).run();
}

} // namespace gm::fuzz
