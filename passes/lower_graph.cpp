// lower-bounds for any network the direct methods bound (lower_bounds.cpp
// takes dense chains, into ops that fuse and compile; this takes the rest):
// every node becomes an ibp.node applying the op's own IBP rule, and each
// CROWN backward pass a run of lb.node steps, merged with lb.merge where a
// value has several users. The schedule is bounds/compute.cpp's, step for
// step — which values get intermediate bounds, which nodes IBP-with-spec
// folds — so a program computes the numbers the direct DAG engine computes.
#include "bounds/bounds.h"
#include "bounds/engine.h"
#include "ir/error.h"
#include "passes/lowering.h"

#include <fmt/format.h>

#include <map>

namespace gm {

namespace {

struct Iv {
  ValueId lo = kNoValue, hi = kNoValue;
  bool empty() const { return lo == kNoValue; }
};

class GraphLowering {
public:
  GraphLowering(const Graph &net, bounds::Method method, std::int64_t specRows)
      : net_(net), info_(net), method_(method), specRows_(specRows), copied_(net.numValues(), kNoValue),
        cur_(net.numValues()), used_(net.numValues()), needed_(net.numValues(), false) {}

  Graph run() {
    bounds::checkSupported(net_, method_);
    bp_.name = net_.name;
    for (const Node &node : net_.nodes())
      for (ValueId v : bounds::relaxedOperands(info_, node))
        needed_[v] = true;
    for (NodeId id = 0; id < net_.numNodes(); ++id) {
      const Node &node = net_.node(id);
      ValueId v = node.results[0];
      if (!info_.bounded[v])
        continue;
      cur_[v] = node.op == Op::Input ? input(v) : ibp(id);
      if (!needed_[v])
        continue;
      if (method_ == bounds::Method::Crown && node.op != Op::Input) {
        std::string name = node.name.empty() ? "" : node.name + ".bounds";
        std::vector<ValueId> rows = bp_.add(Op::LbIdentity, {}, sizeAttr(size(v)), name);
        Iv c = shaped(interval(Op::LbInterval, {back(v, rows[0], rows[1], nullptr, name)}, name), v);
        used_[v] = c;
        cur_[v] = interval(Op::IbpIntersect, {cur_[v].lo, cur_[v].hi, c.lo, c.hi}, name);
      } else {
        used_[v] = cur_[v];
      }
    }
    finish();
    return std::move(bp_);
  }

private:
  const Graph &net_;
  bounds::GraphInfo info_;
  bounds::Method method_;
  std::int64_t specRows_;
  Graph bp_;
  std::vector<ValueId> copied_; // network constant -> program value
  std::vector<Iv> cur_;         // best interval (IBP, intersected with CROWN)
  std::vector<Iv> used_;        // what relaxations read (compute.cpp's `used`)
  std::vector<bool> needed_;
  Iv box_;                      // flat

  bool crown() const { return method_ != bounds::Method::Ibp; }
  std::int64_t size(ValueId v) const { return net_.type(v).numElements(); }

  static Attrs sizeAttr(std::int64_t n) {
    Attrs a;
    a.set("size", n);
    return a;
  }

  Iv interval(Op op, std::vector<ValueId> operands, const std::string &name, Attrs attrs = {}) {
    std::vector<ValueId> r = bp_.add(op, std::move(operands), std::move(attrs), name);
    return {r[0], r[1]};
  }

  ValueId reshape(ValueId x, const Shape &shape) {
    if (bp_.type(x).shape == shape)
      return x;
    Attrs a;
    a.set("shape", std::vector<std::int64_t>(shape.begin(), shape.end()));
    return bp_.add1(Op::Reshape, {x}, a);
  }
  Iv shaped(Iv iv, ValueId like) { return {reshape(iv.lo, net_.type(like).shape), reshape(iv.hi, net_.type(like).shape)}; }
  Iv flatOutput(Iv iv) {
    Shape flat{size(net_.outputs()[0])};
    return {reshape(iv.lo, flat), reshape(iv.hi, flat)};
  }

  ValueId constant(ValueId v) { return copyConstant(net_, bp_, v, copied_); }

  Iv input(ValueId v) {
    TensorType t{DType::F64, Shape{size(v)}};
    box_ = {bp_.addInput("box.lo", t, "box.lo"), bp_.addInput("box.hi", t, "box.hi")};
    return shaped(box_, v);
  }

  // The node's attributes plus op and bounded (ir/ops.def), and its bounded
  // operands' groups; `each` adds the program operands of one network operand.
  Attrs nodeAttrs(const Node &node, std::vector<ValueId> &distinct) {
    Attrs a;
    a.set("op", std::string(opKeyword(node.op)));
    std::vector<std::int64_t> group;
    for (ValueId x : node.operands) {
      if (!info_.bounded[x]) {
        group.push_back(0);
        continue;
      }
      auto at = std::find(distinct.begin(), distinct.end(), x);
      group.push_back(at - distinct.begin() + 1);
      if (at == distinct.end())
        distinct.push_back(x);
    }
    a.set("bounded", group);
    for (const auto &[name, value] : node.attrs.entries())
      a.set(name, value);
    return a;
  }

  Iv ibp(NodeId id) {
    const Node &node = net_.node(id);
    std::vector<ValueId> distinct, operands;
    Attrs a = nodeAttrs(node, distinct);
    if (node.op == Op::MatMul && info_.simplexRows[node.operands[0]])
      a.set("simplex", std::int64_t{1});
    std::vector<ValueId> seen;
    for (ValueId x : node.operands) {
      if (!info_.bounded[x]) {
        operands.push_back(constant(x));
      } else if (std::find(seen.begin(), seen.end(), x) == seen.end()) {
        seen.push_back(x);
        operands.push_back(cur_[x].lo);
        operands.push_back(cur_[x].hi);
      }
    }
    return interval(Op::IbpNode, operands, node.name, a);
  }

  ValueId concretize(ValueId A, ValueId c, Iv against, const std::string &name) {
    std::vector<ValueId> s = bp_.add(Op::SplitSign, {A}, {}, name);
    return bp_.add1(Op::LbConcretize, {s[0], s[1], c, against.lo, against.hi}, {}, name);
  }

  // One backward pass from rows (A, c) on `start` (crown.cpp's Backward::run):
  // the lower bound of every row. With `cut`, values marked there are
  // concretised against their interval instead of passed through.
  ValueId back(ValueId start, ValueId A, ValueId c, const std::vector<bool> *cut, const std::string &name) {
    std::map<ValueId, ValueId> rows{{start, A}};
    for (NodeId n = net_.value(start).def + 1; n-- > 0;) {
      const Node &node = net_.node(n);
      ValueId y = node.results[0];
      auto it = rows.find(y);
      if (it == rows.end())
        continue;
      ValueId Ay = it->second;
      rows.erase(it);
      if (node.op == Op::Input) {
        c = concretize(Ay, c, box_, name);
        continue;
      }
      if (cut && (*cut)[y]) {
        c = concretize(Ay, c, cur_[y], name);
        continue;
      }
      std::vector<ValueId> distinct, operands{Ay, c};
      Attrs a = nodeAttrs(node, distinct);
      if (distinct.size() > 2)
        fail(net_.describe(n), "lower-bounds: {} with {} distinct bounded operands is not lowered for CROWN yet",
             opKeyword(node.op), distinct.size());
      std::vector<ValueId> seen;
      for (ValueId x : node.operands) {
        if (!info_.bounded[x]) {
          operands.push_back(constant(x));
        } else if (std::find(seen.begin(), seen.end(), x) == seen.end()) {
          seen.push_back(x);
          Iv u = used_[x].empty() ? cur_[x] : used_[x];
          for (ValueId o : {u.lo, u.hi, cur_[x].lo, cur_[x].hi})
            operands.push_back(o);
        }
      }
      std::vector<ValueId> r = bp_.add(Op::LbNode, operands, a, name);
      c = r[0];
      for (std::size_t j = 0; j < distinct.size(); ++j) {
        ValueId x = distinct[j], Ax = r[1 + j];
        auto [at, fresh] = rows.try_emplace(x, Ax);
        if (!fresh) {
          std::vector<ValueId> m = bp_.add(Op::LbMerge, {at->second, Ax, c, cur_[x].lo, cur_[x].hi}, {}, name);
          at->second = m[0];
          c = m[1];
        }
      }
    }
    GAMMA_ASSERT(rows.empty(), "backward rows left on a value no node consumed");
    return c;
  }

  void finish() {
    ValueId out = net_.outputs()[0];
    std::int64_t n = size(out);
    Iv y = flatOutput(cur_[out]);
    std::vector<ValueId> outputs;
    if (crown()) {
      std::vector<ValueId> rows = bp_.add(Op::LbIdentity, {}, sizeAttr(n), "output");
      Iv c = interval(Op::LbInterval, {back(out, rows[0], rows[1], nullptr, "output")}, "output");
      outputs = {c.lo, c.hi};
    } else {
      outputs = {y.lo, y.hi};
    }
    if (specRows_ > 0) {
      ValueId C = bp_.addInput("spec.C", TensorType{DType::F64, Shape{specRows_, n}}, "spec.C");
      ValueId d = bp_.addInput("spec.d", TensorType{DType::F64, Shape{specRows_}}, "spec.d");
      std::vector<ValueId> rows = bp_.add(Op::SpecRows, {C, d, y.lo, y.hi}, {}, "spec");
      ValueId lower;
      if (crown()) {
        lower = back(out, rows[0], rows[1], nullptr, "spec");
      } else {
        std::vector<bool> cut(net_.numValues(), false);
        for (NodeId id = 0; id < net_.numNodes(); ++id) {
          ValueId v = net_.node(id).results[0];
          cut[v] = info_.bounded[v] && net_.node(id).op != Op::Input && !bounds::foldsSpec(info_, id);
        }
        lower = back(out, rows[0], rows[1], &cut, "spec");
      }
      Iv r = interval(Op::LbInterval, {lower}, "spec");
      outputs.push_back(r.lo);
      outputs.push_back(r.hi);
    }
    bp_.setOutputs(outputs);
  }
};

} // namespace

ValueId copyConstant(const Graph &net, Graph &program, ValueId v, std::vector<ValueId> &copied) {
  if (copied[v] != kNoValue)
    return copied[v];
  const Node &node = net.definingNode(v);
  if (node.op == Op::Const)
    return copied[v] = program.addConst(node.constant, node.name);
  std::vector<ValueId> operands;
  for (ValueId o : node.operands)
    operands.push_back(copyConstant(net, program, o, copied));
  std::vector<ValueId> results = program.add(node.op, operands, node.attrs, node.name);
  for (std::size_t i = 0; i < results.size(); ++i)
    copied[node.results[i]] = results[i];
  return copied[v];
}

Graph lowerGraph(const Graph &net, std::string_view method, std::int64_t specRows) {
  std::optional<bounds::Method> m = bounds::parseMethod(method);
  if (!m)
    fail("lower-bounds", "unknown method '{}' (ibp, crown, crown-ibp)", method);
  return GraphLowering(net, *m, specRows).run();
}

} // namespace gm
