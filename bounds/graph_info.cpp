#include "bounds/engine.h"

#include "ir/error.h"
#include "ir/interp/kernels.h"

#include <algorithm>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <numeric>

namespace gm::bounds {

GraphInfo::GraphInfo(const Graph &g, std::int64_t streamWeightsFrom, bool oneInput) : graph(g) {
#ifdef __GLIBC__
  // Backward passes allocate and free coefficient matrices of megabytes per
  // layer; keep them on the heap instead of a fresh mmap (and page faults) each time.
  static const bool tuned = [] {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    return true;
  }();
  (void)tuned;
#endif
  std::vector<ValueId> inputs = g.inputs();
  if (inputs.size() != 1 && (oneInput || inputs.empty()))
    fail("", "bounds need a model with exactly one input; this one has {}", inputs.size());
  if (g.outputs().size() != 1)
    fail("", "bounds need a model with exactly one output; this one has {}", g.outputs().size());
  input = inputs[0];
  output = g.outputs()[0];
  bounded.assign(g.numValues(), false);
  consts.resize(g.numValues());
  users.resize(g.numValues());
  streamed.assign(g.numValues(), nullptr);
  simplexRows.assign(g.numValues(), false);
  for (const Node &node : g.nodes()) {
    std::int64_t axis = -1;
    if (node.op == Op::Softmax && normalizeAxis(node.attrs.getInt("axis"), g.type(node.results[0]).rank(), axis))
      simplexRows[node.results[0]] = axis + 1 == static_cast<std::int64_t>(g.type(node.results[0]).rank());
  }
  LinearWeights linear;
  if (streamWeightsFrom >= 0)
    linear = findLinearWeights(g, streamWeightsFrom);
  for (NodeId n = 0; n < g.numNodes(); ++n) {
    const Node &node = g.node(n);
    if (!linear.unused.empty() && linear.unused[node.results[0]] && node.results[0] != g.outputs()[0]) {
      // A weight, or its transpose, that only row-reading matmuls use: left
      // in the model file, never folded.
      streamed[node.results[0]] = linear.rows[node.results[0]];
      for (ValueId v : node.operands)
        users[v].push_back(n);
      continue;
    }
    bool any = node.op == Op::Input;
    for (ValueId v : node.operands) {
      any = any || bounded[v];
      users[v].push_back(n);
    }
    if (any) {
      for (ValueId r : node.results)
        bounded[r] = true;
      continue;
    }
    // Constant subexpression: folded in float64 by the reference interpreter
    // (the importer has already folded most; what is left is movement of
    // weights, which is exact).
    if (node.op == Op::MatMul && streamed[node.operands[1]]) {
      consts[node.results[0]] = ref::kernels::linearRows(*consts[node.operands[0]], *streamed[node.operands[1]]);
      continue;
    }
    std::vector<ref::Tensor> operands;
    for (ValueId v : node.operands)
      operands.push_back(*consts[v]);
    std::vector<ref::Tensor> results;
    if (node.op == Op::Const) {
      results.push_back(ref::Tensor::fromConstant(*node.constant));
    } else {
      std::vector<TensorType> types;
      for (ValueId r : node.results)
        types.push_back(g.type(r));
      results = ref::evaluateOp(node.op, node.attrs, operands, types);
    }
    for (std::size_t i = 0; i < node.results.size(); ++i)
      consts[node.results[i]] = std::move(results[i]);
  }
  if (!bounded[output])
    fail("", "the model output does not depend on its input");
}

namespace {

// Offsets of every element of `walk` (row-major) under `stride`.
std::vector<std::int64_t> stridedOffsets(const Shape &walk, const std::vector<std::int64_t> &stride) {
  std::int64_t n = numElements(walk);
  std::size_t rank = walk.size();
  std::vector<std::int64_t> index(n);
  std::vector<std::int64_t> pos(rank, 0);
  std::int64_t off = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    index[i] = off;
    for (std::size_t d = rank; d-- > 0;) {
      off += stride[d];
      if (++pos[d] < walk[d])
        break;
      off -= stride[d] * walk[d];
      pos[d] = 0;
    }
  }
  return index;
}

} // namespace

std::vector<std::int64_t> broadcastIndex(const Shape &in, const Shape &out) {
  std::size_t rank = out.size();
  std::vector<std::int64_t> stride(rank, 0);
  std::int64_t s = 1;
  for (std::size_t d = 0; d < in.size(); ++d) {
    std::size_t od = rank - 1 - d, id = in.size() - 1 - d;
    stride[od] = in[id] == 1 ? 0 : s;
    s *= in[id];
  }
  return stridedOffsets(out, stride);
}

MovementMap movementMap(const GraphInfo &info, NodeId id) {
  const Node &node = info.graph.node(id);
  // Encode (operand, element) as operand * stride + element in the data; the
  // element numbers stay below 2^53 so doubles carry them exactly.
  std::int64_t stride = 0;
  for (ValueId v : node.operands)
    stride = std::max<std::int64_t>(stride, info.size(v));
  std::vector<ref::Tensor> operands;
  std::vector<std::uint32_t> numbered;
  for (std::size_t k = 0; k < node.operands.size(); ++k) {
    ValueId v = node.operands[k];
    if (node.op == Op::Gather && k == 1) { // the indices: their real values
      if (!info.consts[v])
        fail(info.where(id), "gather with input-dependent indices cannot be bounded");
      operands.push_back(*info.consts[v]);
      continue;
    }
    ref::Tensor t{info.shape(v), std::vector<double>(info.size(v))};
    for (std::size_t i = 0; i < t.data.size(); ++i)
      t.data[i] = static_cast<double>(static_cast<std::int64_t>(k) * stride + static_cast<std::int64_t>(i));
    operands.push_back(std::move(t));
    numbered.push_back(static_cast<std::uint32_t>(k));
  }
  std::vector<TensorType> types = {info.graph.type(node.results[0])};
  types[0].dtype = DType::F64;
  ref::Tensor out = ref::evaluateOp(node.op, node.attrs, operands, types)[0];
  MovementMap map;
  map.operand.resize(out.data.size());
  map.element.resize(out.data.size());
  for (std::size_t i = 0; i < out.data.size(); ++i) {
    auto code = static_cast<std::int64_t>(out.data[i]);
    map.operand[i] = static_cast<std::uint32_t>(code / stride);
    map.element[i] = code % stride;
  }
  return map;
}

std::vector<std::int64_t> reduceIndex(const Shape &in, const std::vector<std::int64_t> &axes) {
  // The output element of input element i is i's position in the kept-dims
  // shape: walk `in` with the kept shape's strides (0 along reduced axes).
  Shape kept = in;
  for (std::int64_t a : axes)
    kept[a] = 1;
  std::vector<std::int64_t> stride(in.size(), 0);
  std::int64_t s = 1;
  for (std::size_t d = in.size(); d-- > 0;) {
    stride[d] = kept[d] == 1 ? 0 : s;
    s *= kept[d];
  }
  return stridedOffsets(in, stride);
}

void forEachWindow(const GraphInfo &info, NodeId id, const WindowVisitor &visit) {
  const Node &node = info.graph.node(id);
  const Shape &xs = info.shape(node.operands[0]);
  const Shape &ys = info.shape(node.results[0]);
  std::size_t k = xs.size() - 2;
  bool isConv = node.op == Op::Conv;
  std::vector<std::int64_t> kernel, strides = node.attrs.getInts("strides"), pads = node.attrs.getInts("pads");
  std::vector<std::int64_t> dil(k, 1);
  std::int64_t group = 1, outChannels = ys[1], inPerGroup = 1;
  if (isConv) {
    const Shape &ws = info.shape(node.operands[1]);
    kernel.assign(ws.begin() + 2, ws.end());
    dil = node.attrs.getInts("dilations");
    group = node.attrs.getInt("group");
    inPerGroup = ws[1];
  } else {
    kernel = node.attrs.getInts("kernel");
    if (node.op == Op::MaxPool)
      dil = node.attrs.getInts("dilations");
  }
  bool countPad = node.op == Op::AveragePool && node.attrs.getInt("count_include_pad") != 0;
  // Pad to 3 spatial dims so one loop nest serves 1-3.
  std::int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, ker[3] = {1, 1, 1}, st[3] = {1, 1, 1}, dl[3] = {1, 1, 1},
               pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
  for (std::size_t i = 0; i < k; ++i) {
    std::size_t s = 3 - k + i;
    in[s] = xs[2 + i];
    out[s] = ys[2 + i];
    ker[s] = kernel[i];
    st[s] = strides[i];
    dl[s] = dil[i];
    pb[s] = pads[i];
    pe[s] = pads[k + i];
  }
  std::int64_t inPlane = in[0] * in[1] * in[2];
  std::int64_t kerSize = ker[0] * ker[1] * ker[2];
  std::int64_t batch = xs[0], channels = xs[1];
  std::int64_t outPerGroup = outChannels / group;
  std::vector<Tap> taps;
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t oc = 0; oc < outChannels; ++oc)
      for (std::int64_t o0 = 0; o0 < out[0]; ++o0)
        for (std::int64_t o1 = 0; o1 < out[1]; ++o1)
          for (std::int64_t o2 = 0; o2 < out[2]; ++o2) {
            std::int64_t o = ((b * outChannels + oc) * out[0] + o0) * out[1] * out[2] + o1 * out[2] + o2;
            taps.clear();
            std::int64_t padded = 1;
            std::int64_t oo[3] = {o0, o1, o2};
            for (int d = 0; d < 3; ++d) {
              std::int64_t c = 0;
              for (std::int64_t t = 0; t < ker[d]; ++t)
                if (oo[d] * st[d] - pb[d] + t * dl[d] < in[d] + pe[d])
                  ++c;
              padded *= c;
            }
            std::int64_t c0 = isConv ? (oc / outPerGroup) * inPerGroup : oc;
            std::int64_t cn = isConv ? inPerGroup : 1;
            for (std::int64_t c = 0; c < cn; ++c)
              for (std::int64_t t0 = 0; t0 < ker[0]; ++t0) {
                std::int64_t i0 = o0 * st[0] - pb[0] + t0 * dl[0];
                if (i0 < 0 || i0 >= in[0])
                  continue;
                for (std::int64_t t1 = 0; t1 < ker[1]; ++t1) {
                  std::int64_t i1 = o1 * st[1] - pb[1] + t1 * dl[1];
                  if (i1 < 0 || i1 >= in[1])
                    continue;
                  for (std::int64_t t2 = 0; t2 < ker[2]; ++t2) {
                    std::int64_t i2 = o2 * st[2] - pb[2] + t2 * dl[2];
                    if (i2 < 0 || i2 >= in[2])
                      continue;
                    std::int64_t i = (b * channels + c0 + c) * inPlane + (i0 * in[1] + i1) * in[2] + i2;
                    std::int64_t wi = isConv ? (oc * inPerGroup + c) * kerSize + (t0 * ker[1] + t1) * ker[2] + t2 : 0;
                    taps.push_back({o, i, wi});
                  }
                }
              }
            visit(o, taps, countPad ? padded : static_cast<std::int64_t>(taps.size()));
          }
}

WindowTaps windowTaps(const GraphInfo &info, NodeId id) {
  WindowTaps w;
  std::vector<std::int64_t> fanOut(info.size(info.graph.node(id).operands[0]), 0);
  bool average = info.graph.node(id).op == Op::AveragePool;
  forEachWindow(info, id, [&](std::int64_t, std::span<const Tap> taps, std::int64_t divisor) {
    w.taps.insert(w.taps.end(), taps.begin(), taps.end());
    for (const Tap &t : taps)
      ++fanOut[t.in];
    w.maxFanIn = std::max(w.maxFanIn, static_cast<std::int64_t>(taps.size()));
    if (average)
      w.divisor.push_back(divisor);
  });
  for (std::int64_t f : fanOut)
    w.maxFanOut = std::max(w.maxFanOut, f);
  return w;
}

Interval intervalOf(const GraphInfo &info, ValueId v, const std::vector<Interval> &intervals) {
  if (info.bounded[v])
    return intervals[v];
  return Interval{info.consts[v]->data, info.consts[v]->data};
}

void checkDeadline(const std::optional<std::chrono::steady_clock::time_point> *deadline) {
  if (deadline && *deadline && std::chrono::steady_clock::now() > **deadline)
    throw Timeout();
}

} // namespace gm::bounds
