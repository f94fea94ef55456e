// Whole transformer blocks for the generator: one Qwen3 decoder block and one
// Whisper encoder block, built by the frontend's own block builders on random
// weights, so the fuzzer checks the composition the model importers emit
// (norms, heads, RoPE, the causal mask, softmax attention, gated and GELU
// MLPs, residuals) rather than each op on its own.
#pragma once

#include "ir/graph.h"
#include "test/fuzz/random.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gm::fuzz {

struct BlockResult {
  ValueId output;
  std::vector<std::string> tags; // sizes and variants drawn ("qwen3-gqa-4x2", ...)
};

// The hidden sizes each block takes: Qwen3 any in [8, 16] (its heads have
// their own width); Whisper 2 heads of 4..8, so an even size in [8, 16].
bool qwen3BlockHidden(std::int64_t hidden);
bool whisperBlockHidden(std::int64_t hidden);

// x is [1, tokens, hidden] with a hidden size the block takes; the result has
// x's type. Node names start with `name` as the model builders' do ("blk.0",
// "layers.0"), so a printed failure says which part of the block it is in.
BlockResult qwen3Block(Graph &g, ValueId x, Rng &rng, const std::string &name);
BlockResult whisperBlock(Graph &g, ValueId x, Rng &rng, const std::string &name);

} // namespace gm::fuzz
