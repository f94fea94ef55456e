// Builders for the pieces decoder-only LLMs (Qwen3, Llama, ...) add to
// transformer_blocks.h: RMSNorm, SiLU, rotary position embedding and the
// causal mask. Norms and activations are single ops (rms_norm, silu) because
// their interval rules need the whole function: spelled as separate ops,
// x / rms(x) loses |x_i| <= sqrt(N)·rms(x) and x·sigmoid(x) loses that both
// factors move together. RoPE and the mask are plain ops. Naming as in
// transformer_blocks.h: `name` or `name.<part>`.
#pragma once

#include "ir/graph.h"

#include <cstdint>
#include <string>

namespace gm::transformers {

// x / sqrt(mean(x², last axis) + ε) · scale, as llama.cpp's rms_norm followed
// by the weight multiply. `scale` broadcasts over the last axis.
ValueId rmsNorm(Graph &g, ValueId x, ValueId scale, double epsilon, const std::string &name);

// x · sigmoid(x) (SiLU, "swish").
ValueId silu(Graph &g, ValueId x, const std::string &name);

// Rotary tables for NEOX-style RoPE: cos and sin of position·θ_j for
// positions 0..tokens-1, θ_j = base^(−2j/headDim), each of [tokens, headDim]
// with column i using θ_(i mod headDim/2). Computed in double, stored f32.
struct RopeTables {
  ValueId cos, sin;
};
RopeTables ropeTables(Graph &g, std::int64_t tokens, std::int64_t headDim, double base, const std::string &name);

// NEOX RoPE on x [..., tokens, headDim]: dimension i is rotated with
// i + headDim/2, i.e. x·cos + rotate_half(x)·sin with
// rotate_half(x) = concat(−x[..., D/2:], x[..., :D/2]).
ValueId ropeNeox(Graph &g, ValueId x, const RopeTables &tables, const std::string &name);

// The additive causal mask [tokens, tokens]: 0 where key ≤ query, kMaskedScore
// above the diagonal.
ValueId causalMask(Graph &g, std::int64_t tokens, const std::string &name);

// Finite rather than −inf: exp of it is exactly 0 in f32 and f64 (so the
// softmax is the masked one), while interval and linear bounds stay free of
// inf − inf and 0·inf, which would turn an unbounded score into NaN.
constexpr double kMaskedScore = -1e30;

} // namespace gm::transformers
