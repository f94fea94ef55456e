// Each block is assembled exactly as frontend/transformers/qwen3_graph.cpp and
// whisper_graph.cpp assemble theirs, from the same builders, with constants
// where those read weight files.
//
// Weights follow the scales of shared/reference/transformers/README.md (and
// synth_models.h), widened: a Linear N(0, g/√fan_in) with a gain g drawn per
// matrix around the README's 0.8, norm weights 1 + N(0, σ) with σ sometimes
// far from the README's 0.1 (trained q/k norms are), biases sometimes larger
// than its 0.02. Every draw is its own statement: a case must be the same with
// every compiler, and argument evaluation order is unspecified.
#include "test/fuzz/transformer_patterns.h"

#include "frontend/transformers/decoder_blocks.h"
#include "frontend/transformers/transformer_blocks.h"
#include "ir/error.h"

#include <fmt/format.h>

#include <cmath>
#include <optional>

namespace gm::fuzz {

namespace {

using transformers::linear;

class Weights {
public:
  Weights(Graph &g, Rng &rng) : g_(g), rng_(rng) {
    normSigma_ = rng_.chance(0.7) ? 0.1 : 0.5;
    biasSigma_ = rng_.chance(0.7) ? 0.02 : 0.3;
  }

  // [out, in], the HF/PyTorch layout transformers::linear takes.
  ValueId matrix(std::int64_t out, std::int64_t in, const std::string &name) {
    double gain = rng_.uniform(0.4, 1.6);
    return normal({out, in}, 0.0, gain / std::sqrt(static_cast<double>(in)), name);
  }
  ValueId norm(std::int64_t size, const std::string &name) { return normal({size}, 1.0, normSigma_, name); }
  ValueId bias(std::int64_t size, const std::string &name) { return normal({size}, 0.0, biasSigma_, name); }

private:
  Graph &g_;
  Rng &rng_;
  double normSigma_, biasSigma_;

  ValueId normal(Shape shape, double mean, double sigma, const std::string &name) {
    std::vector<double> values(static_cast<std::size_t>(numElements(shape)));
    for (double &v : values)
      v = mean + sigma * rng_.normal();
    return g_.addConst(Constant::fromDoubles({DType::F32, std::move(shape)}, values), name);
  }
};

std::int64_t hiddenOf(const Graph &g, ValueId x, std::int64_t &tokens) {
  const Shape &s = g.type(x).shape;
  GAMMA_ASSERT(s.size() == 3 && s[0] == 1, "a block's input is [1, tokens, hidden]");
  tokens = s[1];
  return s[2];
}

} // namespace

bool qwen3BlockHidden(std::int64_t hidden) { return hidden >= 8 && hidden <= 16; }
bool whisperBlockHidden(std::int64_t hidden) { return hidden >= 8 && hidden <= 16 && hidden % 2 == 0; }

BlockResult qwen3Block(Graph &g, ValueId x, Rng &rng, const std::string &name) {
  std::int64_t tokens = 0;
  const std::int64_t hidden = hiddenOf(g, x, tokens);
  GAMMA_ASSERT(qwen3BlockHidden(hidden), "qwen3Block: hidden size out of range");
  // Grouped-query attention as Qwen3 has it: 2 query heads per key/value head.
  const std::int64_t kvHeads = rng.chance(0.7) ? 1 : 2, heads = 2 * kvHeads;
  const std::int64_t headDim = 2 * rng.integer(2, 4), feedForward = rng.integer(16, 32);
  const double ropeBase = rng.chance(0.5) ? 1e6 : 1e4, epsilon = 1e-6;
  Weights w(g, rng);
  BlockResult r;
  r.tags = {fmt::format("qwen3-gqa-{}x{}", heads, kvHeads), fmt::format("qwen3-head-dim-{}", headDim)};
  if (tokens == 1)
    r.tags.push_back("qwen3-one-token");

  const transformers::RopeTables rope = transformers::ropeTables(g, tokens, headDim, ropeBase, name + ".rope");
  const ValueId mask = transformers::causalMask(g, tokens, name + ".causal_mask");

  ValueId attnNorm = w.norm(hidden, name + ".attn_norm.weight");
  ValueId h = transformers::rmsNorm(g, x, attnNorm, epsilon, name + ".attn_norm");
  // Q or K: projection, heads, per-head RMSNorm, RoPE.
  auto rotatedHeads = [&](const char *part, std::int64_t count) {
    std::string proj = fmt::format("{}.attn_{}", name, part);
    ValueId weight = w.matrix(count * headDim, hidden, proj + ".weight");
    ValueId projected = linear(g, h, weight, std::nullopt, proj);
    ValueId split = transformers::splitHeads(g, projected, count, proj);
    ValueId normWeight = w.norm(headDim, proj + "_norm.weight");
    ValueId normed = transformers::rmsNorm(g, split, normWeight, epsilon, proj + "_norm");
    return transformers::ropeNeox(g, normed, rope, proj + ".rope");
  };
  ValueId q = rotatedHeads("q", heads);
  ValueId scale =
      transformers::scalarConstant(g, 1.0 / std::sqrt(static_cast<double>(headDim)), name + ".attn.scale");
  ValueId qScaled = g.add1(Op::Mul, {q, scale}, {}, name + ".attn_q.scaled");
  ValueId k = rotatedHeads("k", kvHeads);
  ValueId wv = w.matrix(kvHeads * headDim, hidden, name + ".attn_v.weight");
  ValueId v = transformers::splitHeads(g, linear(g, h, wv, std::nullopt, name + ".attn_v"), kvHeads,
                                       name + ".attn_v");
  ValueId context = transformers::attention(g, qScaled, k, v, mask, name + ".attn");
  ValueId merged = transformers::mergeHeads(g, context, name + ".attn.context");
  ValueId wo = w.matrix(hidden, heads * headDim, name + ".attn_output.weight");
  ValueId attn = linear(g, merged, wo, std::nullopt, name + ".attn_output");
  ValueId x1 = g.add1(Op::Add, {x, attn}, {}, name + ".attn.residual");

  ValueId ffnNorm = w.norm(hidden, name + ".ffn_norm.weight");
  ValueId h2 = transformers::rmsNorm(g, x1, ffnNorm, epsilon, name + ".ffn_norm");
  ValueId wGate = w.matrix(feedForward, hidden, name + ".ffn_gate.weight");
  ValueId gate = transformers::silu(g, linear(g, h2, wGate, std::nullopt, name + ".ffn_gate"), name + ".ffn_silu");
  ValueId wUp = w.matrix(feedForward, hidden, name + ".ffn_up.weight");
  ValueId up = linear(g, h2, wUp, std::nullopt, name + ".ffn_up");
  ValueId gated = g.add1(Op::Mul, {gate, up}, {}, name + ".ffn_gated");
  ValueId wDown = w.matrix(hidden, feedForward, name + ".ffn_down.weight");
  ValueId down = linear(g, gated, wDown, std::nullopt, name + ".ffn_down");
  r.output = g.add1(Op::Add, {x1, down}, {}, name + ".ffn.residual");
  return r;
}

BlockResult whisperBlock(Graph &g, ValueId x, Rng &rng, const std::string &name) {
  std::int64_t tokens = 0;
  const std::int64_t hidden = hiddenOf(g, x, tokens);
  GAMMA_ASSERT(whisperBlockHidden(hidden), "whisperBlock: hidden size out of range");
  const std::int64_t heads = 2, feedForward = rng.integer(16, 32);
  const double epsilon = 1e-5;
  Weights w(g, rng);
  BlockResult r;
  r.tags = {fmt::format("whisper-head-dim-{}", hidden / heads)};

  auto layerNorm = [&](ValueId in, const std::string &part) {
    ValueId scale = w.norm(hidden, part + ".weight");
    ValueId bias = w.bias(hidden, part + ".bias");
    return transformers::layerNorm(g, in, scale, bias, epsilon, part);
  };
  // Whisper's q and v projections have a bias, its k projection none.
  auto projection = [&](ValueId in, const std::string &part, bool hasBias) {
    ValueId weight = w.matrix(hidden, hidden, part + ".weight");
    std::optional<ValueId> bias;
    if (hasBias)
      bias = w.bias(hidden, part + ".bias");
    return linear(g, in, weight, bias, part);
  };

  std::string attnName = name + ".self_attn";
  ValueId h = layerNorm(x, name + ".self_attn_layer_norm");
  ValueId qProj = projection(h, attnName + ".q_proj", true);
  // HF scales q after its bias, not the scores.
  ValueId scale = transformers::scalarConstant(g, 1.0 / std::sqrt(static_cast<double>(hidden / heads)),
                                               attnName + ".scaling");
  ValueId q = g.add1(Op::Mul, {qProj, scale}, {}, attnName + ".q_scaled");
  ValueId k = projection(h, attnName + ".k_proj", false);
  ValueId v = projection(h, attnName + ".v_proj", true);
  ValueId qHeads = transformers::splitHeads(g, q, heads, attnName + ".q");
  ValueId kHeads = transformers::splitHeads(g, k, heads, attnName + ".k");
  ValueId vHeads = transformers::splitHeads(g, v, heads, attnName + ".v");
  ValueId context = transformers::attention(g, qHeads, kHeads, vHeads, std::nullopt, attnName);
  ValueId attn = projection(transformers::mergeHeads(g, context, attnName + ".context"), attnName + ".out_proj", true);
  ValueId x1 = g.add1(Op::Add, {x, attn}, {}, attnName + ".residual");

  ValueId h2 = layerNorm(x1, name + ".final_layer_norm");
  ValueId w1 = w.matrix(feedForward, hidden, name + ".fc1.weight");
  ValueId b1 = w.bias(feedForward, name + ".fc1.bias");
  ValueId f = transformers::geluErf(g, linear(g, h2, w1, b1, name + ".fc1"), name + ".activation");
  ValueId w2 = w.matrix(hidden, feedForward, name + ".fc2.weight");
  ValueId b2 = w.bias(hidden, name + ".fc2.bias");
  ValueId ffn = linear(g, f, w2, b2, name + ".fc2");
  r.output = g.add1(Op::Add, {x1, ffn}, {}, name + ".ffn.residual");
  return r;
}

} // namespace gm::fuzz
