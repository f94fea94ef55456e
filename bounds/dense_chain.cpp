// Bounds of dense chains (dense_chain.h): the DAG engine's rules in matrix form.
//
// The invariant and the error terms are those of crown.cpp: every row is a
// lower-bound row, and for every point of the box
//     row_r  >=  A_r · (current value) + bias_r - slack_r
// in real arithmetic, where slack_r covers every rounding so far. The
// columns of A are the live neurons of the current layer only: a neuron whose
// relaxation is 0·x + 0 (an inactive ReLU) contributes nothing, so it is
// dropped once per layer, for every later pass.
//
// Settling rows early (intermediate ReLU bounds of Method::Crown): for a ReLU
// only the sign pattern of [l, u] matters once the neuron is stable; with
// l >= 0 or u <= 0 its lines are the identity or zero whatever the exact
// values. Each pass reaches the first layer's pre-activation z_0 with all its
// rows, bounds them against z_0's interval (cheap: it is already known), and
// only the rows of neurons this does not prove stable go through the widest
// product, W_0 against the input box. Below z_0 the map is affine and z_0's
// interval is its exact image coordinate by coordinate, so the cheap bound is
// never tighter than the full one (up to rounding): a neuron it proves stable
// is stable for the textbook pass too, and gets the same lines. (Checking
// higher up would not do: there the rest of the pass still relaxes, and CROWN
// is not always tighter than an interval, so a neuron could be settled that
// the textbook pass leaves unstable.) Settled neurons keep the cheap bound,
// which is sound. With keepIntermediate or IBP intersection (where the
// interval itself feeds later layers) every row is computed in full.
#include "bounds/dense_chain.h"
#include "bounds/fp.h"
#include "bounds/relax.h"
#include "bounds/row_kernels.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

namespace gm::bounds {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Rows × columns of a pass below which threads cost more than they save.
constexpr std::size_t kParallelWork = 1 << 15;
// Neurons per block of a split pass (each brings its lower and upper row).
constexpr std::size_t kBlockNeurons = 128;

bool isActivation(Op op) { return op == Op::Relu || op == Op::Sigmoid || op == Op::Tanh; }

// The node reading v, when it is the only reader and v its only bounded operand.
std::optional<NodeId> soleUser(const GraphInfo &info, ValueId v) {
  const std::vector<NodeId> &users = info.users[v];
  if (users.size() != 1)
    return std::nullopt;
  const Node &node = info.graph.node(users[0]);
  int bounded = 0;
  for (ValueId o : node.operands)
    bounded += info.bounded[o] ? 1 : 0;
  if (bounded != 1)
    return std::nullopt;
  return users[0];
}

// y = v (op) c elementwise with a constant c, y as large as v: an affine map
// of each element on its own, so the box maps to a box exactly.
bool elementwiseAffine(const GraphInfo &info, const Node &node, ValueId v) {
  ValueId y = node.results[0];
  if (info.size(y) != info.size(v))
    return false;
  switch (node.op) {
  case Op::Reshape:
  case Op::Neg:
  case Op::Add:
  case Op::Sub:
  case Op::Mul:
    return true;
  case Op::Div:
    return node.operands[0] == v;
  default:
    return false;
  }
}

double mag(const Interval &b, std::size_t i) { return std::max(std::fabs(b.lo[i]), std::fabs(b.hi[i])); }

} // namespace

std::optional<DenseChain> matchDenseChain(const GraphInfo &info) {
  const Graph &g = info.graph;
  DenseChain chain;
  ValueId v = info.input;
  std::size_t visited = 1;
  auto next = [&]() -> const Node * {
    std::optional<NodeId> u = soleUser(info, v);
    return u ? &g.node(*u) : nullptr;
  };
  auto skipReshapes = [&] {
    while (const Node *n = next()) {
      if (n->op != Op::Reshape)
        break;
      v = n->results[0];
      ++visited;
    }
  };
  for (const Node *n = next(); n && n->op != Op::MatMul; n = next()) {
    if (!elementwiseAffine(info, *n, v))
      return std::nullopt;
    chain.prefix.push_back(g.value(n->results[0]).def);
    v = n->results[0];
    ++visited;
  }
  chain.prefixOut = v;
  while (true) {
    const Node *mm = next();
    if (!mm || mm->op != Op::MatMul || mm->operands[0] != v || !info.consts[mm->operands[1]])
      return std::nullopt;
    const ref::Tensor &w = *info.consts[mm->operands[1]];
    if (w.shape.size() < 2)
      return std::nullopt;
    for (std::size_t d = 0; d + 2 < w.shape.size(); ++d)
      if (w.shape[d] != 1)
        return std::nullopt;
    std::size_t K = static_cast<std::size_t>(w.shape[w.shape.size() - 2]);
    std::size_t N = static_cast<std::size_t>(w.shape.back());
    if (info.size(v) != K || info.size(mm->results[0]) != N)
      return std::nullopt;
    DenseLayer layer;
    layer.in = K;
    layer.out = N;
    layer.W.resize(N * K);
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < N; ++j) {
        layer.W[j * K + k] = w.data[k * N + j];
      }
    layer.b.assign(N, 0.0);
    { // a float copy when exact: IBP reads half the bytes
      layer.Wf.assign(layer.W.begin(), layer.W.end());
      for (std::size_t e = 0; e < layer.W.size(); ++e)
        if (static_cast<double>(layer.Wf[e]) != layer.W[e]) {
          layer.Wf.clear();
          break;
        }
    }
    v = mm->results[0];
    ++visited;
    skipReshapes();
    if (const Node *add = next(); add && (add->op == Op::Add || (add->op == Op::Sub && add->operands[0] == v)) &&
                                  info.size(add->results[0]) == N) {
      ValueId c = add->operands[0] == v ? add->operands[1] : add->operands[0];
      std::vector<std::int64_t> idx = broadcastIndex(info.shape(c), info.shape(add->results[0]));
      for (std::size_t j = 0; j < N; ++j) {
        double bj = info.consts[c]->data[idx[j]];
        layer.b[j] = add->op == Op::Sub ? -bj : bj;
      }
      v = add->results[0];
      ++visited;
      skipReshapes();
    }
    layer.z = v;
    if (const Node *act = next(); act && isActivation(act->op)) {
      layer.act = g.value(act->results[0]).def;
      layer.h = act->results[0];
      v = act->results[0];
      ++visited;
      skipReshapes();
    }
    bool last = info.users[v].empty();
    if (!last && layer.act == kNoNode)
      return std::nullopt; // two affine layers in a row: the DAG engine takes them
    chain.layers.push_back(std::move(layer));
    if (last)
      break;
  }
  std::size_t bounded = 0;
  for (NodeId n = 0; n < g.numNodes(); ++n)
    bounded += info.bounded[g.node(n).results[0]] ? 1 : 0;
  if (v != info.output || visited != bounded)
    return std::nullopt;
  // A single affine layer has nothing to relax; the DAG engine folds its spec
  // through the prefix, which this form does not model.
  if (chain.layers.size() == 1 && chain.layers[0].act == kNoNode)
    return std::nullopt;
  return chain;
}

bool denseChainServes(const DenseChain &, const Box &box, const Spec *spec) {
  if (spec && !spec->inputCoeffs.empty())
    return false;
  for (std::size_t i = 0; i < box.lower.size(); ++i)
    if (!std::isfinite(box.lower[i]) || !std::isfinite(box.upper[i]))
      return false;
  return true;
}

namespace {

// One layer's state during a computeBounds call. "Live" neurons are those whose
// activation is not identically zero (all of them without an activation or
// without relaxation lines yet).
struct LayerState {
  Interval zIbp, zCur, zUsed, hCur; // zCur: best known; zUsed: what the relaxation was built from
  Lines lines;
  bool relaxed = false;
  std::vector<std::size_t> live;
  std::vector<double> kl, bl, ku, bu, magZ; // over live neurons
  std::vector<double> v;                    // error weights over all neurons: sum_k |W_jk| mag(h_in, k)
  std::vector<double> bLive, vLive;         // b and v over live neurons
  // W over the live neurons of the layer below (out × m_in), and over the
  // live neurons of this layer too (m × m_in); they point into W or the store.
  const double *Wcols = nullptr, *Wc = nullptr;
  std::vector<double> colsStore, liveStore;
};

// std::allocator without value-initialisation: coefficient buffers are
// written in full before they are read, so resizing them need not zero them.
template <class T> struct NoInit : std::allocator<T> {
  template <class U> struct rebind {
    using other = NoInit<U>;
  };
  template <class U> void construct(U *p) noexcept { ::new (static_cast<void *>(p)) U; }
  template <class U, class... Args> void construct(U *p, Args &&...args) {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
};
using Buffer = std::vector<double, NoInit<double>>;

// Rows of one backward pass: A is R × m over the live neurons of the current layer.
struct Rows {
  std::size_t R = 0, m = 0;
  Buffer A;
  std::vector<double> bias, slack;
  Buffer spare; // the next A, or a product to concretise
  std::unique_ptr<Rows> part = nullptr; // a subset of the rows (`down`), buffers kept

  Rows() = default;
  Rows(Rows &&) = default;

  void reset(std::size_t rows, std::size_t cols) {
    R = rows;
    m = cols;
    A.resize(R * m); // every entry is written by the caller
    bias.assign(R, 0.0);
    slack.assign(R, 0.0);
  }
  // bias_r += value, a sum of `terms` terms with absolute sum absSum (crown.cpp's addBias).
  void addBias(std::size_t r, double value, double absSum, std::size_t terms) {
    if (value == -kInf || std::isnan(value)) {
      bias[r] = -kInf;
      return;
    }
    if (terms)
      slack[r] += fp::sumError(terms, absSum);
    bias[r] += value;
    slack[r] += std::fabs(bias[r]) * 0x1p-52;
  }
  double lower(std::size_t r) const { return fp::lowerOrInf(fp::nextDown(bias[r] - slack[r] * (1 + 0x1p-50))); }
};

class ChainBounds {
public:
  ChainBounds(const GraphInfo &info, const DenseChain &chain, const Box &box, const Options &options)
      : info_(info), chain_(chain), options_(options), layers_(chain.layers.size()), vals_(info.graph.numValues()) {
    if (options.threads != 1)
      pool_ = &ThreadPool::shared();
    vals_[info.input] = Interval{box.lower, box.upper};
    for (NodeId n : chain.prefix)
      vals_[info.graph.node(n).results[0]] = ibpNode(info, n, vals_);
    box0_ = vals_[chain.prefixOut];
    live0_.resize(box0_.size());
    for (std::size_t k = 0; k < live0_.size(); ++k)
      live0_[k] = k;
  }

  Result run(const Spec *spec) {
    bool crown = options_.method != Method::Ibp;
    std::size_t L = layers_.size();
    for (std::size_t i = 0; i < L; ++i) {
      checkDeadline(&options_.deadline);
      const DenseLayer &layer = chain_.layers[i];
      LayerState &s = layers_[i];
      const Interval &hIn = i == 0 ? box0_ : layers_[i - 1].hCur;
      s.zIbp = affineIbp(layer, hIn, s.v);
      gatherColumns(i);
      s.zCur = s.zIbp;
      if (layer.act == kNoNode) {
        s.hCur = s.zCur;
        setLive(i);
        continue;
      }
      if (crown) {
        if (options_.method == Method::Crown && i > 0) {
          Interval c = crownIntermediate(i);
          s.zCur = intersect(s.zIbp, c);
          s.zUsed = options_.intersectIbp ? s.zCur : c;
        } else {
          s.zUsed = s.zCur;
        }
        s.lines = relax(info_.graph.node(layer.act).op, s.zUsed.lo, s.zUsed.hi);
        s.relaxed = true;
      } else {
        s.zUsed = s.zCur;
      }
      vals_[info_.graph.node(layer.act).operands[0]] = s.zCur;
      s.hCur = ibpNode(info_, layer.act, vals_);
      setLive(i);
    }

    Result result;
    if (options_.keepWidths) // the chain's values: each layer's pre-activation and activation
      for (std::size_t i = 0; i < L; ++i) {
        const DenseLayer &layer = chain_.layers[i];
        result.widths.push_back(widthOf(info_.graph.value(layer.z).def, layers_[i].zCur));
        if (layer.act != kNoNode)
          result.widths.push_back(widthOf(layer.act, layers_[i].hCur));
      }
    if (options_.keepIntermediate)
      for (std::size_t i = 0; i < L; ++i)
        if (chain_.layers[i].act != kNoNode)
          result.intermediate.push_back({chain_.layers[i].act, layers_[i].zUsed.lo, layers_[i].zUsed.hi});

    const Interval &outIbp = layers_[L - 1].hCur;
    std::size_t nOut = outIbp.size();
    Interval outputs = outIbp;
    SpecRows rows;
    std::size_t m = spec ? spec->numRows() : 0;
    if (spec)
      rows = specRows(*spec, outIbp, Box{});
    std::vector<double> rowLower(m, -kInf), rowUpper(m, kInf);
    auto takeRows = [&](const std::vector<double> &lower) {
      for (std::size_t r = 0; r < m; ++r) {
        rowLower[r] = std::max(rowLower[r], lower[r]);
        rowUpper[r] = std::min(rowUpper[r], -lower[m + r]);
      }
    };
    if (crown) {
      std::vector<double> eye(2 * nOut * nOut, 0.0);
      for (std::size_t j = 0; j < nOut; ++j) {
        eye[j * nOut + j] = 1;
        eye[(nOut + j) * nOut + j] = -1;
      }
      Interval c = fromRows(crownFromOutput(eye, std::vector<double>(2 * nOut, 0.0)), nOut);
      outputs = options_.intersectIbp ? intersect(outIbp, c) : c;
      if (spec)
        takeRows(crownFromOutput(rows.out, rows.constants));
    }
    if (spec && (!crown || options_.intersectIbp))
      takeRows(ibpFolded(rows.out, rows.constants));
    result.lower = outputs.lo;
    result.upper = outputs.hi;
    result.rowLower = rowLower;
    result.rowUpper = rowUpper;
    return result;
  }

private:
  const GraphInfo &info_;
  const DenseChain &chain_;
  const Options &options_;
  ThreadPool *pool_ = nullptr; // null: serial
  std::vector<LayerState> layers_;
  std::vector<Interval> vals_; // per value, for ibpNode on the prefix and the activations
  Interval box0_;              // the box after the prefix: the first layer's input
  std::vector<std::size_t> live0_;
  Rows rows_;
  std::vector<Rows> blocks_; // one per task of a parallel pass

  const std::vector<std::size_t> &liveBelow(std::size_t i) const { return i == 0 ? live0_ : layers_[i - 1].live; }

  // IBP of z = W h + b in centre-radius form: h lies in [c - r, c + r] with r
  // rounded up; W c and |W| r have rounding at most gamma_K · |W|(|c| + r),
  // and |W|(|c| + r) is also the error weight v of each row coefficient in a
  // backward product (crown.cpp's matmulRight, with |c| + r >= |h| as the
  // magnitude). One read of W gives all three (docs/SOUNDNESS.md).
  static Interval affineIbp(const DenseLayer &layer, const Interval &h, std::vector<double> &v) {
    std::size_t K = layer.in, N = layer.out;
    std::vector<double> c(K), r(K), a(K);
    for (std::size_t k = 0; k < K; ++k) {
      c[k] = 0.5 * h.lo[k] + 0.5 * h.hi[k];
      r[k] = std::max(fp::subUp(h.hi[k], c[k]), fp::subUp(c[k], h.lo[k]));
      a[k] = fp::addUp(std::fabs(c[k]), r[k]);
    }
    Interval z{std::vector<double>(N), std::vector<double>(N)};
    v.resize(N);
    for (std::size_t j = 0; j < N; ++j) {
      kernels::AffineSums s = layer.Wf.empty()
                                  ? kernels::affineRow(layer.W.data() + j * K, K, c.data(), r.data(), a.data())
                                  : kernels::affineRow(layer.Wf.data() + j * K, K, c.data(), r.data(), a.data());
      v[j] = s.magnitude;
      double err = fp::sumError(K + 1, s.magnitude) * (1 + 0x1p-40);
      z.lo[j] = fp::lowerOrInf(fp::subDown(fp::subDown(fp::addDown(s.centre, layer.b[j]), s.radius), err));
      z.hi[j] = fp::upperOrInf(fp::addUp(fp::addUp(fp::addUp(s.centre, layer.b[j]), s.radius), err));
    }
    return z;
  }

  // W_i over the live neurons of the layer below (known before layer i's bounds).
  void gatherColumns(std::size_t i) {
    const DenseLayer &layer = chain_.layers[i];
    const std::vector<std::size_t> &below = liveBelow(i);
    std::size_t mb = below.size();
    LayerState &s = layers_[i];
    if (mb == layer.in) {
      s.Wcols = layer.W.data();
      return;
    }
    s.colsStore.resize(layer.out * mb);
    for (std::size_t j = 0; j < layer.out; ++j)
      for (std::size_t c = 0; c < mb; ++c)
        s.colsStore[j * mb + c] = layer.W[j * layer.in + below[c]];
    s.Wcols = s.colsStore.data();
  }

  bool settling() const {
    return options_.method == Method::Crown && !options_.keepIntermediate && !options_.intersectIbp;
  }

  // Live neurons of layer i and everything gathered over them.
  void setLive(std::size_t i) {
    const DenseLayer &layer = chain_.layers[i];
    LayerState &s = layers_[i];
    s.live.clear();
    for (std::size_t j = 0; j < layer.out; ++j)
      if (!s.relaxed || s.lines.kl[j] != 0 || s.lines.ku[j] != 0 || s.lines.bl[j] != 0 || s.lines.bu[j] != 0)
        s.live.push_back(j);
    std::size_t m = s.live.size();
    s.bLive.resize(m);
    s.vLive.resize(m);
    s.magZ.resize(m);
    for (std::size_t c = 0; c < m; ++c) {
      std::size_t j = s.live[c];
      s.bLive[c] = layer.b[j];
      s.vLive[c] = s.v[j];
      s.magZ[c] = mag(s.zCur, j);
    }
    if (s.relaxed) {
      s.kl.resize(m), s.bl.resize(m), s.ku.resize(m), s.bu.resize(m);
      for (std::size_t c = 0; c < m; ++c) {
        std::size_t j = s.live[c];
        s.kl[c] = s.lines.kl[j], s.bl[c] = s.lines.bl[j], s.ku[c] = s.lines.ku[j], s.bu[c] = s.lines.bu[j];
      }
    }
    std::size_t mb = liveBelow(i).size();
    if (m == layer.out) {
      s.Wc = s.Wcols;
      return;
    }
    s.liveStore.resize(m * mb);
    for (std::size_t c = 0; c < m; ++c)
      std::copy_n(s.Wcols + s.live[c] * mb, mb, s.liveStore.begin() + static_cast<std::ptrdiff_t>(c * mb));
    s.Wc = s.liveStore.data();
  }

  // Rows on h_i (live columns) -> rows on z_i through the relaxation lines.
  void relaxStep(Rows &rw, std::size_t i) {
    const LayerState &s = layers_[i];
    std::vector<kernels::RelaxSums> k(rw.R);
    kernels::relaxRows(rw.A.data(), rw.A.data(), rw.R, rw.m, s.kl.data(), s.bl.data(), s.ku.data(), s.bu.data(), s.magZ.data(),
                       k.data());
    for (std::size_t r = 0; r < rw.R; ++r) {
      rw.slack[r] += fp::sumError(1, k[r].absCoef);
      rw.addBias(r, k[r].bias, k[r].absBias, rw.m);
    }
  }

  // Rows on z_i (live columns): add A·b_i and the product's error term.
  void biasStep(Rows &rw, std::size_t i) {
    const LayerState &s = layers_[i];
    std::size_t inner = chain_.layers[i].out;
    std::vector<kernels::DotSums> d(rw.R);
    kernels::biasRows(rw.A.data(), rw.R, rw.m, s.bLive.data(), s.vLive.data(), d.data());
    for (std::size_t r = 0; r < rw.R; ++r) {
      rw.slack[r] += fp::sumError(inner + 1, d[r].weighted) * (1 + 0x1p-40);
      rw.addBias(r, d[r].sum, d[r].abs, rw.m);
    }
  }

  // out = A · M with M (rw.m × cols), row-major.
  static void product(const Rows &rw, const double *M, std::size_t cols, Buffer &out) {
    out.resize(rw.R * cols);
    if (rw.m == 0)
      std::fill(out.begin(), out.end(), 0.0);
    if (rw.R == 0 || cols == 0 || rw.m == 0)
      return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rw.R), static_cast<int>(cols),
                static_cast<int>(rw.m), 1.0, rw.A.data(), static_cast<int>(rw.m), M, static_cast<int>(cols),
                0.0, out.data(), static_cast<int>(cols));
  }

  // Rows on z_i -> rows on h_{i-1} (i >= 1).
  void affineStep(Rows &rw, std::size_t i) {
    biasStep(rw, i);
    std::size_t cols = liveBelow(i).size();
    product(rw, layers_[i].Wc, cols, rw.spare);
    std::swap(rw.A, rw.spare);
    rw.m = cols;
  }

  // Rows against an interval over the live columns (crown.cpp's concretize).
  static void concretize(Rows &rw, const double *A, std::size_t cols, const Interval &b,
                         const std::vector<std::size_t> &live, std::vector<double> &lower) {
    std::vector<double> lo(cols), hi(cols);
    for (std::size_t c = 0; c < cols; ++c) {
      lo[c] = b.lo[live[c]];
      hi[c] = b.hi[live[c]];
    }
    lower.resize(rw.R);
    std::vector<kernels::BoxSums> k(rw.R);
    kernels::boxRows(A, rw.R, cols, lo.data(), hi.data(), k.data());
    for (std::size_t r = 0; r < rw.R; ++r) {
      rw.addBias(r, k[r].sum, k[r].abs, cols);
      lower[r] = rw.lower(r);
    }
  }

  // Rows on z_0 -> lower bounds over the box.
  void inputStep(Rows &rw, std::vector<double> &lower) {
    biasStep(rw, 0);
    product(rw, layers_[0].Wc, box0_.size(), rw.spare);
    concretize(rw, rw.spare.data(), box0_.size(), box0_, live0_, lower);
  }

  // From rows on h_i down to the bounds over the box. With `settle` the rows
  // come in neuron pairs (t, q + t): lower and upper row of one ReLU input;
  // pairs that the bound against z_0's interval proves stable keep that bound
  // and skip the input product (file comment).
  std::vector<double> down(Rows &rw, std::size_t i, bool settle = false) {
    std::vector<double> lower(rw.R);
    std::vector<std::size_t> id(rw.R);
    for (std::size_t r = 0; r < rw.R; ++r)
      id[r] = r;
    for (;; --i) {
      checkDeadline(&options_.deadline);
      relaxStep(rw, i);
      if (i == 0)
        break;
      affineStep(rw, i);
    }
    std::vector<double> exact;
    if (!settle) {
      inputStep(rw, exact);
      for (std::size_t r = 0; r < rw.R; ++r)
        lower[id[r]] = exact[r];
      return lower;
    }
    settleStable(rw, id, layers_[0].zCur, layers_[0].live, lower);
    if (!rw.part)
      rw.part = std::make_unique<Rows>();
    // Upper rows first: a neuron whose upper bound comes out <= 0 is inactive
    // whatever its lower bound, which keeps its cheap value.
    std::size_t e = rw.R / 2;
    Rows &part = *rw.part;
    auto take = [&](const std::vector<std::size_t> &rows) {
      part.reset(rows.size(), rw.m);
      for (std::size_t x = 0; x < rows.size(); ++x) {
        std::copy_n(rw.A.begin() + static_cast<std::ptrdiff_t>(rows[x] * rw.m), rw.m,
                    part.A.begin() + static_cast<std::ptrdiff_t>(x * rw.m));
        part.bias[x] = rw.bias[rows[x]];
        part.slack[x] = rw.slack[rows[x]];
      }
      inputStep(part, exact);
      for (std::size_t x = 0; x < rows.size(); ++x)
        lower[id[rows[x]]] = exact[x];
    };
    std::vector<std::size_t> rows(e);
    for (std::size_t t = 0; t < e; ++t)
      rows[t] = e + t;
    take(rows);
    rows.clear();
    for (std::size_t t = 0; t < e; ++t)
      if (-lower[id[e + t]] > 0)
        rows.push_back(t);
    take(rows);
    return lower;
  }

  void settleStable(Rows &rw, std::vector<std::size_t> &id, const Interval &b, const std::vector<std::size_t> &live,
                    std::vector<double> &lower) {
    std::size_t q = rw.R / 2;
    if (q == 0)
      return;
    Rows probe;
    probe.R = rw.R;
    probe.bias = rw.bias;
    probe.slack = rw.slack;
    std::vector<double> loose;
    concretize(probe, rw.A.data(), rw.m, b, live, loose);
    std::vector<std::size_t> keep;
    for (std::size_t t = 0; t < q; ++t) {
      lower[id[t]] = loose[t]; // until a full bound replaces it
      lower[id[q + t]] = loose[q + t];
      if (!(loose[t] >= 0 || -loose[q + t] <= 0))
        keep.push_back(t);
    }
    std::size_t e = keep.size();
    if (e == q)
      return;
    // Forward compaction: every source row is at or after its destination.
    for (std::size_t x = 0; x < 2 * e; ++x) {
      std::size_t src = x < e ? keep[x] : q + keep[x - e];
      if (src != x)
        std::copy_n(rw.A.begin() + static_cast<std::ptrdiff_t>(src * rw.m), rw.m,
                    rw.A.begin() + static_cast<std::ptrdiff_t>(x * rw.m));
      rw.bias[x] = rw.bias[src];
      rw.slack[x] = rw.slack[src];
      id[x] = id[src];
    }
    rw.R = 2 * e;
    rw.bias.resize(rw.R);
    rw.slack.resize(rw.R);
    id.resize(rw.R);
  }

  // Intermediate pass for z_i: rows +e_j (lower) and -e_j (upper) for every
  // neuron j. Rows are independent, so blocks of neurons run as parallel
  // tasks (each with its lower and upper rows, the layout `down` settles in).
  Interval crownIntermediate(std::size_t i) {
    const DenseLayer &layer = chain_.layers[i];
    const LayerState &s = layers_[i];
    std::size_t n = layer.out, mb = liveBelow(i).size();
    // Settling keeps a cheap bound for a stable ReLU: the same lines, but
    // with IBP intersection the interval itself feeds the next layers' IBP,
    // so there every row is computed in full.
    bool gate = info_.graph.node(layer.act).op == Op::Relu && settling();
    // The blocks depend on the sizes only, never on the thread count, so every
    // product has the same shape (and BLAS the same order) however many threads run them.
    std::size_t blocks = 1;
    if (n * (mb + box0_.size()) >= kParallelWork)
      blocks = std::max<std::size_t>(1, n / kBlockNeurons);
    blocks_.resize(std::max(blocks_.size(), blocks));
    Interval c{std::vector<double>(n), std::vector<double>(n)};
    auto task = [&](std::size_t b) {
      std::size_t j0 = n * b / blocks, j1 = n * (b + 1) / blocks, q = j1 - j0;
      Rows &rw = blocks_[b];
      rw.reset(2 * q, mb);
      for (std::size_t t = 0; t < q; ++t) {
        const double *w = s.Wcols + (j0 + t) * mb;
        double *lo = rw.A.data() + t * mb, *up = rw.A.data() + (q + t) * mb;
        for (std::size_t k = 0; k < mb; ++k) {
          lo[k] = w[k];
          up[k] = -w[k];
        }
        rw.bias[t] = layer.b[j0 + t];
        rw.bias[q + t] = -layer.b[j0 + t];
      }
      std::vector<double> lower = down(rw, i - 1, gate);
      for (std::size_t t = 0; t < q; ++t) {
        c.lo[j0 + t] = lower[t];
        c.hi[j0 + t] = -lower[q + t];
      }
    };
    if (pool_)
      pool_->parallelFor(blocks, task);
    else
      for (std::size_t b = 0; b < blocks; ++b)
        task(b);
    return c;
  }

  // CROWN rows given on the network output (R × nOut).
  std::vector<double> crownFromOutput(const std::vector<double> &coeffs, const std::vector<double> &constants) {
    std::size_t L = layers_.size(), nOut = chain_.layers[L - 1].out;
    Rows &rw = rows_;
    std::size_t R = constants.size();
    const LayerState &top = layers_[L - 1];
    rw.reset(R, top.live.size());
    for (std::size_t r = 0; r < R; ++r) {
      rw.addBias(r, constants[r], 0, 0);
      for (std::size_t c = 0; c < top.live.size(); ++c)
        rw.A[r * rw.m + c] = coeffs[r * nOut + top.live[c]];
    }
    if (chain_.layers[L - 1].act != kNoNode)
      return down(rw, L - 1);
    // rows on z_{L-1} over all its neurons
    if (L == 1) {
      std::vector<double> lower;
      inputStep(rw, lower);
      return lower;
    }
    affineStep(rw, L - 1);
    return down(rw, L - 2);
  }

  // IBP with a spec: the rows folded through the last affine layer and
  // concretised against the interval below it (crown.cpp's cut, as auto_LiRPA
  // merges C into the last linear layer).
  std::vector<double> ibpFolded(const std::vector<double> &coeffs, const std::vector<double> &constants) {
    std::size_t L = layers_.size(), nOut = chain_.layers[L - 1].out;
    Rows &rw = rows_;
    std::size_t R = constants.size();
    rw.reset(R, nOut);
    for (std::size_t r = 0; r < R; ++r) {
      rw.addBias(r, constants[r], 0, 0);
      std::copy_n(coeffs.begin() + static_cast<std::ptrdiff_t>(r * nOut), nOut,
                  rw.A.begin() + static_cast<std::ptrdiff_t>(r * nOut));
    }
    std::vector<double> lower;
    std::vector<std::size_t> all(nOut);
    for (std::size_t j = 0; j < nOut; ++j)
      all[j] = j;
    if (chain_.layers[L - 1].act != kNoNode) {
      concretize(rw, rw.A.data(), nOut, layers_[L - 1].hCur, all, lower);
      return lower;
    }
    // Through the last affine layer over all its neurons, then against h_{L-2}.
    const DenseLayer &layer = chain_.layers[L - 1];
    const std::vector<std::size_t> &below = liveBelow(L - 1);
    for (std::size_t r = 0; r < R; ++r) {
      const double *a = rw.A.data() + r * nOut;
      double sum = 0, abs = 0, err = 0;
      for (std::size_t j = 0; j < nOut; ++j) {
        sum += a[j] * layer.b[j];
        abs += std::fabs(a[j] * layer.b[j]);
        err += std::fabs(a[j]) * layers_[L - 1].v[j];
      }
      rw.slack[r] += fp::sumError(nOut + 1, err) * (1 + 0x1p-40);
      rw.addBias(r, sum, abs, nOut);
    }
    product(rw, layers_[L - 1].Wcols, below.size(), rw.spare);
    concretize(rw, rw.spare.data(), below.size(), layers_[L - 2].hCur, below, lower);
    return lower;
  }
};

} // namespace

Result denseChainBounds(const GraphInfo &info, const DenseChain &chain, const Box &box, const Spec *spec,
                        const Options &options) {
  ChainBounds cb(info, chain, box, options);
  return cb.run(spec);
}

} // namespace gm::bounds
