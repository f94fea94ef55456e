// Pooling: max_pool and average_pool over 1-3 spatial dims, ONNX semantics.
//
// Window o of a spatial dim covers input positions o*stride - padBegin +
// t*dilation, t = 0..kernel-1 (as in the ONNX spec, PyTorch and onnxruntime).
// With ceil_mode the output may have one more window, whose end runs past the
// end padding; a window that would start inside the end padding is dropped.
//   max_pool:      max over the taps inside the input; padding never wins.
//   average_pool:  sum over the taps inside the input, divided by
//                  count_include_pad = 0: the number of those taps;
//                  count_include_pad = 1: the number of taps inside the padded
//                  input [-padBegin, size + padEnd), so the part of a ceil-mode
//                  window beyond the end padding is not counted (PyTorch;
//                  onnxruntime from opset 19).
#include "ir/error.h"
#include "ir/interp/kernels.h"

#include <cmath>
#include <limits>

namespace gm::ref::kernels {

namespace {

struct PoolGeometry {
  std::int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1};
  std::int64_t stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1};
  std::int64_t padBegin[3] = {0, 0, 0}, padEnd[3] = {0, 0, 0};
  Shape outShape;
};

PoolGeometry poolGeometry(const Attrs &attrs, const Tensor &x, bool hasDilations) {
  if (x.shape.size() < 3 || x.shape.size() > 5)
    fail("", "expected [N,C,D...] with 1 to 3 spatial dims, got {}", shapeString(x.shape));
  std::size_t k = x.shape.size() - 2;
  const auto &kernel = attrs.getInts("kernel");
  const auto &strides = attrs.getInts("strides");
  const auto &pads = attrs.getInts("pads");
  std::vector<std::int64_t> dilations = hasDilations ? attrs.getInts("dilations") : std::vector<std::int64_t>(k, 1);
  if (kernel.size() != k || strides.size() != k || pads.size() != 2 * k || dilations.size() != k)
    fail("", "pool attributes do not match {} spatial dims", k);
  bool ceilMode = attrs.getInt("ceil_mode") != 0;
  PoolGeometry g;
  g.outShape = {x.shape[0], x.shape[1]};
  for (std::size_t i = 0; i < k; ++i) {
    std::size_t s = 3 - k + i;
    g.in[s] = x.shape[2 + i];
    g.kernel[s] = kernel[i];
    g.stride[s] = strides[i];
    g.dilation[s] = dilations[i];
    g.padBegin[s] = pads[i];
    g.padEnd[s] = pads[k + i];
    g.out[s] = windowCount(g.in[s], pads[i], pads[k + i], kernel[i], strides[i], dilations[i], ceilMode);
    g.outShape.push_back(g.out[s]);
  }
  return g;
}

enum class PoolKind { Max, Average };

Tensor pool(const PoolGeometry &g, const Tensor &x, PoolKind kind, bool countIncludePad) {
  Tensor y = makeTensor(g.outShape);
  std::int64_t planes = x.shape[0] * x.shape[1];
  std::int64_t inPlane = g.in[0] * g.in[1] * g.in[2];
  std::int64_t outPlane = g.out[0] * g.out[1] * g.out[2];
  for (std::int64_t p = 0; p < planes; ++p) {
    const double *px = x.data.data() + p * inPlane;
    double *py = y.data.data() + p * outPlane;
    std::int64_t o[3];
    for (o[0] = 0; o[0] < g.out[0]; ++o[0])
      for (o[1] = 0; o[1] < g.out[1]; ++o[1])
        for (o[2] = 0; o[2] < g.out[2]; ++o[2]) {
          // Per dim: the taps inside the input, and (for the divisor) the
          // number of taps inside the padded input.
          std::int64_t padded[3];
          for (int d = 0; d < 3; ++d) {
            padded[d] = 0;
            for (std::int64_t t = 0; t < g.kernel[d]; ++t) {
              std::int64_t i = o[d] * g.stride[d] - g.padBegin[d] + t * g.dilation[d];
              if (i < g.in[d] + g.padEnd[d])
                ++padded[d];
            }
          }
          double acc = kind == PoolKind::Max ? -std::numeric_limits<double>::infinity() : 0.0;
          std::int64_t inside = 0;
          bool nan = false;
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
                if (i2 < 0 || i2 >= g.in[2])
                  continue;
                double v = px[(i0 * g.in[1] + i1) * g.in[2] + i2];
                ++inside;
                if (std::isnan(v))
                  nan = true;
                else if (kind == PoolKind::Max)
                  acc = v > acc ? v : acc;
                else
                  acc += v;
              }
            }
          }
          double result;
          if (nan)
            result = std::numeric_limits<double>::quiet_NaN();
          else if (kind == PoolKind::Max)
            result = acc; // -inf for a window with no input tap
          else {
            std::int64_t divisor = countIncludePad ? padded[0] * padded[1] * padded[2] : inside;
            result = acc / static_cast<double>(divisor); // 0/0 = NaN for an empty window
          }
          py[(o[0] * g.out[1] + o[1]) * g.out[2] + o[2]] = result;
        }
  }
  return y;
}

} // namespace

Tensor maxPool(const Attrs &attrs, const Tensor &x) {
  return pool(poolGeometry(attrs, x, true), x, PoolKind::Max, false);
}

Tensor averagePool(const Attrs &attrs, const Tensor &x) {
  return pool(poolGeometry(attrs, x, false), x, PoolKind::Average, attrs.getInt("count_include_pad") != 0);
}

} // namespace gm::ref::kernels
