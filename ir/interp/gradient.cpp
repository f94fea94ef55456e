// Reverse-mode differentiation: a forward pass through ref::evaluateOp that
// keeps every value (those that do not depend on the input are computed once,
// by the constructor), then a backward pass applying a vector-Jacobian product
// per node in reverse program order. Each rule mirrors the loop of the kernel it
// differentiates (kernels_*.cpp), so the indexing is the interpreter's own;
// movement ops are differentiated by running the kernel itself on element
// numbers, which cannot disagree with it.
#include "ir/interp/gradient.h"

#include "ir/error.h"
#include "ir/interp/kernels.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>

namespace gm::ref {

namespace {

namespace k = kernels;

// A rule reads the forward operands and result and the gradient of the result,
// and adds into d[i] the gradient of operand i; d[i] is null when operand i
// does not depend on the input, so its gradient is never needed.
struct Vjp {
  std::span<const Tensor *const> in;
  const Tensor &out;
  std::span<const double> g;
  std::span<double *const> d;
};

// Elementwise rules take the local derivative dy/dx from (x, y).
template <typename Derivative> void unaryVjp(const Vjp &v, Derivative derivative) {
  const std::vector<double> &x = v.in[0]->data, &y = v.out.data;
  for (std::size_t i = 0; i < x.size(); ++i)
    v.d[0][i] += v.g[i] * derivative(x[i], y[i]);
}

struct Partials {
  double a, b;
};

// Walks the broadcast output like kernels::binary and sends each output's
// gradient to the operand element it read, which sums over broadcast dims.
template <typename Rule> void binaryVjp(const Vjp &v, Rule partials) {
  const Tensor &a = *v.in[0], &b = *v.in[1];
  const Shape &shape = v.out.shape;
  double *da = v.d[0], *db = v.d[1];
  std::vector<std::int64_t> sa = k::broadcastStrides(a.shape, shape), sb = k::broadcastStrides(b.shape, shape);
  std::size_t rank = shape.size();
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t ia = 0, ib = 0;
  for (std::size_t i = 0; i < v.out.data.size(); ++i) {
    Partials p = partials(a.data[ia], b.data[ib], v.out.data[i]);
    if (da)
      da[ia] += v.g[i] * p.a;
    if (db)
      db[ib] += v.g[i] * p.b;
    for (std::size_t dim = rank; dim-- > 0;) {
      ia += sa[dim];
      ib += sb[dim];
      if (++index[dim] < shape[dim])
        break;
      ia -= sa[dim] * shape[dim];
      ib -= sb[dim] * shape[dim];
      index[dim] = 0;
    }
  }
}

// dA = G·Bᵀ, dB = Aᵀ·G per batch matrix; broadcast batch dims accumulate.
void matmulVjp(const Vjp &v) {
  const Tensor &a = *v.in[0], &b = *v.in[1];
  double *da = v.d[0], *db = v.d[1];
  Shape sa = a.shape, sb = b.shape;
  if (sa.size() == 1)
    sa.insert(sa.begin(), 1);
  if (sb.size() == 1)
    sb.push_back(1);
  std::int64_t m = sa[sa.size() - 2], kk = sa.back(), n = sb.back();
  Shape batchA(sa.begin(), sa.end() - 2), batchB(sb.begin(), sb.end() - 2), batch;
  bool broadcasts = broadcastShapes(batchA, batchB, batch);
  GAMMA_ASSERT(broadcasts, "matmul batch dims that evaluated do not broadcast");
  std::vector<std::int64_t> strideA = k::broadcastStrides(batchA, batch), strideB = k::broadcastStrides(batchB, batch);
  std::int64_t numBatches = k::product(batch);
  std::vector<std::int64_t> index(batch.size(), 0);
  for (std::int64_t t = 0; t < numBatches; ++t) {
    std::int64_t offA = 0, offB = 0;
    for (std::size_t d = 0; d < batch.size(); ++d) {
      offA += index[d] * strideA[d];
      offB += index[d] * strideB[d];
    }
    const double *pa = a.data.data() + offA * m * kk;
    const double *pb = b.data.data() + offB * kk * n;
    const double *pg = v.g.data() + t * m * n;
    if (da)
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t p = 0; p < kk; ++p) {
          double acc = 0;
          for (std::int64_t j = 0; j < n; ++j)
            acc += pg[i * n + j] * pb[p * n + j];
          da[offA * m * kk + i * kk + p] += acc;
        }
    if (db)
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t p = 0; p < kk; ++p) {
          double aip = pa[i * kk + p];
          double *row = db + offB * kk * n + p * n;
          for (std::int64_t j = 0; j < n; ++j)
            row[j] += aip * pg[i * n + j];
        }
    for (std::size_t d = batch.size(); d-- > 0;) {
      if (++index[d] < batch[d])
        break;
      index[d] = 0;
    }
  }
}

// Spatial geometry padded to three dims with leading 1s, as in the kernels;
// output sizes are read off the forward result instead of recomputed.
struct Window3 {
  std::int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1};
  std::int64_t stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1}, padBegin[3] = {0, 0, 0}, padEnd[3] = {0, 0, 0};
};

Window3 window3(const Shape &x, const Shape &y, std::span<const std::int64_t> kernel,
                std::span<const std::int64_t> strides, std::span<const std::int64_t> pads,
                std::span<const std::int64_t> dilations) {
  std::size_t nk = x.size() - 2;
  Window3 w;
  for (std::size_t i = 0; i < nk; ++i) {
    std::size_t s = 3 - nk + i;
    w.in[s] = x[2 + i];
    w.out[s] = y[2 + i];
    w.kernel[s] = kernel[i];
    w.stride[s] = strides[i];
    w.dilation[s] = dilations.empty() ? 1 : dilations[i];
    w.padBegin[s] = pads[i];
    w.padEnd[s] = pads[nk + i];
  }
  return w;
}

void convVjp(const Attrs &attrs, const Vjp &v) {
  const Tensor &x = *v.in[0], &w = *v.in[1];
  double *dx = v.d[0], *dw = v.d[1], *db = v.in.size() == 3 ? v.d[2] : nullptr;
  std::int64_t batch = x.shape[0], channels = x.shape[1], m = w.shape[0], cPerGroup = w.shape[1];
  std::int64_t mPerGroup = m / attrs.getInt("group");
  Shape kernel(w.shape.begin() + 2, w.shape.end());
  Window3 g = window3(x.shape, v.out.shape, kernel, attrs.getInts("strides"), attrs.getInts("pads"),
                      attrs.getInts("dilations"));
  std::int64_t inPlane = g.in[0] * g.in[1] * g.in[2];
  std::int64_t outPlane = g.out[0] * g.out[1] * g.out[2];
  std::int64_t kernelSize = g.kernel[0] * g.kernel[1] * g.kernel[2];
  for (std::int64_t nb = 0; nb < batch; ++nb)
    for (std::int64_t oc = 0; oc < m; ++oc) {
      std::int64_t firstChannel = (oc / mPerGroup) * cPerGroup;
      const double *pg = v.g.data() + (nb * m + oc) * outPlane;
      for (std::int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (std::int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (std::int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            double gv = pg[(o0 * g.out[1] + o1) * g.out[2] + o2];
            if (db)
              db[oc] += gv;
            if (gv == 0)
              continue;
            for (std::int64_t c = 0; c < cPerGroup; ++c) {
              std::int64_t xBase = (nb * channels + firstChannel + c) * inPlane;
              std::int64_t wBase = (oc * cPerGroup + c) * kernelSize;
              for (std::int64_t k0 = 0; k0 < g.kernel[0]; ++k0) {
                std::int64_t i0 = o0 * g.stride[0] - g.padBegin[0] + k0 * g.dilation[0];
                if (i0 < 0 || i0 >= g.in[0])
                  continue;
                for (std::int64_t k1 = 0; k1 < g.kernel[1]; ++k1) {
                  std::int64_t i1 = o1 * g.stride[1] - g.padBegin[1] + k1 * g.dilation[1];
                  if (i1 < 0 || i1 >= g.in[1])
                    continue;
                  for (std::int64_t k2 = 0; k2 < g.kernel[2]; ++k2) {
                    std::int64_t i2 = o2 * g.stride[2] - g.padBegin[2] + k2 * g.dilation[2];
                    if (i2 < 0 || i2 >= g.in[2])
                      continue;
                    std::int64_t xi = xBase + (i0 * g.in[1] + i1) * g.in[2] + i2;
                    std::int64_t wi = wBase + (k0 * g.kernel[1] + k1) * g.kernel[2] + k2;
                    if (dx)
                      dx[xi] += gv * w.data[wi];
                    if (dw)
                      dw[wi] += gv * x.data[xi];
                  }
                }
              }
            }
          }
    }
}

// y = (x - mean) / sqrt(var + eps) * scale + bias, per channel.
void batchNormVjp(const Attrs &attrs, const Vjp &v) {
  const Tensor &x = *v.in[0];
  const std::vector<double> &scale = v.in[1]->data, &mean = v.in[3]->data, &var = v.in[4]->data;
  double epsilon = attrs.getFloat("epsilon");
  std::int64_t channels = x.shape[1];
  std::int64_t inner = k::product(std::span(x.shape).subspan(2));
  for (std::int64_t nb = 0; nb < x.shape[0]; ++nb)
    for (std::int64_t c = 0; c < channels; ++c) {
      double sd = std::sqrt(var[c] + epsilon);
      std::int64_t base = (nb * channels + c) * inner;
      for (std::int64_t i = 0; i < inner; ++i) {
        double g = v.g[base + i], centred = x.data[base + i] - mean[c];
        if (v.d[0])
          v.d[0][base + i] += g * scale[c] / sd;
        if (v.d[1])
          v.d[1][c] += g * centred / sd;
        if (v.d[2])
          v.d[2][c] += g;
        if (v.d[3])
          v.d[3][c] -= g * scale[c] / sd;
        if (v.d[4])
          v.d[4][c] -= g * centred * scale[c] * 0.5 / (sd * sd * sd);
      }
    }
}

// max_pool sends each output's gradient to the tap the kernel picked (the
// first strict maximum); average_pool spreads it over the taps inside the
// input, divided by the kernel's divisor.
void poolVjp(Op op, const Attrs &attrs, const Vjp &v) {
  const Tensor &x = *v.in[0];
  bool isMax = op == Op::MaxPool;
  std::vector<std::int64_t> noDilations;
  Window3 g = window3(x.shape, v.out.shape, attrs.getInts("kernel"), attrs.getInts("strides"), attrs.getInts("pads"),
                      isMax ? attrs.getInts("dilations") : noDilations);
  bool countIncludePad = !isMax && attrs.getInt("count_include_pad") != 0;
  std::int64_t planes = x.shape[0] * x.shape[1];
  std::int64_t inPlane = g.in[0] * g.in[1] * g.in[2];
  std::int64_t outPlane = g.out[0] * g.out[1] * g.out[2];
  std::vector<std::int64_t> taps;
  for (std::int64_t p = 0; p < planes; ++p) {
    const double *px = x.data.data() + p * inPlane;
    double *dx = v.d[0] + p * inPlane;
    std::int64_t o[3];
    for (o[0] = 0; o[0] < g.out[0]; ++o[0])
      for (o[1] = 0; o[1] < g.out[1]; ++o[1])
        for (o[2] = 0; o[2] < g.out[2]; ++o[2]) {
          double gv = v.g[p * outPlane + (o[0] * g.out[1] + o[1]) * g.out[2] + o[2]];
          std::int64_t padded = 1;
          taps.clear();
          for (int d = 0; d < 3; ++d) {
            std::int64_t count = 0;
            for (std::int64_t t = 0; t < g.kernel[d]; ++t)
              if (o[d] * g.stride[d] - g.padBegin[d] + t * g.dilation[d] < g.in[d] + g.padEnd[d])
                ++count;
            padded *= count;
          }
          for (std::int64_t t0 = 0; t0 < g.kernel[0]; ++t0) {
            std::int64_t i0 = o[0] * g.stride[0] - g.padBegin[0] + t0 * g.dilation[0];
            if (i0 < 0 || i0 >= g.in[0])
              continue;
            for (std::int64_t t1 = 0; t1 < g.kernel[1]; ++t1) {
              std::int64_t i1 = o[1] * g.stride[1] - g.padBegin[1] + t1 * g.dilation[1];
              if (i1 < 0 || i1 >= g.in[1])
                continue;
              for (std::int64_t t2 = 0; t2 < g.kernel[2]; ++t2) {
                std::int64_t i2 = o[2] * g.stride[2] - g.padBegin[2] + t2 * g.dilation[2];
                if (i2 >= 0 && i2 < g.in[2])
                  taps.push_back((i0 * g.in[1] + i1) * g.in[2] + i2);
              }
            }
          }
          if (isMax) {
            std::int64_t best = -1;
            double acc = -INFINITY;
            for (std::int64_t t : taps)
              if (px[t] > acc) {
                acc = px[t];
                best = t;
              }
            if (best >= 0)
              dx[best] += gv;
          } else {
            auto divisor = static_cast<double>(countIncludePad ? padded : static_cast<std::int64_t>(taps.size()));
            for (std::int64_t t : taps)
              dx[t] += gv / divisor;
          }
        }
  }
}

// dx_j = y_j (g_j - sum_k g_k y_k) along the axis.
void softmaxVjp(const Attrs &attrs, const Vjp &v) {
  const Tensor &y = v.out;
  std::int64_t axis = attrs.getInt("axis");
  std::span<const std::int64_t> dims(y.shape);
  std::int64_t outer = k::product(dims.subspan(0, axis)), n = y.shape[axis], inner = k::product(dims.subspan(axis + 1));
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      std::int64_t base = o * n * inner + i;
      double dot = 0;
      for (std::int64_t j = 0; j < n; ++j)
        dot += v.g[base + j * inner] * y.data[base + j * inner];
      for (std::int64_t j = 0; j < n; ++j)
        v.d[0][base + j * inner] += y.data[base + j * inner] * (v.g[base + j * inner] - dot);
    }
}

// Offset into a parameter of `shape` for each position of a normalised slice
// (row-major over `normalized`), under numpy broadcasting.
std::vector<std::int64_t> parameterOffsets(const Shape &shape, const Shape &normalized) {
  std::vector<std::int64_t> strides = k::broadcastStrides(shape, normalized), index(normalized.size(), 0);
  std::int64_t inner = k::product(normalized), off = 0;
  std::vector<std::int64_t> offsets(inner);
  for (std::int64_t i = 0; i < inner; ++i) {
    offsets[i] = off;
    for (std::size_t d = normalized.size(); d-- > 0;) {
      off += strides[d];
      if (++index[d] < normalized[d])
        break;
      off -= strides[d] * normalized[d];
      index[d] = 0;
    }
  }
  return offsets;
}

// With h = (x - mean)/sd and e = g*scale over one normalised slice of n:
// dx = (e - mean(e) - h*mean(e*h)) / sd; dscale += g*h; dbias += g.
void layerNormVjp(const Attrs &attrs, const Vjp &v) {
  const Tensor &x = *v.in[0], &scale = *v.in[1];
  bool hasBias = v.in.size() == 3;
  std::int64_t axis = attrs.getInt("axis");
  double epsilon = attrs.getFloat("epsilon");
  Shape normalized(x.shape.begin() + axis, x.shape.end());
  std::int64_t inner = k::product(normalized);
  std::int64_t outer = k::product(std::span<const std::int64_t>(x.shape).subspan(0, axis));
  std::vector<std::int64_t> offScale = parameterOffsets(scale.shape, normalized);
  std::vector<std::int64_t> offBias = hasBias ? parameterOffsets(v.in[2]->shape, normalized) : offScale;
  std::vector<double> h(inner), e(inner);
  auto n = static_cast<double>(inner);
  for (std::int64_t o = 0; o < outer; ++o) {
    const double *px = x.data.data() + o * inner;
    const double *pg = v.g.data() + o * inner;
    double mean = 0;
    for (std::int64_t i = 0; i < inner; ++i)
      mean += px[i];
    mean /= n;
    double var = 0;
    for (std::int64_t i = 0; i < inner; ++i)
      var += (px[i] - mean) * (px[i] - mean);
    var /= n;
    double sd = std::sqrt(var + epsilon);
    double meanE = 0, meanEH = 0;
    for (std::int64_t i = 0; i < inner; ++i) {
      h[i] = (px[i] - mean) / sd;
      e[i] = pg[i] * scale.data[offScale[i]];
      meanE += e[i];
      meanEH += e[i] * h[i];
      if (v.d[1])
        v.d[1][offScale[i]] += pg[i] * h[i];
      if (hasBias && v.d[2])
        v.d[2][offBias[i]] += pg[i];
    }
    meanE /= n;
    meanEH /= n;
    if (v.d[0])
      for (std::int64_t i = 0; i < inner; ++i)
        v.d[0][o * inner + i] += (e[i] - meanE - h[i] * meanEH) / sd;
  }
}

// y_i = x_i r s_i with r = (mean(x²) + ε)^(-1/2) and e = g·s over one slice of n:
// dx_j = r e_j - r³ x_j / n · Σ_i e_i x_i;  ds_i += g_i x_i r.
void rmsNormVjp(const Attrs &attrs, const Vjp &v) {
  const Tensor &x = *v.in[0], &scale = *v.in[1];
  std::int64_t axis = attrs.getInt("axis");
  double epsilon = attrs.getFloat("epsilon");
  Shape normalized(x.shape.begin() + axis, x.shape.end());
  std::int64_t inner = k::product(normalized);
  std::int64_t outer = k::product(std::span<const std::int64_t>(x.shape).subspan(0, axis));
  std::vector<std::int64_t> offScale = parameterOffsets(scale.shape, normalized);
  auto n = static_cast<double>(inner);
  for (std::int64_t o = 0; o < outer; ++o) {
    const double *px = x.data.data() + o * inner, *pg = v.g.data() + o * inner;
    double squares = 0, ex = 0;
    for (std::int64_t i = 0; i < inner; ++i)
      squares += px[i] * px[i];
    double r = 1.0 / std::sqrt(squares / n + epsilon);
    for (std::int64_t i = 0; i < inner; ++i) {
      ex += pg[i] * scale.data[offScale[i]] * px[i];
      if (v.d[1])
        v.d[1][offScale[i]] += pg[i] * px[i] * r;
    }
    if (v.d[0])
      for (std::int64_t i = 0; i < inner; ++i)
        v.d[0][o * inner + i] += r * pg[i] * scale.data[offScale[i]] - r * r * r * px[i] / n * ex;
  }
}

// Every input element receives the gradient of the output element it was
// summed into (divided by the count for the mean).
void reduceVjp(Op op, const Attrs &attrs, const Vjp &v) {
  const Tensor &x = *v.in[0];
  const auto &axes = attrs.getInts("axes");
  std::size_t rank = x.shape.size();
  Shape keptShape = x.shape;
  std::int64_t count = 1;
  for (std::int64_t axis : axes) {
    keptShape[axis] = 1;
    count *= x.shape[axis];
  }
  double factor = op == Op::ReduceMean ? 1.0 / static_cast<double>(count) : 1.0;
  std::vector<std::int64_t> strides = k::broadcastStrides(keptShape, x.shape);
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t off = 0;
  for (std::size_t i = 0; i < x.data.size(); ++i) {
    v.d[0][i] += v.g[off] * factor;
    for (std::size_t d = rank; d-- > 0;) {
      off += strides[d];
      if (++index[d] < x.shape[d])
        break;
      off -= strides[d] * x.shape[d];
      index[d] = 0;
    }
  }
}

// Movement ops copy elements without arithmetic, so the kernel run on element
// numbers (operand i holding offset_i, offset_i + 1, ...) tells where each
// output element came from; the gradient goes back the same way. Exact: the
// numbers stay far below 2^53.
void movementVjp(Op op, const Attrs &attrs, const Vjp &v) {
  std::size_t routed = op == Op::Gather ? 1 : v.in.size(); // gather's indices carry no gradient
  std::vector<Tensor> numbered;
  std::vector<std::int64_t> offsets;
  std::int64_t next = 0;
  for (std::size_t i = 0; i < v.in.size(); ++i) {
    if (i >= routed) {
      numbered.push_back(*v.in[i]);
      continue;
    }
    Tensor t;
    t.shape = v.in[i]->shape;
    t.data.resize(v.in[i]->data.size());
    offsets.push_back(next);
    for (double &e : t.data)
      e = static_cast<double>(next++);
    numbered.push_back(std::move(t));
  }
  Tensor source = evaluateOp(op, attrs, numbered, {})[0];
  for (std::size_t j = 0; j < source.data.size(); ++j) {
    auto s = static_cast<std::int64_t>(source.data[j]);
    std::size_t i = static_cast<std::size_t>(std::upper_bound(offsets.begin(), offsets.end(), s) - offsets.begin()) - 1;
    if (v.d[i])
      v.d[i][s - offsets[i]] += v.g[j];
  }
}

void applyVjp(const Node &node, const Vjp &v) {
  // No `default:`: an op added to ops.def without a gradient rule fails to
  // compile (-Werror=switch).
  switch (node.op) {
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits)
#define GAMMA_BOUND_OP(Id, keyword, min_operands, max_operands, num_results, traits) case Op::Id:
#include "ir/ops.def"
    fail("", "{}: bound-program op in a network graph", opKeyword(node.op));
  case Op::Input:
  case Op::Const:
    return;
  case Op::Relu: // subgradient 0 at the kink
    return unaryVjp(v, [](double x, double) { return x > 0 ? 1.0 : 0.0; });
  case Op::Sigmoid:
    return unaryVjp(v, [](double, double y) { return y * (1.0 - y); });
  case Op::Tanh:
    return unaryVjp(v, [](double, double y) { return 1.0 - y * y; });
  case Op::Exp:
    return unaryVjp(v, [](double, double y) { return y; });
  case Op::Log:
    return unaryVjp(v, [](double x, double) { return 1.0 / x; });
  case Op::Erf:
    return unaryVjp(v, [](double x, double) { return 2.0 / std::sqrt(std::numbers::pi) * std::exp(-x * x); });
  case Op::Sqrt:
    return unaryVjp(v, [](double, double y) { return 0.5 / y; });
  case Op::Silu: // σ(x)(1 + x(1 − σ(x)))
    return unaryVjp(v, [](double x, double) {
      double s = 1.0 / (1.0 + std::exp(-x));
      return s * (1.0 + x * (1.0 - s));
    });
  case Op::Gelu: // Φ(x) + x·φ(x)
    return unaryVjp(v, [](double x, double) {
      return 0.5 * std::erfc(-x / std::numbers::sqrt2) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi);
    });
  case Op::Neg:
    return unaryVjp(v, [](double, double) { return -1.0; });
  case Op::Abs: // subgradient 0 at the kink
    return unaryVjp(v, [](double x, double) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; });
  case Op::Add:
    return binaryVjp(v, [](double, double, double) { return Partials{1.0, 1.0}; });
  case Op::Sub:
    return binaryVjp(v, [](double, double, double) { return Partials{1.0, -1.0}; });
  case Op::Mul:
    return binaryVjp(v, [](double a, double b, double) { return Partials{b, a}; });
  case Op::Div:
    return binaryVjp(v, [](double a, double b, double) { return Partials{1.0 / b, -a / (b * b)}; });
  case Op::Pow:
    // d/db a^b = a^b ln a exists only for a > 0; elsewhere the exponent is
    // held fixed (integer exponents of negative bases are the common case).
    return binaryVjp(v, [](double a, double b, double y) {
      return Partials{b == 0 ? 0.0 : b * std::pow(a, b - 1), a > 0 ? y * std::log(a) : 0.0};
    });
  case Op::MatMul:
    return matmulVjp(v);
  case Op::Conv:
    return convVjp(node.attrs, v);
  case Op::BatchNorm:
    return batchNormVjp(node.attrs, v);
  case Op::MaxPool:
  case Op::AveragePool:
    return poolVjp(node.op, node.attrs, v);
  case Op::Softmax:
    return softmaxVjp(node.attrs, v);
  case Op::LayerNorm:
    return layerNormVjp(node.attrs, v);
  case Op::RmsNorm:
    return rmsNormVjp(node.attrs, v);
  case Op::ReduceMean:
  case Op::ReduceSum:
    return reduceVjp(node.op, node.attrs, v);
  case Op::Reshape:
  case Op::Transpose:
  case Op::Concat:
  case Op::Slice:
  case Op::Gather:
    return movementVjp(node.op, node.attrs, v);
  }
  GAMMA_ASSERT(false, "unknown op");
}

// evaluateOp with the node named in its errors, as ref::evaluate does.
std::vector<Tensor> evaluateNode(const Graph &graph, NodeId id, std::span<const Tensor> operands) {
  const Node &node = graph.node(id);
  std::vector<TensorType> resultTypes;
  for (ValueId v : node.results)
    resultTypes.push_back(graph.type(v));
  try {
    return evaluateOp(node.op, node.attrs, operands, resultTypes);
  } catch (const InputError &e) {
    fail("", "{}: {}", graph.describe(id), e.what());
  }
}

} // namespace

GradientEvaluator::GradientEvaluator(const Graph &graph) : graph_(graph) {
  std::vector<ValueId> inputIds = graph.inputs();
  if (inputIds.size() != 1)
    fail("", "gradient of graph '{}' needs exactly one input, it has {}", graph.name, inputIds.size());
  input_ = inputIds[0];
  for (ValueId v : graph.outputs())
    numOutputs_ += static_cast<std::size_t>(graph.type(v).numElements());
  varies_.assign(graph.numValues(), false);
  fixed_.resize(graph.numValues());
  linear_ = findLinearWeights(graph, 0); // weights read a row at a time, never materialised
  std::vector<Tensor> operands;
  for (NodeId id = 0; id < graph.numNodes(); ++id) {
    const Node &node = graph.node(id);
    if (node.op == Op::Input) {
      varies_[node.results[0]] = true;
      continue;
    }
    if (linear_.unused[node.results[0]])
      continue;
    if (node.op == Op::Const) {
      GAMMA_ASSERT(node.constant != nullptr, fmt::format("{} has no payload", graph.describe(id)));
      fixed_[node.results[0]] = Tensor::fromConstant(*node.constant);
      continue;
    }
    bool varies = false;
    for (ValueId v : node.operands)
      varies = varies || varies_[v];
    if (varies) {
      for (ValueId v : node.results)
        varies_[v] = true;
      continue;
    }
    if (node.op == Op::MatMul && linear_.unused[node.operands[1]]) {
      fixed_[node.results[0]] = k::linearRows(*fixed_[node.operands[0]], *linear_.rows[node.operands[1]]);
      continue;
    }
    operands.clear();
    for (ValueId v : node.operands)
      operands.push_back(*fixed_[v]);
    std::vector<Tensor> results = evaluateNode(graph, id, operands);
    for (std::size_t i = 0; i < results.size(); ++i)
      fixed_[node.results[i]] = std::move(results[i]);
  }
}

GradientResult GradientEvaluator::operator()(const Tensor &input, std::span<const double> weights) {
  const TensorType &inputType = graph_.type(input_);
  if (input.shape != inputType.shape || static_cast<std::int64_t>(input.data.size()) != inputType.numElements())
    fail("", "gradient input expects shape {}, got {} with {} values", shapeString(inputType.shape),
         shapeString(input.shape), input.data.size());
  if (weights.size() != numOutputs_)
    fail("", "gradient weights have {} entries for {} output elements", weights.size(), numOutputs_);

  // Forward over the input-dependent nodes only. Operands are moved into the
  // contiguous array evaluateOp takes and moved back afterwards, so weights
  // are never copied; a value used twice by one node is copied the second time.
  std::vector<Tensor> local(graph_.numValues());
  auto slot = [&](ValueId v) -> Tensor & { return varies_[v] ? local[v] : *fixed_[v]; };
  std::vector<Tensor> operands;
  for (NodeId id = 0; id < graph_.numNodes(); ++id) {
    const Node &node = graph_.node(id);
    if (node.op == Op::Input) {
      local[node.results[0]] = input;
      continue;
    }
    if (node.op == Op::Const || !varies_[node.results[0]])
      continue;
    if (const Constant *w = streamedWeight(node)) {
      local[node.results[0]] = k::linearRows(slot(node.operands[0]), *w);
      continue;
    }
    operands.clear();
    operands.reserve(node.operands.size());
    // first[i]: the first position of operand i's value among the operands.
    std::vector<std::size_t> first(node.operands.size());
    for (std::size_t i = 0; i < node.operands.size(); ++i) {
      first[i] = static_cast<std::size_t>(std::find(node.operands.begin(), node.operands.end(), node.operands[i]) -
                                          node.operands.begin());
      if (first[i] == i)
        operands.push_back(std::move(slot(node.operands[i])));
      else
        operands.push_back(operands[first[i]]);
    }
    auto restore = [&] {
      for (std::size_t i = 0; i < node.operands.size(); ++i)
        if (first[i] == i)
          slot(node.operands[i]) = std::move(operands[i]);
    };
    std::vector<Tensor> results;
    try {
      results = evaluateNode(graph_, id, operands);
    } catch (...) {
      restore();
      throw;
    }
    restore();
    for (std::size_t i = 0; i < results.size(); ++i)
      local[node.results[i]] = std::move(results[i]);
  }

  GradientResult result;
  for (ValueId v : graph_.outputs())
    result.outputs.insert(result.outputs.end(), slot(v).data.begin(), slot(v).data.end());

  // Backward. Gradient flows through input-dependent float values only:
  // integer values (indices) are piecewise constant. Empty means "zero so far".
  auto carries = [&](ValueId v) { return varies_[v] && isFloat(graph_.type(v).dtype); };
  std::vector<std::vector<double>> grads(graph_.numValues());
  auto gradOf = [&](ValueId v) -> std::vector<double> & {
    if (grads[v].empty())
      grads[v].assign(slot(v).data.size(), 0.0);
    return grads[v];
  };
  std::size_t offset = 0;
  for (ValueId v : graph_.outputs()) {
    std::size_t n = slot(v).data.size();
    if (carries(v)) {
      std::vector<double> &g = gradOf(v);
      for (std::size_t i = 0; i < n; ++i)
        g[i] += weights[offset + i];
    }
    offset += n;
  }
  std::vector<const Tensor *> in;
  std::vector<double *> d;
  for (NodeId id = static_cast<NodeId>(graph_.numNodes()); id-- > 0;) {
    const Node &node = graph_.node(id);
    if (node.op == Op::Input || node.op == Op::Const)
      continue;
    GAMMA_ASSERT(node.results.size() == 1, "gradient rules are written for single-result ops");
    ValueId out = node.results[0];
    if (grads[out].empty())
      continue;
    if (const Constant *w = streamedWeight(node)) {
      if (carries(node.operands[0])) {
        std::int64_t rows = static_cast<std::int64_t>(slot(node.operands[0]).data.size()) / w->type().shape[1];
        k::linearRowsVjp(*w, grads[out], gradOf(node.operands[0]).data(), rows);
      }
      grads[out] = {};
      continue;
    }
    in.clear();
    d.clear();
    for (ValueId v : node.operands) {
      in.push_back(&slot(v));
      d.push_back(carries(v) ? gradOf(v).data() : nullptr);
    }
    if (std::any_of(d.begin(), d.end(), [](double *p) { return p != nullptr; }))
      applyVjp(node, Vjp{in, slot(out), grads[out], d});
    grads[out] = {}; // every use of `out` comes later in program order, so nothing adds to it any more
  }

  if (grads[input_].empty())
    result.gradient.assign(input.data.size(), 0.0);
  else
    result.gradient = std::move(grads[input_]);
  return result;
}

const Constant *GradientEvaluator::streamedWeight(const Node &node) const {
  if (node.op != Op::MatMul || fixed_[node.operands[1]])
    return nullptr;
  return linear_.rows[node.operands[1]];
}

GradientResult inputGradient(const Graph &graph, const Tensor &input, std::span<const double> weights) {
  return GradientEvaluator(graph)(input, weights);
}

} // namespace gm::ref
