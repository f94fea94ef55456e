// The CROWN backward pass over a DAG (docs/SOUNDNESS.md, "CROWN").
//
// Every row is a lower-bound row (an upper bound on c·y is the negated lower
// bound on -c·y), so the rule of each op is one rule. The invariant, for every
// point of the box and every row r, over the values v on the current frontier:
//     row_r  >=  sum_v A_v[r]·v + bias_r - slack_r
// Each rule replaces a value by its operands keeping this true in real
// arithmetic; what floating point loses (rounded coefficients, sums in any
// order, BLAS included) is added to slack_r from magnitude bounds of the values.
#include "bounds/engine.h"
#include "bounds/fp.h"
#include "bounds/relax.h"
#include "ir/error.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace gm::bounds {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

class Backward {
public:
  Backward(const BackwardInputs &in, std::size_t rows) : in_(in), info_(in.info), R_(rows) {
    A_.resize(info_.graph.numValues());
    identity_.assign(info_.graph.numValues(), false);
    bias_.assign(R_, 0.0);
    slack_.assign(R_, 0.0);
  }

  std::vector<double> run(ValueId start, const std::vector<double> *startCoeffs, const std::vector<double> *inputCoeffs,
                          const std::vector<double> &constants) {
    for (std::size_t r = 0; r < R_; ++r)
      addBias(r, constants[r], 0, 0);
    if (startCoeffs)
      A_[start] = *startCoeffs;
    else
      identity_[start] = true;
    if (inputCoeffs && !inputCoeffs->empty())
      accumulate(info_.input, std::vector<double>(*inputCoeffs));
    for (NodeId n = info_.graph.value(start).def + 1; n-- > 0;) {
      checkDeadline(in_.deadline);
      const Node &node = info_.graph.node(n);
      ValueId y = node.results[0];
      if (A_[y].empty() && !identity_[y])
        continue;
      if (in_.cut && (*in_.cut)[y]) {
        concretize(y, in_.bounds[y]);
        continue;
      }
      step(n, node, y);
      A_[y] = {};
      A_[y].shrink_to_fit();
      identity_[y] = false;
    }
    std::vector<double> out(R_);
    for (std::size_t r = 0; r < R_; ++r)
      out[r] = fp::lowerOrInf(fp::nextDown(bias_[r] - slack_[r] * (1 + 0x1p-50)));
    return out;
  }

  StepRows stepOnly(NodeId id, std::vector<double> A, const std::vector<double> &c) {
    const Node &node = info_.graph.node(id);
    ValueId y = node.results[0];
    bias_ = c; // taken as they are: no addition rounds here
    A_[y] = std::move(A);
    step(id, node, y);
    StepRows out;
    std::vector<ValueId> seen;
    for (ValueId x : node.operands) {
      if (!info_.bounded[x] || std::find(seen.begin(), seen.end(), x) != seen.end())
        continue;
      if (node.op == Op::Gather && x == node.operands[1])
        continue;
      seen.push_back(x);
      if (A_[x].empty() && !identity_[x])
        A_[x].assign(R_ * info_.size(x), 0.0); // the rule left no coefficient on x
      out.A.push_back(std::move(materialize(x)));
    }
    out.c.resize(R_);
    for (std::size_t r = 0; r < R_; ++r)
      out.c[r] = fp::lowerOrInf(fp::nextDown(bias_[r] - slack_[r] * (1 + 0x1p-50)));
    return out;
  }

private:
  const BackwardInputs &in_;
  const GraphInfo &info_;
  std::size_t R_;
  std::vector<std::vector<double>> A_;
  std::vector<bool> identity_; // A of this value is [I; -I], not materialised
  std::vector<double> bias_, slack_;

  double mag(ValueId v, std::size_t i) const {
    if (!info_.bounded[v])
      return std::fabs(info_.consts[v]->data[i]);
    const Interval &m = in_.magnitudes[v];
    return std::max(std::fabs(m.lo[i]), std::fabs(m.hi[i]));
  }

  // bias_r += value, where value was computed as a sum of `terms` terms with
  // absolute sum `absSum`; the sum's and this addition's rounding go to slack.
  void addBias(std::size_t r, double value, double absSum, std::size_t terms) {
    if (value == -kInf || std::isnan(value)) {
      bias_[r] = -kInf;
      return;
    }
    if (terms)
      slack_[r] += fp::sumError(terms, absSum);
    bias_[r] += value;
    slack_[r] += std::fabs(bias_[r]) * 0x1p-52;
  }

  std::vector<double> &materialize(ValueId v) {
    if (identity_[v]) {
      std::size_t n = info_.size(v);
      GAMMA_ASSERT(R_ == 2 * n, "identity start needs 2n rows");
      A_[v].assign(R_ * n, 0.0);
      for (std::size_t j = 0; j < n; ++j) {
        A_[v][j * n + j] = 1;
        A_[v][(n + j) * n + j] = -1;
      }
      identity_[v] = false;
    }
    return A_[v];
  }

  // A_x += M. Merging rounds: slack covers one ulp of each merged coefficient.
  void accumulate(ValueId x, std::vector<double> &&M) {
    if (!info_.bounded[x])
      return;
    if (A_[x].empty() && !identity_[x]) {
      A_[x] = std::move(M);
      return;
    }
    std::vector<double> &A = materialize(x);
    std::size_t n = info_.size(x);
    for (std::size_t r = 0; r < R_; ++r) {
      double s = 0;
      for (std::size_t j = 0; j < n; ++j) {
        double &a = A[r * n + j];
        a += M[r * n + j];
        s += std::fabs(a) * mag(x, j);
      }
      slack_[r] += fp::sumError(n, s) * 2;
    }
  }

  // Rows against an interval: a⁺·lo + a⁻·hi.
  void concretize(ValueId v, const Interval &box) {
    const std::vector<double> &A = materialize(v);
    std::size_t n = info_.size(v);
    for (std::size_t r = 0; r < R_; ++r) {
      double s = 0, abs = 0;
      const double *a = A.data() + r * n;
      for (std::size_t j = 0; j < n; ++j) {
        if (a[j] == 0)
          continue;
        double t = a[j] > 0 ? a[j] * box.lo[j] : a[j] * box.hi[j];
        s += t;
        abs += std::fabs(t);
      }
      addBias(r, s, abs, n);
    }
  }

  void step(NodeId id, const Node &node, ValueId y) {
    switch (node.op) {
    case Op::Input:
      concretize(y, Interval{in_.box.lower, in_.box.upper});
      return;
    case Op::Const:
      return; // constants are folded into bias where they are read
    case Op::Relu:
    case Op::Sigmoid:
    case Op::Tanh:
    case Op::Exp:
    case Op::Log:
    case Op::Erf:
    case Op::Sqrt:
    case Op::Abs:
      return relaxation(id, node, y, 2);
    case Op::Pow:
      return relaxation(id, node, y, info_.consts[node.operands[1]]->data[0]);
    case Op::Neg: {
      std::vector<double> M = materialize(y);
      for (double &a : M)
        a = -a;
      return accumulate(node.operands[0], std::move(M));
    }
    case Op::Add:
    case Op::Sub:
      return addSub(node, y);
    case Op::Mul:
    case Op::Div:
      return mulDiv(node, y);
    case Op::MatMul:
      return matmul(node, y);
    case Op::Conv:
    case Op::AveragePool:
      return window(id, node, y);
    case Op::BatchNorm:
      return batchNorm(node, y);
    case Op::ReduceMean:
    case Op::ReduceSum:
      return reduce(node, y);
    case Op::Reshape:
      if (identity_[y])
        materialize(y);
      return accumulate(node.operands[0], std::move(A_[y]));
    case Op::Transpose:
    case Op::Concat:
    case Op::Slice:
    case Op::Gather:
      return movement(id, node, y);
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#include "ir/ops.def"
    case Op::MaxPool:
    case Op::Softmax:
    case Op::LayerNorm:
    case Op::RmsNorm:
    case Op::Silu:
    case Op::Gelu:
      break;
    }
    fail(info_.where(id), "{}", crownUnsupported(info_, id));
  }

  void relaxation(NodeId id, const Node &node, ValueId y, double exponent) {
    ValueId x = node.operands[0];
    const Interval &b = in_.bounds[x];
    GAMMA_ASSERT(b.size() == info_.size(x), "relaxed value without intermediate bounds");
    std::optional<Lines> local;
    std::optional<Lines> &slot = in_.lines ? (*in_.lines)[id] : local;
    if (!slot)
      slot = relax(node.op, b.lo, b.hi, exponent);
    const Lines &lines = *slot;
    std::vector<double> M = std::move(materialize(y)); // rewritten in place
    std::size_t n = info_.size(y);
    for (std::size_t r = 0; r < R_; ++r) {
      double s = 0, absB = 0, absK = 0;
      for (std::size_t j = 0; j < n; ++j) {
        double a = M[r * n + j];
        if (a == 0)
          continue;
        double k = a > 0 ? lines.kl[j] : lines.ku[j], c = a > 0 ? lines.bl[j] : lines.bu[j];
        double m = a * k;
        M[r * n + j] = m;
        absK += std::fabs(m) * mag(x, j);
        if (c != 0) {
          double t = a * c;
          s += t;
          absB += std::fabs(t);
        }
      }
      slack_[r] += fp::sumError(1, absK);
      addBias(r, s, absB, n);
    }
    accumulate(x, std::move(M));
  }

  // Broadcast-aware A_operand[:, idx(i)] += scale(i) * A_y[:, i].
  void spread(ValueId x, ValueId y, const std::vector<double> &A, const std::vector<std::int64_t> &idx,
              double sign, const double *coef, const std::vector<std::int64_t> *coefIdx, bool divide) {
    std::size_t n = info_.size(y), m = info_.size(x);
    std::vector<double> M(R_ * m, 0.0);
    std::vector<std::int64_t> mult(m, 0);
    for (std::size_t i = 0; i < n; ++i)
      ++mult[idx[i]];
    std::int64_t maxMult = *std::max_element(mult.begin(), mult.end());
    bool exact = maxMult <= 1 && coef == nullptr;
    for (std::size_t r = 0; r < R_; ++r) {
      double abs = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double a = A[r * n + i];
        if (a == 0)
          continue;
        double t = sign * a;
        if (coef) {
          double c = coef[(*coefIdx)[i]];
          t = divide ? t / c : t * c;
        }
        M[r * m + idx[i]] += t;
        abs += std::fabs(t) * mag(x, idx[i]);
      }
      if (!exact)
        slack_[r] += fp::sumError(static_cast<std::size_t>(maxMult) + 1, abs);
    }
    accumulate(x, std::move(M));
  }

  void addSub(const Node &node, ValueId y) {
    double sign[2] = {1.0, node.op == Op::Sub ? -1.0 : 1.0};
    const Shape &ys = info_.shape(y);
    // Identity start through "x + c": the constant joins the bias exactly and
    // the identity passes on, so a layer's bias costs nothing.
    if (identity_[y] && sign[0] > 0) {
      int c = info_.bounded[node.operands[0]] ? 1 : 0, b = 1 - c;
      ValueId ob = node.operands[b];
      if (!info_.bounded[node.operands[c]] && info_.bounded[ob] && sign[b] > 0 && info_.shape(ob) == ys &&
          A_[ob].empty() && !identity_[ob]) {
        const ref::Tensor &k = *info_.consts[node.operands[c]];
        std::vector<std::int64_t> idx = broadcastIndex(k.shape, ys);
        std::size_t n = info_.size(y);
        for (std::size_t r = 0; r < R_; ++r) {
          double v = sign[c] * k.data[idx[r % n]];
          addBias(r, r < n ? v : -v, 0, 0);
        }
        identity_[ob] = true;
        return;
      }
    }
    const std::vector<double> &A = materialize(y);
    std::size_t n = info_.size(y);
    int moveTo = -1; // an operand that can take A_y as it is, after the others
    for (int k = 0; k < 2; ++k) {
      ValueId v = node.operands[k];
      if (moveTo < 0 && info_.bounded[v] && sign[k] > 0 && info_.shape(v) == ys && node.operands[0] != node.operands[1])
        moveTo = k;
    }
    for (int k = 0; k < 2; ++k) {
      ValueId v = node.operands[k];
      if (k == moveTo)
        continue;
      std::vector<std::int64_t> idx = broadcastIndex(info_.shape(v), ys);
      if (info_.bounded[v]) {
        spread(v, y, A, idx, sign[k], nullptr, nullptr, false);
        continue;
      }
      const std::vector<double> &c = info_.consts[v]->data;
      for (std::size_t r = 0; r < R_; ++r) {
        double s = 0, abs = 0;
        for (std::size_t i = 0; i < n; ++i) {
          double t = A[r * n + i] * c[idx[i]];
          s += t;
          abs += std::fabs(t);
        }
        addBias(r, sign[k] * s, abs, n);
      }
    }
    if (moveTo >= 0)
      accumulate(node.operands[moveTo], std::move(A_[y]));
  }

  void mulDiv(const Node &node, ValueId y) {
    ValueId a = node.operands[0], b = node.operands[1];
    const Shape &ys = info_.shape(y);
    const std::vector<double> &A = materialize(y);
    std::vector<std::int64_t> ia = broadcastIndex(info_.shape(a), ys), ib = broadcastIndex(info_.shape(b), ys);
    bool divide = node.op == Op::Div;
    if (!info_.bounded[b]) {
      spread(a, y, A, ia, 1.0, info_.consts[b]->data.data(), &ib, divide);
      return;
    }
    if (!divide && !info_.bounded[a]) {
      spread(b, y, A, ib, 1.0, info_.consts[a]->data.data(), &ia, false);
      return;
    }
    GAMMA_ASSERT(!divide, "division by a bounded value reached CROWN");
    // x*z with both bounded: McCormick planes from the intermediate bounds.
    const Interval &bx = in_.bounds[a], &bz = in_.bounds[b];
    GAMMA_ASSERT(bx.size() == info_.size(a) && bz.size() == info_.size(b), "product without intermediate bounds");
    std::size_t n = info_.size(y), na = info_.size(a), nb = info_.size(b);
    std::vector<Planes> lowP(n), upP(n);
    for (std::size_t i = 0; i < n; ++i) {
      lowP[i] = mulLowerPlane(bx.lo[ia[i]], bx.hi[ia[i]], bz.lo[ib[i]], bz.hi[ib[i]]);
      upP[i] = mulUpperPlane(bx.lo[ia[i]], bx.hi[ia[i]], bz.lo[ib[i]], bz.hi[ib[i]]);
    }
    std::vector<double> Ma(R_ * na, 0.0), Mb(R_ * nb, 0.0);
    for (std::size_t r = 0; r < R_; ++r) {
      double s = 0, absB = 0, absK = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double c = A[r * n + i];
        if (c == 0)
          continue;
        const Planes &p = c > 0 ? lowP[i] : upP[i];
        double ta = c * p.ax, tb = c * p.ay;
        Ma[r * na + ia[i]] += ta;
        Mb[r * nb + ib[i]] += tb;
        absK += std::fabs(ta) * mag(a, ia[i]) + std::fabs(tb) * mag(b, ib[i]);
        double t = c * p.c;
        if (!std::isfinite(p.c))
          t = -kInf;
        s += t;
        absB += std::fabs(t);
      }
      slack_[r] += fp::sumError(n + 1, absK);
      addBias(r, s, absB, n);
    }
    accumulate(a, std::move(Ma));
    accumulate(b, std::move(Mb));
  }

  void matmul(const Node &node, ValueId y) {
    ValueId a = node.operands[0], b = node.operands[1];
    if (const Constant *w = info_.streamed[b])
      return matmulRightStreamed(a, *w, y);
    if (info_.bounded[a] && !info_.bounded[b])
      return matmulRight(a, *info_.consts[b], y);
    return matmulLeft(*info_.consts[a], b, y);
  }

  // y = x·Wfᵀ for one position, Wf [N, K] read from the model file: only the
  // rows j some A_y[r][j] uses are decoded (a spec's margins touch a few
  // tokens of the LM head), A_x[r] = Σ_j A_y[r][j]·Wf[j]. Error term as in
  // matmulRight, over those rows (the others contribute exact zeros).
  void matmulRightStreamed(ValueId x, const Constant &Wf, ValueId y) {
    std::size_t N = static_cast<std::size_t>(Wf.type().shape[0]), K = static_cast<std::size_t>(Wf.type().shape[1]);
    GAMMA_ASSERT(info_.size(x) == K, "streamed weights need a single position");
    const std::vector<double> &A = materialize(y);
    std::vector<double> M(R_ * K, 0.0), row(K), slackSum(R_, 0.0);
    for (std::size_t j = 0; j < N; ++j) {
      bool used = false;
      for (std::size_t r = 0; r < R_ && !used; ++r)
        used = A[r * N + j] != 0;
      if (!used)
        continue;
      Wf.decode(static_cast<std::int64_t>(j * K), static_cast<std::int64_t>(K), row.data());
      double v = 0; // |Wf[j]|·|x|
      for (std::size_t k = 0; k < K; ++k)
        v += std::fabs(row[k]) * mag(x, k);
      for (std::size_t r = 0; r < R_; ++r) {
        double a = A[r * N + j];
        if (a == 0)
          continue;
        slackSum[r] += std::fabs(a) * v;
        for (std::size_t k = 0; k < K; ++k)
          M[r * K + k] += a * row[k];
      }
    }
    for (std::size_t r = 0; r < R_; ++r)
      slack_[r] += fp::sumError(N + 1, slackSum[r]) * (1 + 0x1p-40);
    accumulate(x, std::move(M));
  }

  // y = x·W, x [.., Q, K], W [K, N]:  A_x = A_y·Wᵀ over (R·Q) rows.
  void matmulRight(ValueId x, const ref::Tensor &W, ValueId y) {
    std::size_t K = W.shape[W.shape.size() - 2], N = W.shape.back();
    std::size_t Q = info_.size(y) / N;
    // Error term: |A_y|·v with v = |W|ᵀ-image of the magnitudes of x.
    std::vector<double> v(Q * N, 0.0);
    for (std::size_t q = 0; q < Q; ++q)
      for (std::size_t k = 0; k < K; ++k) {
        double m = mag(x, q * K + k);
        if (m == 0)
          continue;
        const double *w = W.data.data() + k * N;
        for (std::size_t j = 0; j < N; ++j)
          v[q * N + j] += std::fabs(w[j]) * m;
      }
    std::vector<double> M(R_ * Q * K, 0.0);
    if (identity_[y] && Q == 1) { // rows of ±Wᵀ: exact copies
      for (std::size_t j = 0; j < N; ++j)
        for (std::size_t k = 0; k < K; ++k) {
          M[j * K + k] = W.data[k * N + j];
          M[(N + j) * K + k] = -W.data[k * N + j];
        }
      accumulate(x, std::move(M));
      return;
    }
    const std::vector<double> &A = materialize(y);
    for (std::size_t r = 0; r < R_; ++r) {
      double s = 0;
      for (std::size_t i = 0; i < Q * N; ++i)
        s += std::fabs(A[r * Q * N + i]) * v[i];
      slack_[r] += fp::sumError(N + 1, s) * (1 + 0x1p-40);
    }
    if (Q == 1) {
      // Only the columns that carry something, and only the outputs that are
      // not multiplied by an exact zero later (inactive ReLUs below).
      std::vector<std::size_t> cols, outs;
      std::vector<char> used(N, 0);
      for (std::size_t r = 0; r < R_; ++r)
        for (std::size_t j = 0; j < N; ++j)
          used[j] |= A[r * N + j] != 0;
      for (std::size_t j = 0; j < N; ++j)
        if (used[j])
          cols.push_back(j);
      std::vector<bool> dead = deadElements(x);
      for (std::size_t k = 0; k < K; ++k)
        if (!dead[k])
          outs.push_back(k);
      if (cols.empty() || outs.empty()) {
        accumulate(x, std::move(M));
        return;
      }
      std::vector<double> Ac(R_ * cols.size()), Wc(outs.size() * cols.size()), Out(R_ * outs.size());
      for (std::size_t r = 0; r < R_; ++r)
        for (std::size_t c = 0; c < cols.size(); ++c)
          Ac[r * cols.size() + c] = A[r * N + cols[c]];
      for (std::size_t o = 0; o < outs.size(); ++o)
        for (std::size_t c = 0; c < cols.size(); ++c)
          Wc[o * cols.size() + c] = W.data[outs[o] * N + cols[c]];
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(R_), static_cast<int>(outs.size()),
                  static_cast<int>(cols.size()), 1.0, Ac.data(), static_cast<int>(cols.size()), Wc.data(),
                  static_cast<int>(cols.size()), 0.0, Out.data(), static_cast<int>(outs.size()));
      for (std::size_t r = 0; r < R_; ++r)
        for (std::size_t o = 0; o < outs.size(); ++o)
          M[r * K + outs[o]] = Out[r * outs.size() + o];
    } else {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(R_ * Q), static_cast<int>(K),
                  static_cast<int>(N), 1.0, A.data(), static_cast<int>(N), W.data.data(), static_cast<int>(N), 0.0,
                  M.data(), static_cast<int>(K));
    }
    accumulate(x, std::move(M));
  }

  // y = W·x, W [Mr, K], x [.., K, N]: per row and batch, A_x = Wᵀ·A_y.
  void matmulLeft(const ref::Tensor &W, ValueId x, ValueId y) {
    std::size_t Mr = W.shape[W.shape.size() - 2], K = W.shape.back();
    const Shape &xs = info_.shape(x);
    std::size_t N = xs.size() >= 2 ? static_cast<std::size_t>(xs.back()) : 1;
    std::size_t Bt = info_.size(x) / (K * N);
    std::vector<double> v(Bt * Mr * N, 0.0);
    for (std::size_t bt = 0; bt < Bt; ++bt)
      for (std::size_t m = 0; m < Mr; ++m)
        for (std::size_t k = 0; k < K; ++k) {
          double w = std::fabs(W.data[m * K + k]);
          for (std::size_t j = 0; j < N; ++j)
            v[(bt * Mr + m) * N + j] += w * mag(x, (bt * K + k) * N + j);
        }
    const std::vector<double> &A = materialize(y);
    std::size_t ny = info_.size(y), nx = info_.size(x);
    std::vector<double> M(R_ * nx, 0.0);
    for (std::size_t r = 0; r < R_; ++r) {
      double s = 0;
      for (std::size_t i = 0; i < ny; ++i)
        s += std::fabs(A[r * ny + i]) * v[i];
      slack_[r] += fp::sumError(Mr + 1, s) * (1 + 0x1p-40);
      for (std::size_t bt = 0; bt < Bt; ++bt)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(K), static_cast<int>(N),
                    static_cast<int>(Mr), 1.0, W.data.data(), static_cast<int>(K), A.data() + r * ny + bt * Mr * N,
                    static_cast<int>(N), 0.0, M.data() + r * nx + bt * K * N, static_cast<int>(N));
    }
    accumulate(x, std::move(M));
  }

  // Elements of x whose coefficients are multiplied by an exact zero by x's
  // own definition (an inactive ReLU), so they need not be computed.
  std::vector<bool> deadElements(ValueId x) const {
    std::size_t n = info_.size(x);
    std::vector<bool> dead(n, false);
    const Node &def = info_.graph.definingNode(x);
    if (def.op != Op::Relu || (in_.cut && (*in_.cut)[x]))
      return dead;
    const Interval &b = in_.bounds[def.operands[0]];
    if (b.size() != n)
      return dead;
    for (std::size_t j = 0; j < n; ++j)
      dead[j] = b.hi[j] <= 0;
    return dead;
  }

  // Conv and average_pool through their taps.
  void window(NodeId id, const Node &node, ValueId y) {
    ValueId x = node.operands[0];
    WindowTaps taps = windowTaps(info_, id);
    bool conv = node.op == Op::Conv;
    const double *w = conv ? info_.consts[node.operands[1]]->data.data() : nullptr;
    std::size_t ny = info_.size(y), nx = info_.size(x);
    std::vector<double> coef(taps.taps.size()), v(ny, 0.0);
    for (std::size_t t = 0; t < taps.taps.size(); ++t) {
      const Tap &tp = taps.taps[t];
      coef[t] = conv ? w[tp.weight] : 1.0 / static_cast<double>(taps.divisor[tp.out]);
      v[tp.out] += std::fabs(coef[t]) * mag(x, tp.in);
    }
    const std::vector<double> &A = materialize(y);
    std::vector<double> M(R_ * nx, 0.0);
    for (std::size_t r = 0; r < R_; ++r) {
      const double *a = A.data() + r * ny;
      double *m = M.data() + r * nx;
      double s = 0;
      for (std::size_t i = 0; i < ny; ++i)
        s += std::fabs(a[i]) * v[i];
      for (std::size_t t = 0; t < taps.taps.size(); ++t) {
        const Tap &tp = taps.taps[t];
        if (a[tp.out] != 0)
          m[tp.in] += a[tp.out] * coef[t];
      }
      // 1/divisor is rounded too: one more relative ulp.
      slack_[r] += fp::sumError(static_cast<std::size_t>(taps.maxFanOut) + 2, s) * (1 + 0x1p-40);
    }
    if (conv && node.operands.size() == 3) {
      const Shape &ys = info_.shape(y);
      std::size_t channels = ys[1], plane = ny / ys[0] / channels;
      const std::vector<double> &bias = info_.consts[node.operands[2]]->data;
      for (std::size_t r = 0; r < R_; ++r) {
        double s = 0, abs = 0;
        for (std::size_t i = 0; i < ny; ++i) {
          double t = A[r * ny + i] * bias[(i / plane) % channels];
          s += t;
          abs += std::fabs(t);
        }
        addBias(r, s, abs, ny);
      }
    }
    accumulate(x, std::move(M));
  }

  void batchNorm(const Node &node, ValueId y) {
    ValueId x = node.operands[0];
    const auto &scale = info_.consts[node.operands[1]]->data, &beta = info_.consts[node.operands[2]]->data;
    const auto &mean = info_.consts[node.operands[3]]->data, &var = info_.consts[node.operands[4]]->data;
    double eps = node.attrs.getFloat("epsilon");
    const Shape &s = info_.shape(x);
    std::size_t channels = s[1], n = info_.size(x), plane = n / s[0] / channels;
    // y = k x + t per channel; k and t are only known to intervals [kl, kh], [tl, th].
    std::vector<double> k(channels), dk(channels), t(channels), dt(channels);
    for (std::size_t c = 0; c < channels; ++c) {
      double sl = fp::sqrtDown(fp::addDown(var[c], eps)), sh = fp::sqrtUp(fp::addUp(var[c], eps));
      double kl = std::min(fp::divDown(scale[c], sl), fp::divDown(scale[c], sh));
      double kh = std::max(fp::divUp(scale[c], sl), fp::divUp(scale[c], sh));
      double tl = fp::subDown(beta[c], std::max(fp::mulUp(mean[c], kl), fp::mulUp(mean[c], kh)));
      double th = fp::subUp(beta[c], std::min(fp::mulDown(mean[c], kl), fp::mulDown(mean[c], kh)));
      k[c] = kl;
      dk[c] = kh - kl;
      t[c] = tl;
      dt[c] = th - tl;
    }
    const std::vector<double> &A = materialize(y);
    std::vector<double> M(R_ * n);
    for (std::size_t r = 0; r < R_; ++r) {
      double s = 0, abs = 0, err = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double a = A[r * n + i];
        if (a == 0)
          continue;
        std::size_t c = (i / plane) % channels;
        M[r * n + i] = a * k[c];
        double tt = a * t[c];
        s += tt;
        abs += std::fabs(tt);
        // unknown part of k and t, and the rounding of a*k
        err += std::fabs(a) * ((dk[c] + std::fabs(k[c]) * 0x1p-51) * mag(x, i) + dt[c]);
      }
      slack_[r] += err * (1 + 0x1p-40);
      addBias(r, s, abs, n);
    }
    accumulate(x, std::move(M));
  }

  void reduce(const Node &node, ValueId y) {
    ValueId x = node.operands[0];
    std::vector<std::int64_t> idx = reduceIndex(info_.shape(x), node.attrs.getInts("axes"));
    std::size_t nx = info_.size(x), ny = info_.size(y);
    const std::vector<double> &A = materialize(y);
    double count = static_cast<double>(nx / std::max<std::size_t>(ny, 1));
    bool mean = node.op == Op::ReduceMean;
    std::vector<double> M(R_ * nx);
    for (std::size_t r = 0; r < R_; ++r) {
      double abs = 0;
      for (std::size_t i = 0; i < nx; ++i) {
        double a = A[r * ny + idx[i]];
        M[r * nx + i] = mean ? a / count : a;
        abs += std::fabs(M[r * nx + i]) * mag(x, i);
      }
      if (mean)
        slack_[r] += fp::sumError(1, abs);
    }
    accumulate(x, std::move(M));
  }

  void movement(NodeId id, const Node &node, ValueId y) {
    MovementMap map = movementMap(info_, id);
    const std::vector<double> &A = materialize(y);
    std::size_t ny = info_.size(y);
    for (std::size_t k = 0; k < node.operands.size(); ++k) {
      ValueId x = node.operands[k];
      if (node.op == Op::Gather && k == 1)
        continue;
      if (!info_.bounded[x]) { // a constant piece (concat of a constant): into the bias
        const std::vector<double> &c = info_.consts[x]->data;
        for (std::size_t r = 0; r < R_; ++r) {
          double s = 0, abs = 0;
          for (std::size_t i = 0; i < ny; ++i)
            if (map.operand[i] == k) {
              double t = A[r * ny + i] * c[map.element[i]];
              s += t;
              abs += std::fabs(t);
            }
          addBias(r, s, abs, ny);
        }
        continue;
      }
      std::vector<std::int64_t> idx(ny, -1);
      for (std::size_t i = 0; i < ny; ++i)
        if (map.operand[i] == k)
          idx[i] = map.element[i];
      std::size_t nx = info_.size(x);
      std::vector<double> M(R_ * nx, 0.0);
      std::vector<int> mult(nx, 0);
      for (std::size_t i = 0; i < ny; ++i)
        if (idx[i] >= 0)
          ++mult[idx[i]];
      int maxMult = nx ? *std::max_element(mult.begin(), mult.end()) : 0;
      for (std::size_t r = 0; r < R_; ++r) {
        double abs = 0;
        for (std::size_t i = 0; i < ny; ++i)
          if (idx[i] >= 0) {
            M[r * nx + idx[i]] += A[r * ny + i];
            abs += std::fabs(A[r * ny + i]) * mag(x, idx[i]);
          }
        if (maxMult > 1) // gathered twice: the merge rounds
          slack_[r] += fp::sumError(static_cast<std::size_t>(maxMult), abs);
      }
      accumulate(x, std::move(M));
    }
  }
};

} // namespace

std::string crownUnsupported(const GraphInfo &info, NodeId id) {
  const Node &node = info.graph.node(id);
  auto bounded = [&](std::size_t k) { return k < node.operands.size() && info.bounded[node.operands[k]]; };
  switch (node.op) {
  case Op::MaxPool:
    return "CROWN cannot bound max_pool yet (use --method ibp)";
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#include "ir/ops.def"
    return "bound-program op in a network graph";
  case Op::Softmax:
    return "CROWN cannot bound softmax yet (use --method ibp)";
  case Op::LayerNorm:
  case Op::RmsNorm:
  case Op::Silu:
  case Op::Gelu:
    return fmt::format("CROWN cannot bound {} yet (use --method ibp)", opInfo(node.op).keyword);
  case Op::Div:
    if (bounded(1))
      return "CROWN cannot bound division by an input-dependent value yet (use --method ibp)";
    return {};
  case Op::Pow:
    if (bounded(1))
      return "CROWN cannot bound pow with an input-dependent exponent (use --method ibp)";
    if (info.consts[node.operands[1]]->data.size() != 1 || info.consts[node.operands[1]]->data[0] != 2)
      return "CROWN bounds pow only with the constant exponent 2 (use --method ibp)";
    return {};
  case Op::MatMul:
    if (const Constant *w = info.streamed[node.operands[1]])
      return info.size(node.operands[0]) == static_cast<std::size_t>(w->type().shape[1])
                 ? std::string()
                 : "CROWN reads a weight streamed from the model file only at a single position (use --method ibp)";
    if (bounded(0) && bounded(1))
      return "CROWN cannot bound a product of two input-dependent matrices yet (use --method ibp)";
    if (!bounded(1) && info.shape(node.operands[1]).size() > 2) {
      for (std::size_t d = 0; d + 2 < info.shape(node.operands[1]).size(); ++d)
        if (info.shape(node.operands[1])[d] != 1)
          return "CROWN bounds matmul only with 2-D constant weights (use --method ibp)";
    }
    if (!bounded(0) && (info.shape(node.operands[0]).size() != 2 || info.shape(node.operands[1]).size() < 2))
      return "CROWN bounds a constant left matmul only with a 2-D matrix (use --method ibp)";
    if (bounded(0) && info.shape(node.operands[0]).size() < 2)
      return "CROWN bounds matmul only for inputs of rank >= 2 (use --method ibp)";
    return {};
  case Op::Conv:
    if (bounded(1) || bounded(2))
      return "CROWN cannot bound conv with input-dependent weights";
    return {};
  case Op::BatchNorm:
    for (std::size_t k = 1; k < 5; ++k)
      if (bounded(k))
        return "CROWN cannot bound batch_norm with input-dependent parameters";
    return {};
  default:
    return {};
  }
}

std::vector<double> backward(const BackwardInputs &in, ValueId start, std::size_t rows,
                             const std::vector<double> *startCoeffs, const std::vector<double> *inputCoeffs,
                             const std::vector<double> &constants) {
  Backward b(in, rows);
  return b.run(start, startCoeffs, inputCoeffs, constants);
}

StepRows backwardStep(const BackwardInputs &in, NodeId node, std::size_t rows, std::vector<double> A,
                      const std::vector<double> &c) {
  Backward b(in, rows);
  return b.stepOnly(node, std::move(A), c);
}

} // namespace gm::bounds
