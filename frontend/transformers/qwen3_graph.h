// The Qwen3 decoder (llama.cpp's `qwen3` architecture, GGUF v3) as an explicit
// gamma IR graph. Token ids are fixed when the graph is built; the graph's
// input is their embedding rows x: f32[1, T, n_embd] (what a verifier
// perturbs), its output the logits f32[1, T, n_vocab] (or [1, 1, n_vocab]).
//
// Every hyperparameter comes from the GGUF metadata; tensors only have to
// agree with it. F32 weights stay in the mapped file; other types are
// dequantized to f32 (GgufWeights).
#pragma once

#include "frontend/gguf/gguf_reader.h"
#include "ir/graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gm::transformers {

struct Qwen3Options {
  std::vector<std::int64_t> tokens; // positions 0..T-1
  // Logits of the last position only ([1, 1, n_vocab]): the LM head, the
  // largest matmul, then runs on one row instead of T.
  bool lastPositionOnly = false;
};

// The hyperparameters, from the `qwen3.*` metadata keys; the vocabulary size
// from token_embd's shape (checked against tokenizer.ggml.tokens if present).
struct Qwen3Config {
  std::int64_t blocks = 0, embedding = 0, feedForward = 0, heads = 0, kvHeads = 0, headDim = 0, vocab = 0;
  double ropeBase = 0, rmsEpsilon = 0;
};
Qwen3Config qwen3Config(const gguf::File &file);

// Throws InputError naming the file and the key or tensor on anything that
// does not fit (and the token and its position for an id outside the
// vocabulary). The graph is verified.
Graph buildQwen3(const std::string &ggufPath, const Qwen3Options &options);

// The graph's unperturbed input: token_embd rows of `tokens`, dequantized,
// row-major [T][n_embd].
std::vector<double> qwen3Embeddings(const std::string &ggufPath, const std::vector<std::int64_t> &tokens);

} // namespace gm::transformers
