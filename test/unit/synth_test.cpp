// gamma-synth's library (frontend/transformers/synth_models.h) and the
// writers under it: tiny Qwen3 files in every type and tiny Whisper
// directories, read back by the real readers; values against the generator
// within each type's quantisation error; Qwen3-0.6B's tensor list checked
// without writing it; option errors as one line. With shared/reference,
// the Q8_0 quantiser reproduces llama-quantize's bytes and the tiny configs
// reproduce the reference files' headers and config.json. The Whisper
// directories also build an encoder graph.
#include "frontend/gguf/dequantize.h"
#include "frontend/gguf/gguf_reader.h"
#include "frontend/gguf/gguf_writer.h"
#include "frontend/gguf/quantize.h"
#include "frontend/safetensors/hf_config.h"
#include "frontend/safetensors/safetensors_reader.h"
#include "frontend/safetensors/safetensors_writer.h"
#include "frontend/transformers/synth_models.h"
#include "frontend/transformers/whisper_graph.h"
#include "ir/constant.h"
#include "ir/error.h"

#include "test/temp_dir.h"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

using namespace gm;

namespace {

namespace fs = std::filesystem;
using gguf::GgmlType;

std::string readBytes(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

fs::path referenceDir() {
  const char *dir = std::getenv("GAMMA_SHARED_DIR");
  return (dir ? fs::path(dir) : fs::path("../shared")) / "reference" / "transformers";
}

// The InputError message of `body`, or "" if it does not throw.
template <typename F> std::string errorOf(F &&body) {
  try {
    body();
  } catch (const InputError &e) {
    return e.what();
  }
  return "";
}

bool startsWith(const std::string &s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// The largest |x| over each block of `block` elements.
std::vector<float> blockAmax(const std::vector<float> &x, std::size_t block) {
  std::vector<float> amax(x.size() / block, 0.0f);
  for (std::size_t i = 0; i < x.size(); ++i)
    amax[i / block] = std::max(amax[i / block], std::fabs(x[i]));
  return amax;
}

// How far a dequantised element may be from the value it was made from.
double allowedError(GgmlType type, float x, const std::vector<float> &amax, std::size_t i) {
  switch (type) {
  case GgmlType::F32: return 0;
  case GgmlType::F16: return std::max(std::fabs(x) * 0x1p-11, 0x1p-25); // half an ulp; subnormals below 2^-14
  case GgmlType::BF16: return std::fabs(x) * 0x1p-8;
  case GgmlType::Q8_0: {
    // Round to nearest: d/2 with d = amax/127, plus q·|d - fp16(d)| for the stored scale, |q| <= 127.
    const float a = amax[i / 32], d = a / 127;
    return d / 2 + 127 * std::fabs(d - halfToFloat(floatToHalfNearest(d))) + a * 1e-6;
  }
  case GgmlType::Q4_0: {
    // d = amax/8; the extreme of the other sign is clamped from level 16 to 15: one whole step.
    const float d = amax[i / 32] / 8;
    return d + 8 * std::fabs(d - halfToFloat(floatToHalfNearest(d))) + amax[i / 32] * 1e-6;
  }
  // K-quants (quantize.cpp): half a step of the value's sub-block. A Q4_K/Q5_K
  // step is at most (range + dmin)/levels + d with range <= 2 amax, dmin <=
  // amax/63 and d <= (largest need)/63, so < amax (2 + 1/63)/levels (1 + 1/63);
  // Q6_K's at most amax/31 + d with d <= amax/31/127. 2^-9 covers the fp16
  // round-ups of the super-block scales and float rounding.
  case GgmlType::Q4_K: return amax[i / 256] * (2 + 1.0 / 63) / 15 * (1 + 1.0 / 63) / 2 * (1 + 0x1p-9);
  case GgmlType::Q5_K: return amax[i / 256] * (2 + 1.0 / 63) / 31 * (1 + 1.0 / 63) / 2 * (1 + 0x1p-9);
  case GgmlType::Q6_K: return amax[i / 256] / 31 * (1 + 1.0 / 127) / 2 * (1 + 0x1p-9);
  default: break;
  }
  FAIL("no error bound for type ", gguf::ggmlTypeName(type));
  return 0;
}

// Every element within its bound; returns the largest error relative to the
// block's amax, so a test can also see that the error is a realistic fraction.
double checkQuantisationError(GgmlType type, const std::vector<float> &x, const std::vector<float> &y,
                              const std::string &what) {
  REQUIRE(x.size() == y.size());
  const std::size_t block = static_cast<std::size_t>(gguf::ggmlTypeInfo(type).blockSize);
  const std::vector<float> amax = blockAmax(x, std::max<std::size_t>(block, 1));
  double worst = 0;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double error = std::fabs(double(x[i]) - double(y[i]));
    if (error > allowedError(type, x[i], amax, i) && bad++ < 3)
      MESSAGE(what, "[", i, "]: ", x[i], " came back as ", y[i]);
    if (amax[i / std::max<std::size_t>(block, 1)] > 0)
      worst = std::max(worst, error / amax[i / std::max<std::size_t>(block, 1)]);
  }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " elements outside the ", gguf::ggmlTypeName(type), " bound");
  return worst;
}

// Writes config `name` in `type` and checks everything the reader sees.
void checkQwen3RoundTrip(const std::string &configName, GgmlType type, bool tied) {
  INFO(configName, " ", gguf::ggmlTypeName(type), tied ? " tied" : "");
  test::TempDir dir("gamma-synth");
  synth::Qwen3Config config = synth::qwen3Config(configName);
  config.tied = tied;
  const std::string path = (dir.path() / "m.gguf").string();
  const synth::Summary summary = synth::writeQwen3(config, type, 42, path);
  CHECK(summary.bytes == fs::file_size(path));

  const gguf::File file = gguf::File::open(path);
  const std::vector<synth::TensorPlan> plans = synth::qwen3Tensors(config);
  REQUIRE(file.tensors().size() == plans.size());
  CHECK(summary.tensors == plans.size());
  CHECK(tied == !file.find("output.weight"));
  const gguf::Metadata &m = file.metadata();
  CHECK(m.get<std::string>("general.architecture") == "qwen3");
  CHECK(m.get<std::uint32_t>("qwen3.block_count") == config.blocks);
  CHECK(m.get<std::uint32_t>("qwen3.embedding_length") == config.embedding);
  CHECK(m.get<std::uint32_t>("qwen3.feed_forward_length") == config.feedForward);
  CHECK(m.get<std::uint32_t>("qwen3.attention.head_count") == config.heads);
  CHECK(m.get<std::uint32_t>("qwen3.attention.head_count_kv") == config.kvHeads);
  CHECK(m.get<std::uint32_t>("qwen3.attention.key_length") == config.headDim);
  CHECK(m.get<std::uint32_t>("qwen3.attention.value_length") == config.headDim);
  CHECK(m.get<std::uint32_t>("qwen3.context_length") == config.context);
  CHECK(m.get<float>("qwen3.rope.freq_base") == 1e6f);
  CHECK(m.get<float>("qwen3.attention.layer_norm_rms_epsilon") == 1e-6f);
  CHECK(m.arrayLength("tokenizer.ggml.tokens") == static_cast<std::size_t>(config.vocab));
  CHECK(m.arrayLength("tokenizer.ggml.token_type") == static_cast<std::size_t>(config.vocab));
  CHECK(m.getArray<std::string>("tokenizer.ggml.tokens").at(299) == "<|im_end|>");
  CHECK(m.get<std::uint32_t>("tokenizer.ggml.eos_token_id") == 299);

  std::uint64_t parameters = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const gguf::TensorInfo &t = file.tensors()[i];
    INFO(t.name);
    CHECK(t.name == plans[i].name);
    CHECK(t.ne == plans[i].dims);
    CHECK(t.type == (plans[i].dims.size() == 1 ? GgmlType::F32 : type));
    parameters += static_cast<std::uint64_t>(t.numElements());
    const std::vector<float> generated = synth::generate(plans[i], 42);
    const double worst = checkQuantisationError(t.type, generated, gguf::dequantize(t), t.name);
    if (t.type == GgmlType::Q4_K) // a real quantiser, not noise: a block's error is a fraction of a step
      CHECK(worst > 0.01);
  }
  CHECK(parameters == summary.parameters);
}

} // namespace

TEST_SUITE("synth") {

TEST_CASE("tiny Qwen3 round-trips through the GGUF reader in every type") {
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0})
    checkQwen3RoundTrip("tiny", type, false);
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K})
    checkQwen3RoundTrip("tiny256", type, false);
  checkQwen3RoundTrip("tiny", GgmlType::F16, true);
  checkQwen3RoundTrip("tinywide", GgmlType::Q8_0, false);
  checkQwen3RoundTrip("tiny256", GgmlType::Q6_K, true);
}

TEST_CASE("weights have the README's scales") {
  const synth::Qwen3Config config = synth::qwen3Config("tiny256");
  auto stddev = [](const std::vector<float> &x, double mean) {
    double s = 0;
    for (float v : x)
      s += (v - mean) * (v - mean);
    return std::sqrt(s / double(x.size()));
  };
  for (const synth::TensorPlan &t : synth::qwen3Tensors(config)) {
    INFO(t.name);
    const std::vector<float> x = synth::generate(t, 3);
    const bool norm = t.dims.size() == 1;
    const double expected = t.name == "token_embd.weight" ? 0.05
                            : norm ? 0.1
                                   : std::clamp(0.8 / std::sqrt(double(t.dims[0])), 0.02, 0.1);
    CHECK(t.init.sigma == doctest::Approx(expected));
    if (x.size() >= 4096) // enough samples for the standard deviation to be within 5%
      CHECK(stddev(x, norm ? 1.0 : 0.0) == doctest::Approx(expected).epsilon(0.05));
  }
}

TEST_CASE("the same seed gives the same bytes, another seed other bytes") {
  test::TempDir dir("gamma-synth");
  const synth::Qwen3Config config = synth::qwen3Config("tiny");
  auto write = [&](const std::string &name, std::uint64_t seed) {
    synth::writeQwen3(config, GgmlType::Q4_0, seed, (dir.path() / name).string());
    return readBytes(dir.path() / name);
  };
  const std::string a = write("a.gguf", 5), b = write("b.gguf", 5), c = write("c.gguf", 6);
  CHECK(a == b);
  CHECK(a.size() == c.size());
  CHECK(a != c);

  // Values depend on the seed and the name only: slices agree with the whole tensor.
  const synth::TensorPlan t = synth::qwen3Tensors(config)[0];
  const std::vector<float> whole = synth::generate(t, 9);
  std::vector<float> slice(101);
  synth::generate(t, 9, 77, 101, slice.data());
  CHECK(std::equal(slice.begin(), slice.end(), whole.begin() + 77));

  auto writeWhisper = [&](const std::string &name, std::uint64_t seed) {
    synth::writeWhisper(synth::whisperConfig("ci"), safetensors::DType::BF16, seed, 1, (dir.path() / name).string());
    return readBytes(dir.path() / name / "model.safetensors");
  };
  CHECK(writeWhisper("w1", 3) == writeWhisper("w2", 3));
  CHECK(writeWhisper("w1", 3) != writeWhisper("w3", 4));
}

TEST_CASE("Qwen3-0.6B's tensor list, shapes and parameter count, without writing it") {
  const synth::Qwen3Config config = synth::qwen3Config("0.6b");
  CHECK(config.tied);
  const std::vector<synth::TensorPlan> t = synth::qwen3Tensors(config);
  REQUIRE(t.size() == 1 + 28 * 11 + 1);
  auto dims = [&](std::string_view name) {
    for (const synth::TensorPlan &p : t)
      if (p.name == name)
        return p.dims;
    FAIL("no tensor ", name);
    return std::vector<std::int64_t>{};
  };
  CHECK(t.front().name == "token_embd.weight");
  CHECK(t.back().name == "output_norm.weight");
  CHECK(dims("token_embd.weight") == std::vector<std::int64_t>{1024, 151936});
  CHECK(dims("blk.0.attn_norm.weight") == std::vector<std::int64_t>{1024});
  CHECK(dims("blk.0.attn_q.weight") == std::vector<std::int64_t>{1024, 2048}); // 16 heads x 128 != 1024
  CHECK(dims("blk.0.attn_k.weight") == std::vector<std::int64_t>{1024, 1024});
  CHECK(dims("blk.0.attn_v.weight") == std::vector<std::int64_t>{1024, 1024});
  CHECK(dims("blk.0.attn_q_norm.weight") == std::vector<std::int64_t>{128});
  CHECK(dims("blk.0.attn_k_norm.weight") == std::vector<std::int64_t>{128});
  CHECK(dims("blk.0.attn_output.weight") == std::vector<std::int64_t>{2048, 1024});
  CHECK(dims("blk.27.ffn_gate.weight") == std::vector<std::int64_t>{1024, 3072});
  CHECK(dims("blk.27.ffn_up.weight") == std::vector<std::int64_t>{1024, 3072});
  CHECK(dims("blk.27.ffn_down.weight") == std::vector<std::int64_t>{3072, 1024});
  // Embeddings 151936*1024, per block 4 attention matrices (2048+1024+1024+2048)*1024, three FFN
  // matrices 3*1024*3072 and norms 2*1024 + 2*128, and the final norm.
  CHECK(synth::parameterCount(t) == 596049920);
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q4_0})
    CHECK_NOTHROW(synth::checkRowsFit(t, type));

  synth::Qwen3Config untied = config;
  untied.tied = false;
  CHECK(synth::parameterCount(synth::qwen3Tensors(untied)) == 596049920 + 151936 * 1024);
  CHECK(synth::qwen3Tensors(untied).back().name == "output.weight");

  const gguf::Metadata m = synth::qwen3Metadata(config, GgmlType::Q6_K);
  CHECK(m.get<std::uint32_t>("general.file_type") == 18);
  CHECK(m.get<std::uint32_t>("qwen3.context_length") == 40960);
  CHECK(m.arrayLength("tokenizer.ggml.tokens") == 151936);
  const auto tokens = m.getArray<std::string>("tokenizer.ggml.tokens");
  CHECK(tokens[32] == "\xc4\xa0"); // Ġ, the space
  CHECK(tokens[151643] == "<|endoftext|>");
  CHECK(tokens[151645] == "<|im_end|>");
  CHECK(m.get<std::uint32_t>("tokenizer.ggml.eos_token_id") == 151645);
  CHECK(std::set<std::string>(tokens.begin(), tokens.end()).size() == tokens.size());
}

TEST_CASE("Whisper ci and a 2-shard copy round-trip through the safetensors reader and the HF config") {
  test::TempDir dir("gamma-synth");
  const synth::WhisperConfig config = synth::whisperConfig("ci");
  const std::string single = (dir.path() / "single").string(), sharded = (dir.path() / "sharded").string();
  const synth::Summary s1 = synth::writeWhisper(config, safetensors::DType::F32, 11, 1, single);
  const synth::Summary s2 = synth::writeWhisper(config, safetensors::DType::F32, 11, 2, sharded);
  CHECK(s1.tensors == 37);
  CHECK(s2.files == std::vector<std::string>{(fs::path(sharded) / "model-00001-of-00002.safetensors").string(),
                                             (fs::path(sharded) / "model-00002-of-00002.safetensors").string(),
                                             (fs::path(sharded) / "model.safetensors.index.json").string(),
                                             (fs::path(sharded) / "config.json").string()});

  const hf::WhisperEncoderConfig hc = hf::whisperEncoderConfig(hf::Config::readFile(single + "/config.json"));
  CHECK(hc.modelType == "whisper");
  CHECK(hc.dModel == 64);
  CHECK(hc.encoderLayers == 2);
  CHECK(hc.encoderAttentionHeads == 4);
  CHECK(hc.encoderFfnDim == 128);
  CHECK(hc.numMelBins == 80);
  CHECK(hc.maxSourcePositions == 16);
  CHECK(hc.activationFunction == "gelu");

  const std::vector<synth::TensorPlan> plans = synth::whisperTensors(config);
  const safetensors::Archive a = safetensors::Archive::open(single), b = safetensors::Archive::open(sharded);
  REQUIRE(a.size() == plans.size());
  REQUIRE(b.size() == plans.size());
  std::set<std::string> shardFiles;
  for (const synth::TensorPlan &p : plans) {
    INFO(p.name);
    const safetensors::TensorView &ta = a.tensor(p.name), &tb = b.tensor(p.name);
    CHECK(ta.shape == p.dims);
    CHECK(tb.shape == p.dims);
    CHECK(ta.dtype == safetensors::DType::F32);
    CHECK(safetensors::toFloats(ta) == synth::generate(p, 11));
    CHECK(std::equal(ta.bytes.begin(), ta.bytes.end(), tb.bytes.begin(), tb.bytes.end()));
    shardFiles.insert(tb.file->path());
  }
  CHECK(shardFiles.size() == 2);
  CHECK(a.metadata().at("format") == "pt");
  // The encoder builder accepts both as they are (config.json next to the weights).
  CHECK(transformers::buildWhisperEncoder(sharded).numNodes() > 0);

  // Shapes as HF names them; k_proj alone has no bias.
  CHECK(a.tensor("model.encoder.conv1.weight").shape == Shape{64, 80, 3});
  CHECK(a.tensor("model.encoder.conv2.weight").shape == Shape{64, 64, 3});
  CHECK(a.tensor("model.encoder.layers.1.fc1.weight").shape == Shape{128, 64});
  CHECK(a.tensor("model.encoder.layers.1.fc2.weight").shape == Shape{64, 128});
  CHECK(a.find("model.encoder.layers.0.self_attn.k_proj.bias") == nullptr);
  CHECK(a.find("model.encoder.layers.0.self_attn.v_proj.bias") != nullptr);

  // Whisper's sinusoids(16, 64), computed here independently.
  const std::vector<double> table = safetensors::toDoubles(a.tensor("model.encoder.embed_positions.weight"));
  for (int pos = 0; pos < 16; ++pos)
    for (int c = 0; c < 64; ++c) {
      const double timescale = std::exp(-std::log(10000.0) / 31 * (c % 32));
      const double expected = c < 32 ? std::sin(pos * timescale) : std::cos(pos * timescale);
      CHECK(std::fabs(table[pos * 64 + c] - expected) <= 6e-8);
    }
}

TEST_CASE("Whisper F16 and BF16 round every tensor to nearest; whisper-tiny's list has the real shapes") {
  test::TempDir dir("gamma-synth");
  const synth::WhisperConfig config = synth::whisperConfig("ci");
  using Narrow = std::uint16_t (*)(float);
  for (auto [dtype, narrow] : {std::pair<safetensors::DType, Narrow>{safetensors::DType::F16, floatToHalfNearest},
                               std::pair<safetensors::DType, Narrow>{safetensors::DType::BF16, floatToBfloat16Nearest}}) {
    const std::string out = (dir.path() / std::string(safetensors::dtypeName(dtype))).string();
    synth::writeWhisper(config, dtype, 2, 1, out);
    const safetensors::Archive a = safetensors::Archive::open(out);
    CHECK(hf::Config::readFile(out + "/config.json").string("torch_dtype") ==
          (dtype == safetensors::DType::F16 ? "float16" : "bfloat16"));
    for (const synth::TensorPlan &p : synth::whisperTensors(config)) {
      const safetensors::TensorView &t = a.tensor(p.name);
      CHECK(t.dtype == dtype);
      const std::vector<float> x = synth::generate(p, 2);
      std::vector<std::uint16_t> bits(x.size());
      std::memcpy(bits.data(), t.bytes.data(), t.bytes.size());
      std::size_t mismatches = 0;
      for (std::size_t i = 0; i < x.size(); ++i)
        mismatches += bits[i] != narrow(x[i]);
      CHECK_MESSAGE(mismatches == 0, p.name);
    }
  }

  const std::vector<synth::TensorPlan> tiny = synth::whisperTensors(synth::whisperConfig("tiny"));
  CHECK(tiny.size() == 5 + 4 * 15 + 2);
  auto shape = [&](std::string_view name) {
    for (const synth::TensorPlan &p : tiny)
      if (p.name == name)
        return p.dims;
    return std::vector<std::int64_t>{};
  };
  CHECK(shape("model.encoder.conv1.weight") == std::vector<std::int64_t>{384, 80, 3});
  CHECK(shape("model.encoder.conv2.weight") == std::vector<std::int64_t>{384, 384, 3});
  CHECK(shape("model.encoder.embed_positions.weight") == std::vector<std::int64_t>{1500, 384});
  CHECK(shape("model.encoder.layers.3.fc1.weight") == std::vector<std::int64_t>{1536, 384});
  CHECK(shape("model.encoder.layer_norm.bias") == std::vector<std::int64_t>{384});
  // conv 384*80*3 + 384*384*3 + biases, the position table, 4 blocks of 4 d^2 + 3 d (attention)
  // + 4 d (norms) + 2 d*1536 + 1536 + d (MLP), and the final norm.
  const std::int64_t d = 384, block = 4 * d * d + 3 * d + 4 * d + 2 * d * 1536 + 1536 + d;
  CHECK(synth::parameterCount(tiny) ==
        static_cast<std::uint64_t>(d * 80 * 3 + d + d * d * 3 + d + 1500 * d + 4 * block + 2 * d));
}

TEST_CASE("quantisers: ggml's Q4_0 rule, zero blocks, and whole blocks only") {
  // One block: amax 4 at a negative value, so d = -4/-8 = 0.5 and level 0 is -4 exactly.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j)
    x[j] = (j - 16) * 0.25f;
  const std::vector<std::byte> q4 = gguf::quantize(GgmlType::Q4_0, x);
  REQUIRE(q4.size() == 18);
  std::uint16_t d;
  std::memcpy(&d, q4.data(), 2);
  CHECK(halfToFloat(d) == 0.5f);
  CHECK((std::to_integer<int>(q4[2]) & 0xF) == 0);    // x[0] = -4 -> level 0
  CHECK((std::to_integer<int>(q4[2 + 15]) >> 4) == 15); // x[31] = 3.75: 7.5 + 8.5 = 16, clamped to 15

  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,
                        GgmlType::F16, GgmlType::BF16}) {
    INFO(gguf::ggmlTypeName(type));
    const std::vector<float> zeros(256, 0.0f);
    gguf::TensorInfo t;
    t.name = "zeros";
    t.ne = {256};
    t.type = type;
    const std::vector<std::byte> bytes = gguf::quantize(type, zeros);
    t.bytes = bytes;
    CHECK(gguf::dequantize(t) == zeros);
  }
  CHECK(gguf::quantizedBytes(GgmlType::Q6_K, 512) == 2 * 210);
  CHECK(gguf::quantizableTypeFromName("Q5_K") == GgmlType::Q5_K);
  CHECK(!gguf::quantizableTypeFromName("q3_k"));
}

TEST_CASE("bad options and unwritable paths are one-line errors naming the place") {
  auto oneLine = [](const std::string &message, std::string_view prefix) {
    INFO(message);
    CHECK(startsWith(message, prefix));
    CHECK(message.find('\n') == std::string::npos);
  };
  oneLine(errorOf([] { synth::qwen3Type("q3_k"); }), "--type: unknown type 'q3_k' (gamma-synth writes f32, f16");
  oneLine(errorOf([] { synth::qwen3Config("7b"); }), "--config: unknown Qwen3 configuration '7b' (known: 0.6b, tiny");
  oneLine(errorOf([] { synth::whisperConfig("large"); }), "--config: unknown Whisper configuration 'large'");
  oneLine(errorOf([] { synth::whisperDType("f8"); }), "--dtype: unknown dtype 'f8'");
  oneLine(errorOf([] { synth::checkRowsFit(synth::qwen3Tensors(synth::qwen3Config("tiny")), GgmlType::Q4_K); }),
          "--type q4_k: tensor 'token_embd.weight' has rows of 64 elements, not a multiple of the Q4_K block size "
          "256 (K-quants need --config tiny256 or 0.6b)");

  test::TempDir dir("gamma-synth");
  const std::string missingDir = (dir.path() / "no" / "such" / "m.gguf").string();
  oneLine(errorOf([&] { synth::writeQwen3(synth::qwen3Config("tiny"), GgmlType::Q6_K, 1, missingDir); }),
          "--type q6_k: tensor 'token_embd.weight'");
  oneLine(errorOf([&] { synth::writeQwen3(synth::qwen3Config("tiny"), GgmlType::F16, 1, missingDir); }),
          missingDir + ": cannot open for writing (No such file or directory)");
  CHECK(!fs::exists(missingDir));

  const std::string notADir = dir.write("file", "x");
  const synth::WhisperConfig ci = synth::whisperConfig("ci");
  oneLine(errorOf([&] { synth::writeWhisper(ci, safetensors::DType::F32, 1, 1, notADir); }),
          notADir + ": cannot create the output directory");
  oneLine(errorOf([&] { synth::writeWhisper(ci, safetensors::DType::F32, 1, 0, (dir.path() / "w").string()); }),
          "--shards: 0 shards for 37 tensors: give 1 to 37");
  oneLine(errorOf([&] { synth::writeWhisper(ci, safetensors::DType::F32, 1, 38, (dir.path() / "w").string()); }),
          "--shards: 38 shards");
}

TEST_CASE("a failed or unfinished write leaves no file behind") {
  test::TempDir dir("gamma-synth");
  const std::string path = (dir.path() / "partial.gguf").string();
  {
    gguf::Metadata m;
    m.add("general.architecture", gguf::stringValue("qwen3"));
    gguf::Writer w(path, m, {{"a", {32}, GgmlType::F32}});
    CHECK(fs::exists(path));
    // Destroyed before finish(), as when generation throws.
  }
  CHECK(!fs::exists(path));
  {
    safetensors::Writer w((dir.path() / "partial.safetensors").string(), {{"a", safetensors::DType::F32, {4}}});
  }
  CHECK(!fs::exists(dir.path() / "partial.safetensors"));
}

TEST_CASE("with shared/reference: llama-quantize's Q8_0 bytes, the tiny configs' headers and config.json") {
  const fs::path ref = referenceDir();
  if (!fs::is_directory(ref)) {
    MESSAGE("skipped: shared/reference/transformers not found (set GAMMA_SHARED_DIR)");
    return;
  }
  // The Q8_0 quantiser is ggml's reference one: re-quantising the F32 file's tensors gives
  // llama-quantize's bytes.
  const gguf::File f32 = gguf::File::open((ref / "qwen3_tiny_f32.gguf").string());
  const gguf::File q8 = gguf::File::open((ref / "qwen3_tiny_q8_0.gguf").string());
  int compared = 0;
  for (const gguf::TensorInfo &t : q8.tensors()) {
    if (t.type != GgmlType::Q8_0)
      continue;
    const std::vector<std::byte> bytes = gguf::quantize(GgmlType::Q8_0, gguf::dequantize(f32.tensor(t.name)));
    CHECK_MESSAGE(std::equal(bytes.begin(), bytes.end(), t.bytes.begin(), t.bytes.end()), t.name);
    ++compared;
  }
  CHECK(compared == 16); // token_embd, output and 7 matrices per block

  // Config A in F32: the same metadata and tensor infos as the reference file, byte for byte
  // (only the weights differ), and so the same size.
  test::TempDir dir("gamma-synth");
  const std::string path = (dir.path() / "tiny.gguf").string();
  synth::writeQwen3(synth::qwen3Config("tiny"), GgmlType::F32, 1234, path);
  const std::string mine = readBytes(path), theirs = readBytes(ref / "qwen3_tiny_f32.gguf");
  CHECK(mine.size() == theirs.size());
  CHECK(mine.substr(0, f32.dataOffset()) == theirs.substr(0, f32.dataOffset()));

  // Whisper ci: the reference's config.json but for the name, and the same tensor list.
  const std::string out = (dir.path() / "ci").string();
  synth::writeWhisper(synth::whisperConfig("ci"), safetensors::DType::F32, 2024, 1, out);
  nlohmann::json a = nlohmann::json::parse(readBytes(fs::path(out) / "config.json"));
  nlohmann::json b = nlohmann::json::parse(readBytes(ref / "whisper_tiny_config.json"));
  a.erase("_name_or_path");
  b.erase("_name_or_path");
  CHECK(a == b);
  const safetensors::Archive reference = safetensors::Archive::open((ref / "whisper_tiny_f32.safetensors").string());
  const safetensors::Archive synthetic = safetensors::Archive::open(out);
  CHECK(reference.names() == synthetic.names());
  for (const std::string &name : reference.names())
    CHECK(reference.tensor(name).shape == synthetic.tensor(name).shape);
  CHECK(fs::file_size(fs::path(out) / "model.safetensors") == fs::file_size(ref / "whisper_tiny_f32.safetensors"));
}

} // TEST_SUITE
