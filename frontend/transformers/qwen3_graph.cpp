// The Qwen3 decoder graph, block by block as llama.cpp's qwen3 graph
// (src/models/qwen3.cpp) runs it:
//   per block:  h = rms_norm(x)·attn_norm
//               q = rope(rms_norm(heads(h·Wqᵀ))·attn_q_norm), k likewise, v = heads(h·Wvᵀ)
//               x += attn_output(softmax(q·kᵀ/√head_dim + causal mask)·v)
//               h = rms_norm(x)·ffn_norm;  x += ffn_down(silu(ffn_gate h) ⊙ ffn_up h)
//   logits = rms_norm(x)·output_norm · (output or token_embd)ᵀ.
#include "frontend/transformers/qwen3_graph.h"

#include "frontend/gguf/dequantize.h"
#include "frontend/transformers/decoder_blocks.h"
#include "frontend/transformers/gguf_weights.h"
#include "frontend/transformers/transformer_blocks.h"
#include "ir/error.h"
#include "ir/verifier.h"

#include <cmath>
#include <filesystem>

namespace gm::transformers {

namespace {

constexpr const char *kArchitecture = "qwen3";
constexpr const char *kTokenEmbedding = "token_embd.weight";

std::string key(std::string_view suffix) { return fmt::format("{}.{}", kArchitecture, suffix); }

std::string keyWhere(const gguf::File &file, std::string_view name) {
  return fmt::format("{}: metadata '{}'", file.path(), name);
}

std::int64_t positiveKey(const gguf::File &file, std::string_view suffix) {
  std::string name = key(suffix);
  auto value = file.metadata().get<std::int64_t>(name);
  if (value <= 0)
    fail(keyWhere(file, name), "must be positive, got {}", value);
  return value;
}

// Constants record the path of their file, and the printed IR refers to it:
// a relative path would be resolved against the .gir file's directory.
std::string absolutePath(const std::string &path) {
  std::error_code failed;
  std::filesystem::path p = std::filesystem::absolute(path, failed);
  return failed ? path : p.lexically_normal().string();
}

const gguf::TensorInfo &tokenEmbedding(const gguf::File &file, std::int64_t embedding) {
  const gguf::TensorInfo *t = file.find(kTokenEmbedding);
  if (!t)
    fail(fmt::format("{}: tensor '{}'", file.path(), kTokenEmbedding),
         "missing; expected shape [n_vocab,{}] from {} {}", embedding, key("embedding_length"), embedding);
  if (t->ne.size() != 2 || t->ne[0] != embedding)
    fail(t->where(), "shape {} (ggml ne {}); expected [n_vocab,{}] from {} {}",
         shapeString(GgufWeights::rowMajorShape(*t)), shapeString(t->ne), embedding, key("embedding_length"),
         embedding);
  return *t;
}

void checkTokens(const gguf::File &file, const std::vector<std::int64_t> &tokens, std::int64_t vocab) {
  if (tokens.empty())
    fail(file.path(), "no tokens given");
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      fail(file.path(), "token {} at position {} is outside the vocabulary of {} tokens", tokens[i], i, vocab);
}

// Nodes are appended as the builder runs, so no argument list below holds two
// calls that build nodes: the evaluation order of function arguments is
// unspecified, and the printed IR must not depend on the compiler.
struct Builder {
  Graph &g;
  const Qwen3Config &cfg;
  const GgufWeights &weights;

  std::string embeddingKeys() const { return fmt::format("{} {}", key("embedding_length"), cfg.embedding); }
  std::string headKeys(std::string_view countKey, std::int64_t count) const {
    return fmt::format("{} {}, {} {}", key(countKey), count, key("attention.key_length"), cfg.headDim);
  }

  ValueId vector(const std::string &name, std::int64_t size, const std::string &why) const {
    return weights.load(g, name, {size}, why);
  }
  ValueId matrix(const std::string &name, std::int64_t out, std::int64_t in, const std::string &why) const {
    return weights.load(g, name, {out, in}, why);
  }

  ValueId norm(ValueId x, const std::string &name, std::int64_t size, const std::string &why) {
    ValueId scale = vector(name + ".weight", size, why);
    return rmsNorm(g, x, scale, cfg.rmsEpsilon, name);
  }

  ValueId projection(ValueId x, const std::string &name, std::int64_t out, std::int64_t in, const std::string &why) {
    ValueId weight = matrix(name + ".weight", out, in, why);
    return linear(g, x, weight, std::nullopt, name);
  }

  // Q or K: projection, heads as a batch dimension [1, H, T, D], per-head
  // RMSNorm over D, then RoPE.
  ValueId rotatedHeads(ValueId h, const std::string &block, const char *part, std::int64_t heads,
                       std::string_view countKey, const RopeTables &rope) {
    std::string name = fmt::format("{}.attn_{}", block, part);
    std::string why = fmt::format("{}, {}", headKeys(countKey, heads), embeddingKeys());
    ValueId projected = projection(h, name, heads * cfg.headDim, cfg.embedding, why);
    ValueId split = splitHeads(g, projected, heads, name);
    ValueId normed =
        norm(split, name + "_norm", cfg.headDim, fmt::format("{} {}", key("attention.key_length"), cfg.headDim));
    return ropeNeox(g, normed, rope, name + ".rope");
  }

  ValueId selfAttention(ValueId h, const std::string &block, const RopeTables &rope, ValueId mask) {
    ValueId q = rotatedHeads(h, block, "q", cfg.heads, "attention.head_count", rope);
    ValueId scale = scalarConstant(g, 1.0 / std::sqrt(static_cast<double>(cfg.headDim)), block + ".attn.scale");
    ValueId qScaled = g.add1(Op::Mul, {q, scale}, {}, block + ".attn_q.scaled");
    ValueId k = rotatedHeads(h, block, "k", cfg.kvHeads, "attention.head_count_kv", rope);
    std::string vWhy = fmt::format("{}, {}", headKeys("attention.head_count_kv", cfg.kvHeads), embeddingKeys());
    ValueId v = projection(h, block + ".attn_v", cfg.kvHeads * cfg.headDim, cfg.embedding, vWhy);
    ValueId vHeads = splitHeads(g, v, cfg.kvHeads, block + ".attn_v");
    ValueId context = attention(g, qScaled, k, vHeads, mask, block + ".attn");
    ValueId merged = mergeHeads(g, context, block + ".attn.context");
    std::string outWhy = fmt::format("{}, {}", embeddingKeys(), headKeys("attention.head_count", cfg.heads));
    return projection(merged, block + ".attn_output", cfg.embedding, cfg.heads * cfg.headDim, outWhy);
  }

  ValueId feedForward(ValueId h, const std::string &block) {
    std::string why = fmt::format("{} {}, {}", key("feed_forward_length"), cfg.feedForward, embeddingKeys());
    ValueId gateProjected = projection(h, block + ".ffn_gate", cfg.feedForward, cfg.embedding, why);
    ValueId gate = silu(g, gateProjected, block + ".ffn_silu");
    ValueId up = projection(h, block + ".ffn_up", cfg.feedForward, cfg.embedding, why);
    ValueId gated = g.add1(Op::Mul, {gate, up}, {}, block + ".ffn_gated");
    return projection(gated, block + ".ffn_down", cfg.embedding, cfg.feedForward, why);
  }

  ValueId decoderBlock(ValueId x, std::int64_t index, const RopeTables &rope, ValueId mask) {
    std::string block = fmt::format("blk.{}", index);
    ValueId h = norm(x, block + ".attn_norm", cfg.embedding, embeddingKeys());
    ValueId attn = selfAttention(h, block, rope, mask);
    x = g.add1(Op::Add, {x, attn}, {}, block + ".attn.residual");
    ValueId h2 = norm(x, block + ".ffn_norm", cfg.embedding, embeddingKeys());
    ValueId ffn = feedForward(h2, block);
    return g.add1(Op::Add, {x, ffn}, {}, block + ".ffn.residual");
  }

  ValueId lastPosition(ValueId x, std::int64_t tokens) {
    Attrs a;
    a.set("starts", std::vector<std::int64_t>{0, tokens - 1, 0});
    a.set("ends", std::vector<std::int64_t>{1, tokens, cfg.embedding});
    a.set("steps", std::vector<std::int64_t>{1, 1, 1});
    return g.add1(Op::Slice, {x}, a, "last_position");
  }

  ValueId lmHead(ValueId x) {
    // Tied embeddings: without output.weight, llama.cpp reuses token_embd.
    std::string name = weights.file().find("output.weight") ? "output.weight" : kTokenEmbedding;
    std::string why = fmt::format("n_vocab {} (from {}), {}", cfg.vocab, kTokenEmbedding, embeddingKeys());
    ValueId weight = matrix(name, cfg.vocab, cfg.embedding, why);
    return linear(g, x, weight, std::nullopt, "output");
  }

  void build(const Qwen3Options &options) {
    std::int64_t tokens = static_cast<std::int64_t>(options.tokens.size());
    ValueId x = g.addInput("embeddings", {DType::F32, {1, tokens, cfg.embedding}}, "embeddings");
    RopeTables rope = ropeTables(g, tokens, cfg.headDim, cfg.ropeBase, "rope");
    ValueId mask = causalMask(g, tokens, "causal_mask");
    for (std::int64_t i = 0; i < cfg.blocks; ++i)
      x = decoderBlock(x, i, rope, mask);
    std::string beyond = fmt::format("blk.{}.attn_norm.weight", cfg.blocks);
    if (weights.file().find(beyond))
      fail(fmt::format("{}: tensor '{}'", weights.file().path(), beyond), "present, but {} is {}", key("block_count"),
           cfg.blocks);
    if (options.lastPositionOnly)
      x = lastPosition(x, tokens);
    ValueId normed = norm(x, "output_norm", cfg.embedding, embeddingKeys());
    g.setOutputs({lmHead(normed)});
  }
};

} // namespace

Qwen3Config qwen3Config(const gguf::File &file) {
  const gguf::Metadata &meta = file.metadata();
  if (auto arch = meta.find<std::string>("general.architecture"); arch && *arch != kArchitecture)
    fail(keyWhere(file, "general.architecture"), "'{}', expected '{}'", *arch, kArchitecture);
  Qwen3Config c;
  c.blocks = positiveKey(file, "block_count");
  c.embedding = positiveKey(file, "embedding_length");
  c.feedForward = positiveKey(file, "feed_forward_length");
  c.heads = positiveKey(file, "attention.head_count");
  c.kvHeads = positiveKey(file, "attention.head_count_kv");
  c.headDim = positiveKey(file, "attention.key_length");
  std::int64_t valueDim = positiveKey(file, "attention.value_length");
  c.ropeBase = meta.get<double>(key("rope.freq_base"));
  c.rmsEpsilon = meta.get<double>(key("attention.layer_norm_rms_epsilon"));

  if (c.heads % c.kvHeads != 0)
    fail(keyWhere(file, key("attention.head_count_kv")), "{} does not divide {} {}", c.kvHeads,
         key("attention.head_count"), c.heads);
  // The attention block shares one head size between keys and values, as
  // every Qwen3 checkpoint does.
  if (valueDim != c.headDim)
    fail(keyWhere(file, key("attention.value_length")), "{} differs from {} {}", valueDim, key("attention.key_length"),
         c.headDim);
  if (c.headDim % 2 != 0)
    fail(keyWhere(file, key("attention.key_length")), "{} is odd; RoPE rotates pairs of dimensions", c.headDim);
  if (!(c.ropeBase > 0) || !std::isfinite(c.ropeBase))
    fail(keyWhere(file, key("rope.freq_base")), "must be positive and finite, got {}", c.ropeBase);
  if (!(c.rmsEpsilon >= 0) || !std::isfinite(c.rmsEpsilon))
    fail(keyWhere(file, key("attention.layer_norm_rms_epsilon")), "must be non-negative and finite, got {}",
         c.rmsEpsilon);

  c.vocab = tokenEmbedding(file, c.embedding).ne[1];
  if (meta.contains("tokenizer.ggml.tokens")) {
    std::size_t listed = meta.arrayLength("tokenizer.ggml.tokens");
    if (static_cast<std::int64_t>(listed) != c.vocab)
      fail(keyWhere(file, "tokenizer.ggml.tokens"), "{} tokens, but {} has {} rows", listed, kTokenEmbedding, c.vocab);
  }
  return c;
}

Graph buildQwen3(const std::string &ggufPath, const Qwen3Options &options) {
  GgufWeights weights(gguf::File::open(absolutePath(ggufPath)));
  Qwen3Config cfg = qwen3Config(weights.file());
  checkTokens(weights.file(), options.tokens, cfg.vocab);
  Graph g;
  g.name = "qwen3";
  Builder{g, cfg, weights}.build(options);
  verify(g, ggufPath);
  return g;
}

std::vector<double> qwen3Embeddings(const std::string &ggufPath, const std::vector<std::int64_t> &tokens) {
  gguf::File file = gguf::File::open(ggufPath);
  Qwen3Config cfg = qwen3Config(file);
  checkTokens(file, tokens, cfg.vocab);
  const gguf::TensorInfo &table = tokenEmbedding(file, cfg.embedding);
  std::vector<float> row(static_cast<std::size_t>(cfg.embedding));
  std::vector<double> out;
  out.reserve(tokens.size() * row.size());
  for (std::int64_t token : tokens) {
    gguf::dequantizeRows(table, token, 1, row.data());
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

} // namespace gm::transformers
