// The Whisper encoder graph, block by block as HF's WhisperEncoder runs it
// (transformers/models/whisper/modeling_whisper.py):
//   conv1 (k3, pad 1) → GELU → conv2 (k3, stride 2, pad 1) → GELU → [1,T,d]
//   + embed_positions[:T]
//   per layer: x += out_proj(attn(LN(x)));  x += fc2(GELU(fc1(LN(x))))
//   final layer_norm.
#include "frontend/transformers/whisper_graph.h"

#include "frontend/safetensors/hf_config.h"
#include "frontend/transformers/safetensors_weights.h"
#include "frontend/transformers/transformer_blocks.h"
#include "ir/error.h"
#include "ir/verifier.h"

#include <cmath>
#include <filesystem>

namespace gm::transformers {

namespace {

namespace fs = std::filesystem;

std::string findConfig(const std::string &modelPath, const WhisperOptions &options) {
  if (!options.configPath.empty())
    return options.configPath;
  std::error_code ignored;
  fs::path dir = fs::is_directory(modelPath, ignored) ? fs::path(modelPath) : fs::path(modelPath).parent_path();
  fs::path config = dir / "config.json";
  if (!fs::is_regular_file(config, ignored))
    fail(modelPath, "no config.json next to the weights (looked for {}); give the config path", config.string());
  return config.string();
}

// Constants record the path of their file, and the printed IR refers to it:
// a relative path would be resolved against the .gir file's directory.
std::string absolutePath(const std::string &path) {
  std::error_code failed;
  fs::path p = fs::absolute(path, failed);
  return failed ? path : p.lexically_normal().string();
}

// Nodes are appended as the builder runs, so no argument list below holds two
// calls that build nodes: the evaluation order of function arguments is
// unspecified, and the printed IR must not depend on the compiler.
struct Builder {
  Graph &g;
  const hf::WhisperEncoderConfig &cfg;
  const SafetensorsWeights &weights;
  std::string configPath;

  // Why a tensor must have its shape: the config keys it comes from.
  std::string implied(std::string_view keys) const { return fmt::format("{} ({})", configPath, keys); }
  std::string dModelKey() const { return fmt::format("d_model {}", cfg.dModel); }

  ValueId vector(const std::string &name) const { return weights.load(g, name, {cfg.dModel}, implied(dModelKey())); }
  ValueId square(const std::string &name) const {
    return weights.load(g, name, {cfg.dModel, cfg.dModel}, implied(dModelKey()));
  }

  ValueId conv(ValueId x, const std::string &name, std::int64_t inChannels, std::int64_t stride,
               std::string_view inKey) {
    ValueId w = weights.load(g, name + ".weight", {cfg.dModel, inChannels, 3},
                             implied(fmt::format("{}, {} {}, kernel 3", dModelKey(), inKey, inChannels)));
    ValueId b = vector(name + ".bias");
    Attrs a;
    a.set("strides", std::vector<std::int64_t>{stride});
    a.set("pads", std::vector<std::int64_t>{1, 1});
    a.set("dilations", std::vector<std::int64_t>{1});
    a.set("group", std::int64_t(1));
    return g.add1(Op::Conv, {x, w, b}, a, name);
  }

  ValueId projection(ValueId x, const std::string &name, bool hasBias) {
    ValueId weight = square(name + ".weight");
    std::optional<ValueId> bias;
    if (hasBias)
      bias = vector(name + ".bias");
    else if (weights.archive().find(weights.prefix() + name + ".bias"))
      fail(fmt::format("{}: tensor '{}{}.bias'", weights.archive().path(), weights.prefix(), name),
           "Whisper's key projection has no bias; this checkpoint is another architecture");
    return linear(g, x, weight, bias, name);
  }

  ValueId layerNormOf(ValueId x, const std::string &name) {
    ValueId scale = vector(name + ".weight");
    return layerNorm(g, x, scale, vector(name + ".bias"), cfg.layerNormEps, name);
  }

  // Heads as a batch dimension: [1,T,d] → [1,H,T,d/H], one batched matmul
  // for all heads' scores and one for their contexts. Per-head slices would
  // multiply the node count by H without showing the bound code anything
  // more; this layout keeps heads visible in every type along the way.
  ValueId selfAttention(ValueId x, const std::string &name) {
    std::int64_t heads = cfg.encoderAttentionHeads;
    double scale = 1.0 / std::sqrt(static_cast<double>(cfg.dModel / heads));
    // HF scales q after its bias (q_proj(x) * head_dim^-0.5), not the scores.
    ValueId qProj = projection(x, name + ".q_proj", true);
    ValueId q = g.add1(Op::Mul, {qProj, scalarConstant(g, scale, name + ".scaling")}, {}, name + ".q_scaled");
    ValueId k = projection(x, name + ".k_proj", false);
    ValueId v = projection(x, name + ".v_proj", true);
    ValueId qHeads = splitHeads(g, q, heads, name + ".q");
    ValueId kHeads = splitHeads(g, k, heads, name + ".k");
    ValueId vHeads = splitHeads(g, v, heads, name + ".v");
    ValueId context = attention(g, qHeads, kHeads, vHeads, std::nullopt, name);
    return projection(mergeHeads(g, context, name + ".context"), name + ".out_proj", true);
  }

  ValueId feedForward(ValueId x, const std::string &layer) {
    std::string keys = fmt::format("encoder_ffn_dim {}, {}", cfg.encoderFfnDim, dModelKey());
    ValueId w1 = weights.load(g, layer + ".fc1.weight", {cfg.encoderFfnDim, cfg.dModel}, implied(keys));
    ValueId b1 = weights.load(g, layer + ".fc1.bias", {cfg.encoderFfnDim}, implied(keys));
    ValueId h = geluErf(g, linear(g, x, w1, b1, layer + ".fc1"), layer + ".activation");
    ValueId w2 = weights.load(g, layer + ".fc2.weight", {cfg.dModel, cfg.encoderFfnDim}, implied(keys));
    return linear(g, h, w2, vector(layer + ".fc2.bias"), layer + ".fc2");
  }

  ValueId encoderLayer(ValueId x, std::int64_t index) {
    std::string layer = fmt::format("layers.{}", index);
    ValueId attn = selfAttention(layerNormOf(x, layer + ".self_attn_layer_norm"), layer + ".self_attn");
    x = g.add1(Op::Add, {x, attn}, {}, layer + ".self_attn.residual");
    ValueId ffn = feedForward(layerNormOf(x, layer + ".final_layer_norm"), layer);
    return g.add1(Op::Add, {x, ffn}, {}, layer + ".ffn.residual");
  }

  ValueId positions(std::int64_t tokens) {
    ValueId table = weights.load(g, "embed_positions.weight", {cfg.maxSourcePositions, cfg.dModel},
                                 implied(fmt::format("max_source_positions {}, {}", cfg.maxSourcePositions,
                                                     dModelKey())));
    if (tokens == cfg.maxSourcePositions)
      return table;
    Attrs a;
    a.set("starts", std::vector<std::int64_t>{0, 0});
    a.set("ends", std::vector<std::int64_t>{tokens, cfg.dModel});
    a.set("steps", std::vector<std::int64_t>{1, 1});
    return g.add1(Op::Slice, {table}, a, "embed_positions.slice");
  }

  void build(std::int64_t frames) {
    std::int64_t tokens = windowCount(frames, 1, 1, 3, 2, 1, false); // conv2's output length
    if (tokens > cfg.maxSourcePositions)
      fail(fmt::format("{}: key 'max_source_positions'", configPath),
           "{} mel frames give {} positions, more than max_source_positions {}", frames, tokens,
           cfg.maxSourcePositions);
    ValueId x = g.addInput("input_features", {DType::F32, {1, cfg.numMelBins, frames}}, "input_features");
    x = geluErf(g, conv(x, "conv1", cfg.numMelBins, 1, "num_mel_bins"), "conv1.activation");
    x = geluErf(g, conv(x, "conv2", cfg.dModel, 2, "d_model"), "conv2.activation");
    Attrs toTokens;
    toTokens.set("perm", std::vector<std::int64_t>{0, 2, 1});
    x = g.add1(Op::Transpose, {x}, toTokens, "conv2.to_tokens");
    x = g.add1(Op::Add, {x, positions(tokens)}, {}, "embed_positions.add");
    for (std::int64_t i = 0; i < cfg.encoderLayers; ++i)
      x = encoderLayer(x, i);
    std::string beyond = fmt::format("layers.{}.fc1.weight", cfg.encoderLayers);
    if (weights.archive().find(weights.prefix() + beyond))
      fail(fmt::format("{}: tensor '{}{}'", weights.archive().path(), weights.prefix(), beyond),
           "present, but {} says encoder_layers {}", configPath, cfg.encoderLayers);
    g.setOutputs({layerNormOf(x, "layer_norm")});
  }
};

} // namespace

Graph buildWhisperEncoder(const std::string &modelPath, const WhisperOptions &options) {
  std::string configPath = findConfig(modelPath, options);
  hf::WhisperEncoderConfig cfg = hf::whisperEncoderConfig(hf::Config::readFile(configPath));
  if (cfg.activationFunction != "gelu")
    fail(fmt::format("{}: key 'activation_function'", configPath),
         "'{}' is not supported (only 'gelu', the exact erf form)", cfg.activationFunction);
  std::int64_t frames = options.frames == 0 ? 2 * cfg.maxSourcePositions : options.frames;
  if (frames < 1)
    fail(modelPath, "frames must be positive, got {}", options.frames);

  SafetensorsWeights weights(safetensors::Archive::open(absolutePath(modelPath)), {"model.encoder.", "encoder.", ""},
                             "conv1.weight");
  Graph g;
  g.name = "whisper_encoder";
  Builder{g, cfg, weights, configPath}.build(frames);
  verify(g, modelPath);
  return g;
}

} // namespace gm::transformers
