// Builders for the pieces transformers share (Linear, LayerNorm, GELU,
// multi-head attention), written once in IR ops so the Whisper encoder, Qwen3
// and later models spell each block the same way and the bound code sees the
// same patterns. Each builder names its nodes `name` or `name.<part>`, so the
// printed IR and error messages say which layer a node belongs to.
//
// Activations are [batch, tokens, features] f32 tensors; weights are values
// (usually constants) already in that dtype.
#pragma once

#include "ir/graph.h"

#include <optional>
#include <string>

namespace gm::transformers {

// A scalar f32 constant (broadcasts against any activation).
ValueId scalarConstant(Graph &g, double value, const std::string &name);

// x·Wᵀ + b with W in the HF/PyTorch Linear layout [out, in]. The transpose is
// a node on the mapped weight rather than a transposed copy: the file stays the
// only storage, and constant folding (bounds) or codegen can fold it.
ValueId linear(Graph &g, ValueId x, ValueId weight, std::optional<ValueId> bias, const std::string &name);

// LayerNorm over the last axis.
ValueId layerNorm(Graph &g, ValueId x, ValueId scale, std::optional<ValueId> bias, double epsilon,
                  const std::string &name);

// GELU in its exact form 0.5·x·(1 + erf(x/√2)) (torch's default, HF "gelu").
ValueId geluErf(Graph &g, ValueId x, const std::string &name);

// [B, T, H·D] → [B, H, T, D] and back. Heads become a batch dimension of the
// attention products, so the IR shows them without one node per head.
ValueId splitHeads(Graph &g, ValueId x, std::int64_t heads, const std::string &name);
ValueId mergeHeads(Graph &g, ValueId x, const std::string &name);

// softmax(q·kᵀ + mask)·v over the key axis, per head. q is [B, H, T, D] and
// already scaled; k and v are [B, Hkv, S, D] with Hkv dividing H (grouped-query
// attention: query head h reads key/value head h / (H / Hkv)). The optional
// additive mask broadcasts to [B, H, T, S]. Returns [B, H, T, D].
ValueId attention(Graph &g, ValueId q, ValueId k, ValueId v, std::optional<ValueId> mask, const std::string &name);

} // namespace gm::transformers
