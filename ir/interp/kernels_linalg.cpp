// Products: matmul (numpy semantics), conv (ONNX Conv, 1-3 spatial dims),
// batch_norm (inference form).
#include "ir/error.h"
#include "ir/interp/kernels.h"

#include <cmath>

namespace gm::ref::kernels {

Tensor linearRows(const Tensor &x, const Constant &w) {
  std::int64_t N = w.type().shape[0], K = w.type().shape[1];
  if (x.shape.empty() || x.shape.back() != K)
    fail("", "matmul inner dimensions differ: {} x [{},{}]", shapeString(x.shape), K, N);
  Shape outShape = x.shape;
  outShape.back() = N;
  Tensor y = makeTensor(outShape);
  std::int64_t rows = product(x.shape) / K;
  std::vector<double> row(static_cast<std::size_t>(K));
  for (std::int64_t j = 0; j < N; ++j) {
    w.decode(j * K, K, row.data());
    for (std::int64_t i = 0; i < rows; ++i) {
      const double *px = x.data.data() + i * K;
      double s = 0;
      for (std::int64_t p = 0; p < K; ++p)
        s += px[p] * row[p];
      y.data[i * N + j] = s;
    }
  }
  return y;
}

void linearRowsVjp(const Constant &w, std::span<const double> g, double *dx, std::int64_t rows) {
  std::int64_t N = w.type().shape[0], K = w.type().shape[1];
  std::vector<double> row(static_cast<std::size_t>(K));
  for (std::int64_t j = 0; j < N; ++j) {
    w.decode(j * K, K, row.data());
    for (std::int64_t i = 0; i < rows; ++i) {
      double gij = g[i * N + j];
      if (gij != 0)
        for (std::int64_t p = 0; p < K; ++p)
          dx[i * K + p] += gij * row[p];
    }
  }
}

Tensor matmul(const Tensor &a, const Tensor &b) {
  if (a.shape.empty() || b.shape.empty())
    fail("", "matmul of a scalar");
  // numpy: a 1-D left operand becomes [1,K], a 1-D right operand [K,1]; the
  // inserted dimension is removed from the result.
  Shape sa = a.shape, sb = b.shape;
  bool vecA = sa.size() == 1, vecB = sb.size() == 1;
  if (vecA)
    sa.insert(sa.begin(), 1);
  if (vecB)
    sb.push_back(1);
  std::int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  if (sb[sb.size() - 2] != k)
    fail("", "matmul inner dimensions differ: {} x {}", shapeString(a.shape), shapeString(b.shape));
  Shape batchA(sa.begin(), sa.end() - 2), batchB(sb.begin(), sb.end() - 2), batch;
  if (!broadcastShapes(batchA, batchB, batch))
    fail("", "matmul batch dimensions do not broadcast: {} x {}", shapeString(a.shape), shapeString(b.shape));

  // Batch strides in units of whole matrices.
  std::vector<std::int64_t> strideA = broadcastStrides(batchA, batch), strideB = broadcastStrides(batchB, batch);
  std::int64_t numBatches = product(batch);
  Shape outShape = batch;
  if (!vecA)
    outShape.push_back(m);
  if (!vecB)
    outShape.push_back(n);
  Tensor y = makeTensor(outShape);

  std::vector<std::int64_t> index(batch.size(), 0);
  for (std::int64_t t = 0; t < numBatches; ++t) {
    std::int64_t offA = 0, offB = 0;
    for (std::size_t d = 0; d < batch.size(); ++d) {
      offA += index[d] * strideA[d];
      offB += index[d] * strideB[d];
    }
    const double *pa = a.data.data() + offA * m * k;
    const double *pb = b.data.data() + offB * k * n;
    double *py = y.data.data() + t * m * n;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t p = 0; p < k; ++p) {
        double aip = pa[i * k + p];
        for (std::int64_t j = 0; j < n; ++j)
          py[i * n + j] += aip * pb[p * n + j];
      }
    for (std::size_t d = batch.size(); d-- > 0;) {
      if (++index[d] < batch[d])
        break;
      index[d] = 0;
    }
  }
  return y;
}

namespace {

// Spatial geometry padded to three dimensions (leading size-1 dims), so one
// loop nest serves 1-D, 2-D and 3-D.
struct Geometry3 {
  std::int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1};
  std::int64_t stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1}, padBegin[3] = {0, 0, 0};
};

void requireLength(const std::vector<std::int64_t> &v, std::size_t n, const char *name) {
  if (v.size() != n)
    fail("", "attribute '{}' has {} entries, expected {}", name, v.size(), n);
}

} // namespace

Tensor conv(const Attrs &attrs, std::span<const Tensor> operands) {
  const Tensor &x = operands[0], &w = operands[1];
  const Tensor *bias = operands.size() == 3 ? &operands[2] : nullptr;
  if (x.shape.size() < 3 || x.shape.size() > 5 || w.shape.size() != x.shape.size())
    fail("", "conv expects x [N,C,D...] with 1 to 3 spatial dims and matching weights, got {} and {}",
         shapeString(x.shape), shapeString(w.shape));
  std::size_t k = x.shape.size() - 2;
  std::int64_t batch = x.shape[0], channels = x.shape[1], m = w.shape[0], cPerGroup = w.shape[1];
  std::int64_t group = attrs.getInt("group");
  if (group < 1 || channels != cPerGroup * group || m % group != 0)
    fail("", "conv channels do not fit: input {}, weights {}, group {}", shapeString(x.shape),
         shapeString(w.shape), group);
  if (bias && bias->shape != Shape{m})
    fail("", "conv bias {} should be [{}]", shapeString(bias->shape), m);
  const auto &strides = attrs.getInts("strides");
  const auto &pads = attrs.getInts("pads");
  const auto &dilations = attrs.getInts("dilations");
  requireLength(strides, k, "strides");
  requireLength(pads, 2 * k, "pads");
  requireLength(dilations, k, "dilations");

  Geometry3 g;
  Shape outShape = {batch, m};
  for (std::size_t i = 0; i < k; ++i) {
    std::size_t s = 3 - k + i;
    g.in[s] = x.shape[2 + i];
    g.kernel[s] = w.shape[2 + i];
    g.stride[s] = strides[i];
    g.dilation[s] = dilations[i];
    g.padBegin[s] = pads[i];
    g.out[s] = windowCount(g.in[s], pads[i], pads[k + i], g.kernel[s], strides[i], dilations[i], false);
    outShape.push_back(g.out[s]);
  }
  Tensor y = makeTensor(outShape);

  std::int64_t mPerGroup = m / group;
  std::int64_t inPlane = g.in[0] * g.in[1] * g.in[2];
  std::int64_t outPlane = g.out[0] * g.out[1] * g.out[2];
  std::int64_t kernelSize = g.kernel[0] * g.kernel[1] * g.kernel[2];
  for (std::int64_t nb = 0; nb < batch; ++nb)
    for (std::int64_t oc = 0; oc < m; ++oc) {
      std::int64_t firstChannel = (oc / mPerGroup) * cPerGroup;
      double *py = y.data.data() + (nb * m + oc) * outPlane;
      for (std::int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (std::int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (std::int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            double sum = 0;
            for (std::int64_t c = 0; c < cPerGroup; ++c) {
              const double *px = x.data.data() + (nb * channels + firstChannel + c) * inPlane;
              const double *pw = w.data.data() + (oc * cPerGroup + c) * kernelSize;
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
                    sum += px[(i0 * g.in[1] + i1) * g.in[2] + i2] *
                           pw[(k0 * g.kernel[1] + k1) * g.kernel[2] + k2];
                  }
                }
              }
            }
            if (bias)
              sum += bias->data[oc];
            py[(o0 * g.out[1] + o1) * g.out[2] + o2] = sum;
          }
    }
  return y;
}

Tensor batchNorm(const Attrs &attrs, std::span<const Tensor> operands) {
  const Tensor &x = operands[0];
  if (x.shape.size() < 2)
    fail("", "batch_norm input {} has no channel dimension", shapeString(x.shape));
  std::int64_t channels = x.shape[1];
  for (std::size_t i = 1; i < 5; ++i)
    if (operands[i].shape != Shape{channels})
      fail("", "batch_norm parameter {} should be [{}]", shapeString(operands[i].shape), channels);
  const Tensor &scale = operands[1], &bias = operands[2], &mean = operands[3], &var = operands[4];
  double epsilon = attrs.getFloat("epsilon");
  std::int64_t inner = product(std::span(x.shape).subspan(2));
  Tensor y = makeTensor(x.shape);
  for (std::int64_t nb = 0; nb < x.shape[0]; ++nb)
    for (std::int64_t c = 0; c < channels; ++c) {
      double sd = std::sqrt(var.data[c] + epsilon);
      std::int64_t base = (nb * channels + c) * inner;
      for (std::int64_t i = 0; i < inner; ++i)
        y.data[base + i] = (x.data[base + i] - mean.data[c]) / sd * scale.data[c] + bias.data[c];
    }
  return y;
}

} // namespace gm::ref::kernels
