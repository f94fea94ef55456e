#include "frontend/transformers/synth_models.h"

#include "frontend/gguf/gguf_writer.h"
#include "frontend/gguf/quantize.h"
#include "frontend/safetensors/safetensors_writer.h"
#include "ir/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>

namespace gm::synth {

namespace fs = std::filesystem;

// ---- random values: a counter-based stream per (seed, tensor name) ----

namespace {

// SplitMix64's finaliser: a bijection that mixes every input bit into every output bit.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t streamKey(std::uint64_t seed, std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a: stable across platforms, unlike std::hash
  for (char c : name)
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return mix(mix(seed) ^ h);
}

// In [0, 1) with 53 random bits.
double uniform(std::uint64_t key, std::uint64_t counter) {
  return static_cast<double>(mix(key + counter * 0x9e3779b97f4a7c15ULL) >> 11) * 0x1p-53;
}

// Box-Muller on pair p: elements 2p and 2p+1 of the stream. Its own
// functions, not std::normal_distribution, whose algorithm each standard
// library chooses: the same seed must give the same file everywhere.
std::pair<double, double> normalPair(std::uint64_t key, std::int64_t pair) {
  const double u1 = 1.0 - uniform(key, 2 * static_cast<std::uint64_t>(pair)); // (0, 1]: log is finite
  const double u2 = uniform(key, 2 * static_cast<std::uint64_t>(pair) + 1);
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  return {r * std::cos(angle), r * std::sin(angle)};
}

// Whisper's sinusoids(): sin over the first half of the channels, cos over
// the second, timescales from 1 to 10000 in log steps; float64, then float32.
double sinusoid(std::int64_t position, std::int64_t channel, std::int64_t channels) {
  const std::int64_t half = channels / 2;
  const double step = std::log(10000.0) / static_cast<double>(half - 1);
  const std::int64_t i = channel < half ? channel : channel - half;
  const double t = static_cast<double>(position) * std::exp(-step * static_cast<double>(i));
  return channel < half ? std::sin(t) : std::cos(t);
}

} // namespace

std::int64_t TensorPlan::numElements() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims)
    n *= d;
  return n;
}

std::uint64_t parameterCount(const std::vector<TensorPlan> &tensors) {
  std::uint64_t n = 0;
  for (const TensorPlan &t : tensors)
    n += static_cast<std::uint64_t>(t.numElements());
  return n;
}

void generate(const TensorPlan &tensor, std::uint64_t seed, std::int64_t begin, std::int64_t count, float *out) {
  GAMMA_ASSERT(begin >= 0 && count >= 0 && begin + count <= tensor.numElements(), "generate: range out of the tensor");
  if (tensor.init.kind == Init::Kind::Sinusoid) {
    for (std::int64_t i = 0; i < count; ++i)
      out[i] = static_cast<float>(
          sinusoid((begin + i) / tensor.rowLength, (begin + i) % tensor.rowLength, tensor.rowLength));
    return;
  }
  const double mean = tensor.init.kind == Init::Kind::OnePlusNormal ? 1.0 : 0.0;
  const std::uint64_t key = streamKey(seed, tensor.name);
  const std::int64_t end = begin + count;
  for (std::int64_t pair = begin / 2; 2 * pair < end; ++pair) {
    const auto [z0, z1] = normalPair(key, pair);
    if (2 * pair >= begin)
      out[2 * pair - begin] = static_cast<float>(mean + tensor.init.sigma * z0);
    if (2 * pair + 1 < end)
      out[2 * pair + 1 - begin] = static_cast<float>(mean + tensor.init.sigma * z1);
  }
}

std::vector<float> generate(const TensorPlan &tensor, std::uint64_t seed) {
  std::vector<float> out(static_cast<std::size_t>(tensor.numElements()));
  generate(tensor, seed, 0, tensor.numElements(), out.data());
  return out;
}

namespace {

// The README's scales: embeddings N(0, 0.05), Linear N(0, clip(0.8/sqrt(fan_in), 0.02, 0.1)), norms 1 + N(0, 0.1).
TensorPlan ggmlTensor(std::string name, std::vector<std::int64_t> ne, Init init) {
  const std::int64_t row = ne.at(0);
  return TensorPlan{std::move(name), std::move(ne), row, init};
}
Init linear(std::int64_t fanIn) {
  return {Init::Kind::Normal, std::clamp(0.8 / std::sqrt(static_cast<double>(fanIn)), 0.02, 0.1)};
}
constexpr Init kNorm{Init::Kind::OnePlusNormal, 0.1};
constexpr Init kEmbedding{Init::Kind::Normal, 0.05};

// Sliced so no tensor is ever whole in memory: about 1M elements at a time, whole rows.
template <typename Sink>
void streamTensor(const TensorPlan &tensor, std::uint64_t seed, gguf::GgmlType type, Sink &&sink) {
  const std::int64_t rows = tensor.numElements() / tensor.rowLength;
  const std::int64_t sliceRows = std::max<std::int64_t>(1, (std::int64_t(1) << 20) / tensor.rowLength);
  std::vector<float> values;
  std::vector<std::byte> bytes;
  for (std::int64_t row = 0; row < rows; row += sliceRows) {
    const std::int64_t n = std::min(sliceRows, rows - row) * tensor.rowLength;
    values.resize(static_cast<std::size_t>(n));
    generate(tensor, seed, row * tensor.rowLength, n, values.data());
    bytes.resize(gguf::quantizedBytes(type, n));
    gguf::quantize(type, values, bytes.data());
    sink(std::span<const std::byte>(bytes));
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

} // namespace

// ---- Qwen3 ----

namespace {

const std::vector<Qwen3Config> &qwen3Configs() {
  static const std::vector<Qwen3Config> configs = {
      // Qwen/Qwen3-0.6B config.json: n_head * head_dim = 2048 != 1024, as in the real model.
      {"0.6b", "qwen3-0.6b-random", 1024, 28, 16, 8, 128, 3072, 151936, 40960, 1e6f, 1e-6f, true, 151643},
      {"tiny", "qwen3-tiny-random", 64, 2, 4, 2, 16, 128, 300, 128, 1e6f, 1e-6f, false, 297},
      {"tinywide", "qwen3-tinywide-random", 64, 2, 4, 2, 32, 128, 300, 128, 1e6f, 1e-6f, false, 297},
      {"tiny256", "qwen3-tiny256-random", 256, 2, 4, 2, 64, 512, 300, 128, 1e6f, 1e-6f, false, 297},
  };
  return configs;
}

// llama_ftype, as llama-quantize records the file's main type.
std::uint32_t fileType(gguf::GgmlType type) {
  switch (type) {
  case gguf::GgmlType::F32: return 0;
  case gguf::GgmlType::F16: return 1;
  case gguf::GgmlType::Q4_0: return 2;
  case gguf::GgmlType::Q8_0: return 7;
  case gguf::GgmlType::Q4_K: return 14; // Q4_K_S: every tensor Q4_K
  case gguf::GgmlType::Q5_K: return 16; // Q5_K_S
  case gguf::GgmlType::Q6_K: return 18;
  case gguf::GgmlType::BF16: return 32;
  default: break;
  }
  GAMMA_ASSERT(false, "fileType: a type gamma-synth does not write");
  return 0;
}

bool isQuantized(gguf::GgmlType type) {
  return type != gguf::GgmlType::F32 && type != gguf::GgmlType::F16 && type != gguf::GgmlType::BF16;
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
// others for U+0100 upwards in byte order; as UTF-8.
std::string byteSymbol(int byte) {
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  int codepoint = byte;
  if (!printable(byte)) {
    codepoint = 256;
    for (int b = 0; b < byte; ++b)
      codepoint += !printable(b);
  }
  std::string out;
  if (codepoint < 0x80) {
    out += static_cast<char>(codepoint);
  } else {
    out += static_cast<char>(0xC0 | (codepoint >> 6));
    out += static_cast<char>(0x80 | (codepoint & 0x3F));
  }
  return out;
}

// The 41 merges of the reference's tiny Qwen3 vocabulary (learned from a
// short English text), so a tiny synthetic file tokenizes as the reference does.
constexpr std::string_view kMerges[] = {
    "h e",    "Ġ t",   "Ġt he",  "i n",      "Ġ s",     "e r",    "e s",    "i s",     "Ġ f",    "Ġ r",    "a n",
    "an d",   "Ġ in",  "Ġ o",    "Ġf o",     "a t",     "d o",    "do g",   "in g",    "n e",    "o w",    "p s",
    "t o",    "u n",   "v er",   "Ġ and",    "Ġ dog",   "Ġ is",   "Ġ w",    "Ġfo x",   "Ġt h",   "a in",   "a r",
    "a z",    "and ing", "at er", "az y",    "b r",     "br ow",  "brow n", "c k",
};

// llama_token_type.
constexpr std::int32_t kNormal = 1, kControl = 3, kUnused = 5;

void addTokenizer(gguf::Metadata &m, const Qwen3Config &c) {
  const std::int64_t merged = 256 + std::size(kMerges);
  GAMMA_ASSERT(c.endOfTextToken >= merged && c.endOfTextToken + 3 <= c.vocab, "Qwen3 config: special tokens out of range");
  std::vector<std::string> tokens, merges;
  std::vector<std::int32_t> types;
  tokens.reserve(static_cast<std::size_t>(c.vocab));
  for (int b = 0; b < 256; ++b)
    tokens.push_back(byteSymbol(b));
  for (std::string_view merge : kMerges) {
    merges.emplace_back(merge);
    std::string joined(merge);
    joined.erase(joined.find(' '), 1);
    tokens.push_back(joined);
  }
  types.assign(tokens.size(), kNormal);
  for (std::int64_t id = merged; id < c.endOfTextToken; ++id) {
    tokens.push_back(fmt::format("tok_{}", id));
    types.push_back(kNormal);
  }
  for (const char *special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    tokens.emplace_back(special);
    types.push_back(kControl);
  }
  for (auto id = static_cast<std::int64_t>(tokens.size()); id < c.vocab; ++id) {
    tokens.push_back(fmt::format("[PAD{}]", id)); // convert_hf_to_gguf's padding of the embedding rows
    types.push_back(kUnused);
  }
  const auto eot = static_cast<std::uint32_t>(c.endOfTextToken);
  m.add("tokenizer.ggml.model", gguf::stringValue("gpt2"));
  m.add("tokenizer.ggml.pre", gguf::stringValue("qwen2"));
  m.add("tokenizer.ggml.tokens", gguf::stringArray(std::move(tokens)));
  m.add("tokenizer.ggml.token_type", gguf::i32Array(types));
  m.add("tokenizer.ggml.merges", gguf::stringArray(std::move(merges)));
  m.add("tokenizer.ggml.eos_token_id", gguf::u32Value(eot + 2)); // <|im_end|>
  m.add("tokenizer.ggml.padding_token_id", gguf::u32Value(eot));
  m.add("tokenizer.ggml.bos_token_id", gguf::u32Value(eot));
  m.add("tokenizer.ggml.add_bos_token", gguf::boolValue(false));
}

} // namespace

std::vector<std::string> qwen3ConfigNames() {
  std::vector<std::string> names;
  for (const Qwen3Config &c : qwen3Configs())
    names.push_back(c.name);
  return names;
}

Qwen3Config qwen3Config(std::string_view name) {
  for (const Qwen3Config &c : qwen3Configs())
    if (c.name == lower(name))
      return c;
  fail("--config", "unknown Qwen3 configuration '{}' (known: {})", name, fmt::join(qwen3ConfigNames(), ", "));
}

std::vector<TensorPlan> qwen3Tensors(const Qwen3Config &c) {
  const std::int64_t e = c.embedding, q = c.heads * c.headDim, kv = c.kvHeads * c.headDim, f = c.feedForward;
  std::vector<TensorPlan> t;
  t.push_back(ggmlTensor("token_embd.weight", {e, c.vocab}, kEmbedding));
  for (std::int64_t b = 0; b < c.blocks; ++b) {
    auto name = [&](const char *what) { return fmt::format("blk.{}.{}.weight", b, what); };
    t.push_back(ggmlTensor(name("attn_norm"), {e}, kNorm));
    t.push_back(ggmlTensor(name("attn_q"), {e, q}, linear(e)));
    t.push_back(ggmlTensor(name("attn_k"), {e, kv}, linear(e)));
    t.push_back(ggmlTensor(name("attn_v"), {e, kv}, linear(e)));
    t.push_back(ggmlTensor(name("attn_q_norm"), {c.headDim}, kNorm));
    t.push_back(ggmlTensor(name("attn_k_norm"), {c.headDim}, kNorm));
    t.push_back(ggmlTensor(name("attn_output"), {q, e}, linear(q)));
    t.push_back(ggmlTensor(name("ffn_norm"), {e}, kNorm));
    t.push_back(ggmlTensor(name("ffn_gate"), {e, f}, linear(e)));
    t.push_back(ggmlTensor(name("ffn_up"), {e, f}, linear(e)));
    t.push_back(ggmlTensor(name("ffn_down"), {f, e}, linear(f)));
  }
  t.push_back(ggmlTensor("output_norm.weight", {e}, kNorm));
  if (!c.tied)
    t.push_back(ggmlTensor("output.weight", {e, c.vocab}, linear(e)));
  return t;
}

gguf::GgmlType qwen3Type(std::string_view name) {
  if (std::optional<gguf::GgmlType> type = gguf::quantizableTypeFromName(name))
    return *type;
  fail("--type", "unknown type '{}' (gamma-synth writes {})", name, gguf::quantizableTypeNames());
}

gguf::GgmlType storedType(const TensorPlan &tensor, gguf::GgmlType requested) {
  return tensor.dims.size() == 1 ? gguf::GgmlType::F32 : requested;
}

void checkRowsFit(const std::vector<TensorPlan> &tensors, gguf::GgmlType type) {
  const gguf::GgmlTypeInfo &info = gguf::ggmlTypeInfo(type);
  for (const TensorPlan &t : tensors)
    if (t.rowLength % gguf::ggmlTypeInfo(storedType(t, type)).blockSize != 0)
      fail(fmt::format("--type {}", lower(info.name)),
           "tensor '{}' has rows of {} elements, not a multiple of the {} block size {}{}", t.name, t.rowLength,
           info.name, info.blockSize, info.blockSize == 256 ? " (K-quants need --config tiny256 or 0.6b)" : "");
}

gguf::Metadata qwen3Metadata(const Qwen3Config &c, gguf::GgmlType type) {
  gguf::Metadata m;
  auto u32 = [](std::int64_t v) { return gguf::u32Value(static_cast<std::uint32_t>(v)); };
  m.add("general.architecture", gguf::stringValue("qwen3"));
  m.add("general.name", gguf::stringValue(c.generalName));
  m.add("qwen3.block_count", u32(c.blocks));
  m.add("qwen3.context_length", u32(c.context));
  m.add("qwen3.embedding_length", u32(c.embedding));
  m.add("qwen3.feed_forward_length", u32(c.feedForward));
  m.add("qwen3.attention.head_count", u32(c.heads));
  m.add("qwen3.attention.head_count_kv", u32(c.kvHeads));
  m.add("qwen3.attention.key_length", u32(c.headDim));
  m.add("qwen3.attention.value_length", u32(c.headDim));
  m.add("qwen3.rope.freq_base", gguf::f32Value(c.ropeTheta));
  m.add("qwen3.attention.layer_norm_rms_epsilon", gguf::f32Value(c.rmsEps));
  // Where convert_hf_to_gguf puts the file type, and for quantised files
  // where llama-quantize moves it (after the quantisation version).
  if (!isQuantized(type))
    m.add("general.file_type", gguf::u32Value(fileType(type)));
  addTokenizer(m, c);
  if (isQuantized(type)) {
    m.add("general.quantization_version", gguf::u32Value(2)); // GGML_QNT_VERSION
    m.add("general.file_type", gguf::u32Value(fileType(type)));
  }
  return m;
}

// ---- Whisper encoder ----

namespace {

const std::vector<WhisperConfig> &whisperConfigs() {
  static const std::vector<WhisperConfig> configs = {
      // openai/whisper-tiny config.json.
      {"tiny", 384, 4, 6, 1536, 80, 1500, 4, 6, 1536, 448, 51865, 50257, 50258},
      // The reference's whisper_tiny_config.json.
      {"ci", 64, 2, 4, 128, 80, 16, 2, 4, 128, 32, 300, 297, 298},
  };
  return configs;
}

gguf::GgmlType elementType(safetensors::DType dtype) {
  switch (dtype) {
  case safetensors::DType::F16: return gguf::GgmlType::F16;
  case safetensors::DType::BF16: return gguf::GgmlType::BF16;
  default: return gguf::GgmlType::F32;
  }
}

std::string torchDType(safetensors::DType dtype) {
  switch (dtype) {
  case safetensors::DType::F16: return "float16";
  case safetensors::DType::BF16: return "bfloat16";
  default: return "float32";
  }
}

// Contiguous runs of the name-sorted tensors, about equal in bytes, none
// empty: shardOf[i] never skips a shard and leaves one tensor per shard to come.
std::vector<int> assignShards(const std::vector<std::uint64_t> &bytes, int shards) {
  std::uint64_t total = 0;
  for (std::uint64_t b : bytes)
    total += b;
  std::vector<int> shardOf(bytes.size());
  std::uint64_t before = 0;
  const int n = static_cast<int>(bytes.size());
  for (int i = 0; i < n; ++i) {
    const double middle = static_cast<double>(before) + static_cast<double>(bytes[i]) / 2;
    const int wanted = total ? static_cast<int>(middle * shards / static_cast<double>(total)) : 0;
    const int previous = i ? shardOf[i - 1] : 0;
    const int lo = std::max(previous, shards - (n - i)), hi = i ? std::min(previous + 1, shards - 1) : 0;
    shardOf[i] = std::clamp(wanted, lo, std::max(lo, hi));
    before += bytes[i];
  }
  return shardOf;
}

} // namespace

std::vector<std::string> whisperConfigNames() {
  std::vector<std::string> names;
  for (const WhisperConfig &c : whisperConfigs())
    names.push_back(c.name);
  return names;
}

WhisperConfig whisperConfig(std::string_view name) {
  for (const WhisperConfig &c : whisperConfigs())
    if (c.name == lower(name))
      return c;
  fail("--config", "unknown Whisper configuration '{}' (known: {})", name, fmt::join(whisperConfigNames(), ", "));
}

// The reference README's scales: conv weights N(0, 0.1), Linear N(0, 0.8/sqrt(fan_in)),
// biases N(0, 0.02), LayerNorm weights 1 + N(0, 0.1).
std::vector<TensorPlan> whisperTensors(const WhisperConfig &c) {
  const std::int64_t d = c.dModel, f = c.encoderFfn;
  const Init conv{Init::Kind::Normal, 0.1}, bias{Init::Kind::Normal, 0.02};
  auto linearInit = [](std::int64_t fanIn) { return Init{Init::Kind::Normal, 0.8 / std::sqrt(double(fanIn))}; };
  std::vector<TensorPlan> t;
  auto add = [&](std::string name, std::vector<std::int64_t> shape, Init init) {
    const std::int64_t row = shape.back();
    t.push_back({"model.encoder." + name, std::move(shape), row, init});
  };
  add("conv1.weight", {d, c.melBins, 3}, conv);
  add("conv1.bias", {d}, bias);
  add("conv2.weight", {d, d, 3}, conv);
  add("conv2.bias", {d}, bias);
  add("embed_positions.weight", {c.maxSourcePositions, d}, {Init::Kind::Sinusoid, 0});
  for (std::int64_t l = 0; l < c.encoderLayers; ++l) {
    const std::string p = fmt::format("layers.{}.", l);
    for (const char *proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add(p + "self_attn." + proj + ".weight", {d, d}, linearInit(d));
      if (std::string_view(proj) != "k_proj") // Whisper's key projection has no bias
        add(p + "self_attn." + proj + ".bias", {d}, bias);
    }
    add(p + "self_attn_layer_norm.weight", {d}, kNorm);
    add(p + "self_attn_layer_norm.bias", {d}, bias);
    add(p + "fc1.weight", {f, d}, linearInit(d));
    add(p + "fc1.bias", {f}, bias);
    add(p + "fc2.weight", {d, f}, linearInit(f));
    add(p + "fc2.bias", {d}, bias);
    add(p + "final_layer_norm.weight", {d}, kNorm);
    add(p + "final_layer_norm.bias", {d}, bias);
  }
  add("layer_norm.weight", {d}, kNorm);
  add("layer_norm.bias", {d}, bias);
  std::sort(t.begin(), t.end(), [](const TensorPlan &a, const TensorPlan &b) { return a.name < b.name; });
  return t;
}

safetensors::DType whisperDType(std::string_view name) {
  const std::string n = lower(name);
  if (n == "f32")
    return safetensors::DType::F32;
  if (n == "f16")
    return safetensors::DType::F16;
  if (n == "bf16")
    return safetensors::DType::BF16;
  fail("--dtype", "unknown dtype '{}' (gamma-synth writes f32, f16 or bf16)", name);
}

std::string whisperConfigJson(const WhisperConfig &c, safetensors::DType dtype) {
  nlohmann::ordered_json j = {
      {"_name_or_path", "gamma-synth/whisper-" + c.name},
      {"architectures", {"WhisperForConditionalGeneration"}},
      {"model_type", "whisper"},
      {"activation_function", "gelu"},
      {"num_mel_bins", c.melBins},
      {"d_model", c.dModel},
      {"encoder_layers", c.encoderLayers},
      {"encoder_attention_heads", c.encoderHeads},
      {"encoder_ffn_dim", c.encoderFfn},
      {"max_source_positions", c.maxSourcePositions},
      {"decoder_layers", c.decoderLayers},
      {"decoder_attention_heads", c.decoderHeads},
      {"decoder_ffn_dim", c.decoderFfn},
      {"max_target_positions", c.maxTargetPositions},
      {"vocab_size", c.vocab},
      {"scale_embedding", false},
      {"num_hidden_layers", c.encoderLayers},
      {"pad_token_id", c.padToken},
      {"bos_token_id", c.padToken},
      {"eos_token_id", c.padToken},
      {"decoder_start_token_id", c.decoderStartToken},
      {"dropout", 0.0},
      {"attention_dropout", 0.0},
      {"activation_dropout", 0.0},
      {"encoder_layerdrop", 0.0},
      {"decoder_layerdrop", 0.0},
      {"init_std", 0.02},
      {"use_cache", true},
      {"is_encoder_decoder", true},
      {"torch_dtype", torchDType(dtype)},
  };
  return j.dump(2) + "\n";
}

// ---- writing ----

std::string summaryJson(const Summary &s) {
  nlohmann::ordered_json j = {{"file", s.path},         {"files", s.files},           {"bytes", s.bytes},
                              {"tensors", s.tensors},   {"parameters", s.parameters}, {"seconds", s.seconds}};
  return j.dump() + "\n";
}

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::uint64_t sizeOfFiles(const std::vector<std::string> &files) {
  std::uint64_t n = 0;
  for (const std::string &f : files)
    n += fs::file_size(f);
  return n;
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  if (!out)
    fail(path, "cannot open for writing ({})", std::strerror(errno));
  out << text;
  if (!out.flush())
    fail(path, "write failed");
}

} // namespace

Summary writeQwen3(const Qwen3Config &config, gguf::GgmlType type, std::uint64_t seed, const std::string &path,
                   const Progress &progress) {
  const auto start = std::chrono::steady_clock::now();
  if (!gguf::canQuantize(type))
    fail("--type", "gamma-synth cannot write {} (it writes {})", gguf::ggmlTypeName(type),
         gguf::quantizableTypeNames());
  const std::vector<TensorPlan> plans = qwen3Tensors(config);
  checkRowsFit(plans, type);
  std::vector<gguf::TensorDecl> decls;
  for (const TensorPlan &t : plans)
    decls.push_back({t.name, t.dims, storedType(t, type)});
  gguf::Writer writer(path, qwen3Metadata(config, type), std::move(decls));
  for (const TensorPlan &t : plans)
    streamTensor(t, seed, storedType(t, type), [&](std::span<const std::byte> bytes) {
      writer.append(bytes);
      if (progress)
        progress(t.name, writer.bytesWritten(), writer.totalBytes());
    });
  writer.finish();
  Summary s{path, {path}, 0, plans.size(), parameterCount(plans), 0};
  s.bytes = sizeOfFiles(s.files);
  s.seconds = secondsSince(start);
  return s;
}

Summary writeWhisper(const WhisperConfig &config, safetensors::DType dtype, std::uint64_t seed, int shards,
                     const std::string &dir, const Progress &progress) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<TensorPlan> plans = whisperTensors(config);
  if (shards < 1 || shards > static_cast<int>(plans.size()))
    fail("--shards", "{} shards for {} tensors: give 1 to {}", shards, plans.size(), plans.size());
  std::error_code error;
  fs::create_directories(dir, error);
  if (error || !fs::is_directory(dir))
    fail(dir, "cannot create the output directory ({})", error ? error.message() : "not a directory");

  // The reader prefers the index to model.safetensors: remove whichever
  // form a previous run left that would shadow or confuse this one.
  fs::remove(fs::path(dir) / (shards == 1 ? "model.safetensors.index.json" : "model.safetensors"), error);

  std::vector<std::uint64_t> bytes;
  for (const TensorPlan &t : plans)
    bytes.push_back(static_cast<std::uint64_t>(t.numElements()) * safetensors::elementSize(dtype));
  const std::vector<int> shardOf = assignShards(bytes, shards);
  std::uint64_t total = 0, done = 0;
  for (std::uint64_t b : bytes)
    total += b;

  Summary s{dir, {}, 0, plans.size(), parameterCount(plans), 0};
  std::map<std::string, std::string> weightMap;
  std::size_t next = 0;
  for (int shard = 0; shard < shards; ++shard) {
    const std::string name = shards == 1 ? "model.safetensors" : safetensors::shardFileName(shard + 1, shards);
    std::vector<safetensors::TensorDecl> decls;
    for (std::size_t i = next; i < plans.size() && shardOf[i] == shard; ++i) {
      decls.push_back({plans[i].name, dtype, plans[i].dims});
      weightMap[plans[i].name] = name;
    }
    safetensors::Writer writer((fs::path(dir) / name).string(), decls);
    for (; next < plans.size() && shardOf[next] == shard; ++next) {
      GAMMA_ASSERT(writer.tensors()[writer.current()].name == plans[next].name, "plans are not in name order");
      streamTensor(plans[next], seed, elementType(dtype), [&](std::span<const std::byte> piece) {
        writer.append(piece);
        done += piece.size();
        if (progress)
          progress(plans[next].name, done, total);
      });
    }
    writer.finish();
    s.files.push_back(writer.path());
  }
  if (shards > 1)
    s.files.push_back(safetensors::writeIndex(dir, weightMap, total));
  const std::string configPath = (fs::path(dir) / "config.json").string();
  writeText(configPath, whisperConfigJson(config, dtype));
  s.files.push_back(configPath);
  s.bytes = sizeOfFiles(s.files);
  s.seconds = secondsSince(start);
  return s;
}

} // namespace gm::synth
