// lower-bounds: a network graph and a bound method become a bound program
// (docs/IR.md, "Bound programs"): the same rules and error terms as the direct
// methods in bounds/ (the dense-chain form of dense_chain.cpp), spelled as ops
// so that passes can fuse and plan them and codegen can compile them.
//
// Covered here: feed-forward networks — an elementwise affine prefix with
// constant operands (normalisation), reshapes, dense layers (matmul with a
// constant weight, an optional constant bias), relu (sigmoid and tanh under
// IBP). Any other network goes to lower_graph.cpp, op by op; what neither can
// bound is an error naming the node; nothing passes through unbounded.
//
// The program's inputs are the box ("box.lo", "box.hi", flat f64) and, with
// specRows > 0, the spec rows ("spec.C" [R, outputs], "spec.d" [R]); its
// outputs are the output interval and, with a spec, the rows' interval.
// The unfused form is emitted (split_sign before every pos/neg product);
// fuse-pos-neg and fuse-mul-add tidy it up.
#include "ir/error.h"
#include "passes/lowering.h"
#include "passes/pass.h"

#include <array>
#include <optional>

namespace gm {

namespace {

enum class Method { Ibp, Crown, CrownIbp };

struct Iv {
  ValueId lo = kNoValue, hi = kNoValue;
};

struct Rows {
  ValueId A = kNoValue, c = kNoValue;
};

// One dense layer z = W h + b, act(z).
struct Layer {
  ValueId W = kNoValue, b = kNoValue; // bound-program values; W is [out, in]
  Iv in;                              // the interval of h below
  Iv z;                               // best known interval of z
  Iv used;                            // what the relaxation was built from
  std::optional<std::array<ValueId, 4>> lines;
  bool act = false;
};

// Where a network value sits in the chain.
struct Place {
  enum Kind { None, Prefix, Z, H, Other } kind = None;
  int layer = -1;
};

class Lowering {
public:
  Lowering(const Graph &net, Method method, std::int64_t specRows)
      : net_(net), method_(method), specRows_(specRows), copied_(net.numValues(), kNoValue),
        iv_(net.numValues()), place_(net.numValues()), bounded_(net.numValues(), false) {}

  Graph run() {
    bp_.name = net_.name;
    std::vector<ValueId> inputs = net_.inputs();
    if (inputs.size() != 1 || net_.outputs().size() != 1)
      fail("lower-bounds", "the network must have one input and one output (has {} and {})", inputs.size(),
           net_.outputs().size());
    std::vector<std::size_t> users(net_.numValues(), 0);
    for (const Node &node : net_.nodes())
      for (ValueId v : node.operands)
        ++users[v];
    for (NodeId id = 0; id < net_.numNodes(); ++id) {
      const Node &node = net_.node(id);
      bool bounded = node.op == Op::Input;
      for (ValueId v : node.operands)
        bounded = bounded || bounded_[v];
      if (!bounded)
        continue;
      for (ValueId v : node.results)
        bounded_[v] = true;
      if (method_ != Method::Ibp)
        for (ValueId v : node.operands)
          if (bounded_[v] && users[v] > 1)
            refuse(id, "a value read twice (not a chain) under CROWN");
      lowerNode(id);
    }
    finish(net_.outputs()[0]);
    return std::move(bp_);
  }

private:
  const Graph &net_;
  Method method_;
  std::int64_t specRows_;
  Graph bp_;
  std::vector<ValueId> copied_; // network constant -> program value
  std::vector<Iv> iv_;
  std::vector<Place> place_;
  std::vector<bool> bounded_;
  std::vector<Layer> layers_;

  bool crown() const { return method_ != Method::Ibp; }

  [[noreturn]] void refuse(NodeId id, const std::string &why) {
    fail(net_.describe(id), "lower-bounds: {}", why);
  }

  ValueId constant(ValueId v) { return copyConstant(net_, bp_, v, copied_); }

  ValueId scalar(double value) {
    std::vector<double> one{value};
    return bp_.addConst(Constant::fromDoubles(TensorType{DType::F64, Shape{1}}, one));
  }

  Iv interval(Op op, std::vector<ValueId> operands, const std::string &name, Attrs attrs = {}) {
    std::vector<ValueId> r = bp_.add(op, std::move(operands), std::move(attrs), name);
    return {r[0], r[1]};
  }

  // The constant operand of an elementwise op on a bounded value.
  ValueId stepOperand(NodeId id, ValueId c, ValueId x) {
    std::int64_t n = net_.type(c).numElements();
    if (n != 1 && n != net_.type(x).numElements())
      refuse(id, "a constant operand that broadcasts to a larger shape is not lowered yet");
    if (net_.type(net_.node(id).results[0]).numElements() != net_.type(x).numElements())
      refuse(id, "an elementwise op that grows its bounded operand is not lowered yet");
    return constant(c);
  }

  void lowerNode(NodeId id) {
    const Node &node = net_.node(id);
    ValueId y = node.results[0];
    switch (node.op) {
    case Op::Input: {
      std::int64_t n = net_.type(y).numElements();
      TensorType t{DType::F64, Shape{n}};
      iv_[y] = {bp_.addInput("box.lo", t, "box.lo"), bp_.addInput("box.hi", t, "box.hi")};
      place_[y] = {Place::Prefix, -1};
      return;
    }
    case Op::Reshape:
      iv_[y] = iv_[node.operands[0]];
      place_[y] = place_[node.operands[0]];
      return;
    case Op::MatMul:
      return matmul(id);
    case Op::Add:
    case Op::Sub:
    case Op::Mul:
    case Op::Div:
    case Op::Neg:
      return elementwise(id);
    case Op::Relu:
    case Op::Sigmoid:
    case Op::Tanh:
      return activation(id);
    default:
      refuse(id, fmt::format("op {} not lowered yet", opKeyword(node.op)));
    }
  }

  void elementwise(NodeId id) {
    const Node &node = net_.node(id);
    ValueId y = node.results[0];
    bool first = node.operands.size() == 1 || bounded_[node.operands[0]];
    if (node.operands.size() == 2 && bounded_[node.operands[0]] && bounded_[node.operands[1]])
      refuse(id, fmt::format("{} of two bounded values not lowered yet", opKeyword(node.op)));
    ValueId x = first ? node.operands[0] : node.operands[1];
    Place at = place_[x];
    Iv in = iv_[x];
    // A bias: add or subtract a constant right after a layer's product.
    bool bias = at.kind == Place::Z && layers_[at.layer].b == kNoValue && !layers_[at.layer].act &&
                (node.op == Op::Add || (node.op == Op::Sub && first));
    if (at.kind != Place::Prefix && !bias) {
      if (crown())
        refuse(id, fmt::format("{} between dense layers not lowered yet for CROWN", opKeyword(node.op)));
      at = {Place::Other, -1};
    }
    ValueId c = node.operands.size() == 2 ? stepOperand(id, first ? node.operands[1] : node.operands[0], x) : kNoValue;
    Iv out;
    switch (node.op) {
    case Op::Add:
      out = interval(Op::IbpAdd, {in.lo, in.hi, c}, node.name);
      break;
    case Op::Sub: {
      if (first) {
        c = bp_.add1(Op::Neg, {c});
        out = interval(Op::IbpAdd, {in.lo, in.hi, c}, node.name);
      } else {
        Iv neg = interval(Op::IbpMul, {in.lo, in.hi, scalar(-1)}, node.name);
        out = interval(Op::IbpAdd, {neg.lo, neg.hi, c}, node.name);
      }
      break;
    }
    case Op::Mul:
      out = interval(Op::IbpMul, {in.lo, in.hi, c}, node.name);
      break;
    case Op::Div:
      if (!first)
        refuse(id, "division by a bounded value not lowered yet");
      out = interval(Op::IbpDiv, {in.lo, in.hi, c}, node.name);
      break;
    case Op::Neg:
      out = interval(Op::IbpMul, {in.lo, in.hi, scalar(-1)}, node.name);
      break;
    default:
      refuse(id, "not an elementwise affine op");
    }
    iv_[y] = out;
    place_[y] = at;
    if (bias) {
      layers_[at.layer].b = c;
      layers_[at.layer].z = out;
    }
  }

  void matmul(NodeId id) {
    const Node &node = net_.node(id);
    ValueId x = node.operands[0], w = node.operands[1], y = node.results[0];
    if (bounded_[w])
      refuse(id, "matmul with a bounded right operand not lowered yet");
    const TensorType &wt = net_.type(w);
    if (wt.rank() != 2 || net_.type(x).numElements() != wt.shape[0])
      refuse(id, "only a dense layer (one row times a 2-D constant weight) is lowered");
    if (crown() && place_[x].kind != Place::Prefix && place_[x].kind != Place::H &&
        !(place_[x].kind == Place::Z && place_[x].layer == static_cast<int>(layers_.size()) - 1))
      refuse(id, "matmul after an op that is not lowered for CROWN");
    // The program's products take W as [out, in]: a transposed constant is
    // used as stored (its file reference stays), anything else is transposed.
    ValueId W;
    const Node &def = net_.definingNode(w);
    if (def.op == Op::Transpose && def.attrs.getInts("perm") == std::vector<std::int64_t>{1, 0})
      W = constant(def.operands[0]);
    else
      W = bp_.add1(Op::Transpose, {constant(w)}, [] {
        Attrs a;
        a.set("perm", std::vector<std::int64_t>{1, 0});
        return a;
      }());
    Layer layer;
    layer.W = W;
    layer.in = iv_[x];
    std::vector<ValueId> split = bp_.add(Op::SplitSign, {W}, {}, node.name);
    layer.z = interval(Op::IbpMatMul, {split[0], split[1], layer.in.lo, layer.in.hi}, node.name);
    layers_.push_back(layer);
    iv_[y] = layer.z;
    place_[y] = {Place::Z, static_cast<int>(layers_.size()) - 1};
  }

  void activation(NodeId id) {
    const Node &node = net_.node(id);
    ValueId x = node.operands[0], y = node.results[0];
    Place at = place_[x];
    bool layerOutput = at.kind == Place::Z && !layers_[at.layer].act;
    if (crown() && (node.op != Op::Relu || !layerOutput))
      refuse(id, node.op != Op::Relu ? fmt::format("{} not lowered yet for CROWN", opKeyword(node.op))
                                     : std::string("relu that does not follow a dense layer not lowered yet for CROWN"));
    Iv z = iv_[x];
    if (layerOutput && crown()) {
      Layer &layer = layers_[at.layer];
      layer.used = z;
      if (method_ == Method::Crown && at.layer > 0) {
        std::string name = node.name.empty() ? "" : node.name + ".bounds";
        Rows rows = rowsOf(bp_.add(Op::LbIdentity, {}, sizeAttr(net_.type(x).numElements()), name));
        ValueId lower = back(rows, at.layer, /*onZ=*/true, name, /*settle=*/true);
        Iv c = interval(Op::LbInterval, {lower}, name);
        layer.used = c;
        z = interval(Op::IbpIntersect, {z.lo, z.hi, c.lo, c.hi}, name);
      }
      layer.z = z;
      Attrs fn;
      fn.set("fn", std::string("relu"));
      std::vector<ValueId> l = bp_.add(Op::Relax, {layer.used.lo, layer.used.hi}, fn, node.name);
      layer.lines = std::array<ValueId, 4>{l[0], l[1], l[2], l[3]};
    }
    if (node.op == Op::Relu) {
      iv_[y] = interval(Op::IbpRelu, {z.lo, z.hi}, node.name);
    } else {
      Attrs fn;
      fn.set("fn", std::string(opKeyword(node.op)));
      iv_[y] = interval(Op::IbpAct, {z.lo, z.hi}, node.name, fn);
    }
    if (layerOutput) {
      layers_[at.layer].act = true;
      place_[y] = {Place::H, at.layer};
    } else {
      place_[y] = {at.kind == Place::Prefix ? Place::Prefix : Place::Other, -1};
      if (at.kind == Place::Prefix)
        place_[y].kind = Place::Other; // not affine: the prefix ends here
    }
  }

  static Attrs sizeAttr(std::int64_t n) {
    Attrs a;
    a.set("size", n);
    return a;
  }
  static Rows rowsOf(const std::vector<ValueId> &r) { return {r[0], r[1]}; }

  // Rows on z_i (onZ) or h_i, propagated down to the first layer's input and
  // concretised there: the lower bound of every row. `settle`: the rows are
  // [I; -I] on a ReLU's input, and pairs that z_0's interval proves stable
  // skip the widest product (lb.settle, dense_chain.cpp's settling).
  ValueId back(Rows rows, int i, bool onZ, const std::string &name, bool settle = false) {
    for (;; --i) {
      Layer &layer = layers_[i];
      if (!onZ && layer.act) {
        const auto &l = *layer.lines;
        std::vector<ValueId> s = bp_.add(Op::SplitSign, {rows.A}, {}, name);
        rows = rowsOf(bp_.add(Op::LbRelax, {s[0], s[1], rows.c, l[0], l[1], l[2], l[3], layer.z.lo, layer.z.hi}, {},
                              name));
      }
      if (i == 0 && settle) {
        std::vector<ValueId> ops{rows.A, rows.c, layer.z.lo, layer.z.hi, layer.W, layer.in.lo, layer.in.hi};
        if (layer.b != kNoValue)
          ops.push_back(layer.b);
        return bp_.add1(Op::LbSettle, ops, {}, name);
      }
      std::vector<ValueId> ops{rows.A, rows.c, layer.W, layer.in.lo, layer.in.hi};
      if (layer.b != kNoValue)
        ops.push_back(layer.b);
      rows = rowsOf(bp_.add(Op::LbAffine, ops, {}, name));
      onZ = false;
      if (i == 0)
        break;
    }
    return concretize(rows, layers_[0].in, name);
  }

  ValueId concretize(Rows rows, Iv against, const std::string &name) {
    std::vector<ValueId> s = bp_.add(Op::SplitSign, {rows.A}, {}, name);
    return bp_.add1(Op::LbConcretize, {s[0], s[1], rows.c, against.lo, against.hi}, {}, name);
  }

  void finish(ValueId out) {
    Place at = place_[out];
    Iv y = iv_[out];
    std::int64_t n = net_.type(out).numElements();
    std::vector<ValueId> outputs;
    bool chainEnd = (at.kind == Place::Z || at.kind == Place::H) && at.layer == static_cast<int>(layers_.size()) - 1;
    if (crown() && !chainEnd)
      fail("lower-bounds", "CROWN needs the network output to be a dense layer's (or its activation's)");
    Iv outputsIv = y;
    if (crown()) {
      Rows rows = rowsOf(bp_.add(Op::LbIdentity, {}, sizeAttr(n), "output"));
      outputsIv = interval(Op::LbInterval, {back(rows, at.layer, at.kind == Place::Z, "output")}, "output");
    }
    outputs = {outputsIv.lo, outputsIv.hi};
    if (specRows_ > 0) {
      ValueId C = bp_.addInput("spec.C", TensorType{DType::F64, Shape{specRows_, n}}, "spec.C");
      ValueId d = bp_.addInput("spec.d", TensorType{DType::F64, Shape{specRows_}}, "spec.d");
      Rows rows = rowsOf(bp_.add(Op::SpecRows, {C, d, y.lo, y.hi}, {}, "spec"));
      ValueId lower;
      if (crown())
        lower = back(rows, at.layer, at.kind == Place::Z, "spec");
      else if (at.kind == Place::Z) { // IBP: the rows folded into the last dense layer
        const Layer &layer = layers_[at.layer];
        std::vector<ValueId> ops{rows.A, rows.c, layer.W, layer.in.lo, layer.in.hi};
        if (layer.b != kNoValue)
          ops.push_back(layer.b);
        lower = concretize(rowsOf(bp_.add(Op::LbAffine, ops, {}, "spec")), layer.in, "spec");
      } else {
        lower = concretize(rows, y, "spec");
      }
      Iv r = interval(Op::LbInterval, {lower}, "spec");
      outputs.push_back(r.lo);
      outputs.push_back(r.hi);
    }
    bp_.setOutputs(outputs);
  }
};

} // namespace

bool lowerBounds(Graph &graph, const PassOptions &options) {
  if (isBoundProgram(graph))
    return false;
  Method method;
  if (options.boundMethod == "ibp")
    method = Method::Ibp;
  else if (options.boundMethod == "crown")
    method = Method::Crown;
  else if (options.boundMethod == "crown-ibp")
    method = Method::CrownIbp;
  else
    fail("lower-bounds", "unknown method '{}' (ibp, crown, crown-ibp)", options.boundMethod);
  if (options.specRows < 0)
    fail("lower-bounds", "negative spec row count {}", options.specRows);
  // Dense chains get the fused, compilable form; a network that is not one
  // gets the op-by-op form (lower_graph.cpp), which says what it cannot bound.
  try {
    graph = Lowering(graph, method, options.specRows).run();
  } catch (const InputError &) {
    graph = lowerGraph(graph, options.boundMethod, options.specRows);
  }
  return true;
}

bool isBoundProgram(const Graph &graph) {
  for (const Node &node : graph.nodes())
    if (hasTrait(node.op, OpTrait::Bound))
      return true;
  return false;
}

} // namespace gm
