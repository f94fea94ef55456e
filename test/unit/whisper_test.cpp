// The Whisper encoder graph (frontend/transformers). Without shared material:
// a tiny synthetic model written here (safetensors + config.json) checked
// against a direct float64 forward pass written below, in every weight dtype
// and tensor prefix, and every error the builder must give. With
// shared/reference/transformers (README section 2): the tiny Whisper's F32 and
// F16 files against their float64 reference outputs, the verifier, the text
// round trip and an IBP smoke check.
#include "bounds/bounds.h"
#include "frontend/transformers/transformer_blocks.h"
#include "frontend/transformers/whisper_graph.h"
#include "ir/constant.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"
#include "ir/verifier.h"

#include "test/temp_dir.h"

#include "test/shared_material.h"
#include "test/synthetic_weights.h"
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

using namespace gm;
using namespace gm::transformers;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using gm::test::flattenJson;
using gm::test::sharedDir;
using gm::test::transformersDir;

struct TempDir : gm::test::TempDir {
  TempDir() : gm::test::TempDir("gamma-whisper") {}
};

// ---- a tiny synthetic Whisper ----

struct Dims {
  std::int64_t mel = 4, d = 8, heads = 2, ffn = 16, layers = 1, positions = 4;
};

using gm::test::Weights;
using Rng = gm::test::GridRng;


Weights syntheticWeights(const Dims &n) {
  Weights w;
  Rng rng{42};
  auto add = [&](const std::string &name, Shape shape, double offset = 0) {
    std::vector<double> v(static_cast<std::size_t>(numElements(shape)));
    for (double &x : v)
      x = offset + rng.next();
    w[name] = {std::move(shape), std::move(v)};
  };
  add("conv1.weight", {n.d, n.mel, 3});
  add("conv1.bias", {n.d});
  add("conv2.weight", {n.d, n.d, 3});
  add("conv2.bias", {n.d});
  add("embed_positions.weight", {n.positions, n.d});
  for (std::int64_t l = 0; l < n.layers; ++l) {
    std::string p = fmt::format("layers.{}.", l);
    for (const char *proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add(p + "self_attn." + proj + ".weight", {n.d, n.d});
      if (std::string(proj) != "k_proj")
        add(p + "self_attn." + proj + ".bias", {n.d});
    }
    for (const char *norm : {"self_attn_layer_norm", "final_layer_norm"}) {
      add(p + norm + ".weight", {n.d}, 1.0);
      add(p + norm + ".bias", {n.d});
    }
    add(p + "fc1.weight", {n.ffn, n.d});
    add(p + "fc1.bias", {n.ffn});
    add(p + "fc2.weight", {n.d, n.ffn});
    add(p + "fc2.bias", {n.d});
  }
  add("layer_norm.weight", {n.d}, 1.0);
  add("layer_norm.bias", {n.d});
  return w;
}

// As HF writes them: header padded with spaces to 8 bytes, data in name order.
std::string safetensorsFile(const Weights &weights, const std::string &dtype, const std::string &prefix) {
  json header = json::object();
  std::string data;
  for (const auto &[name, tensor] : weights) {
    std::size_t begin = data.size();
    for (double v : tensor.second) {
      if (dtype == "F32") {
        float f = static_cast<float>(v);
        data.append(reinterpret_cast<const char *>(&f), 4);
      } else {
        std::uint16_t h = dtype == "F16" ? floatToHalfNearest(static_cast<float>(v))
                                         : floatToBfloat16Nearest(static_cast<float>(v));
        data.append(reinterpret_cast<const char *>(&h), 2);
      }
    }
    header[prefix + name] = {{"dtype", dtype}, {"shape", tensor.first}, {"data_offsets", {begin, data.size()}}};
  }
  header["__metadata__"] = {{"format", "pt"}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::uint64_t size = text.size();
  return std::string(reinterpret_cast<const char *>(&size), 8) + text + data;
}

json syntheticConfig(const Dims &n) {
  return {{"model_type", "whisper"},          {"num_mel_bins", n.mel},           {"d_model", n.d},
          {"encoder_layers", n.layers},       {"encoder_attention_heads", n.heads}, {"encoder_ffn_dim", n.ffn},
          {"max_source_positions", n.positions}, {"activation_function", "gelu"}};
}

std::vector<double> syntheticMel(const Dims &n, std::int64_t frames) {
  std::vector<double> mel(static_cast<std::size_t>(n.mel * frames));
  for (std::size_t i = 0; i < mel.size(); ++i)
    mel[i] = std::sin(0.7 * static_cast<double>(i)) * 1.5;
  return mel;
}

// ---- the encoder as plain float64 loops, independent of the IR ----

using Rows = std::vector<std::vector<double>>; // [tokens][features]

double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

struct Direct {
  const Weights &w;
  const Dims &n;
  const std::vector<double> &at(const std::string &name) const { return w.at(name).second; }

  Rows conv(const Rows &x /* [channels][frames] */, const std::string &name, std::int64_t stride) const {
    const auto &k = at(name + ".weight"), &b = at(name + ".bias");
    std::int64_t c = static_cast<std::int64_t>(x.size()), len = static_cast<std::int64_t>(x[0].size());
    std::int64_t out = (len - 1) / stride + 1;
    Rows y(static_cast<std::size_t>(n.d), std::vector<double>(static_cast<std::size_t>(out)));
    for (std::int64_t o = 0; o < n.d; ++o)
      for (std::int64_t t = 0; t < out; ++t) {
        double s = b[o];
        for (std::int64_t i = 0; i < c; ++i)
          for (std::int64_t j = 0; j < 3; ++j) {
            std::int64_t pos = t * stride + j - 1;
            if (pos >= 0 && pos < len)
              s += k[(o * c + i) * 3 + j] * x[i][pos];
          }
        y[o][t] = gelu(s);
      }
    return y;
  }

  Rows linear(const Rows &x, const std::string &name, bool bias) const {
    const auto &wt = at(name + ".weight");
    std::size_t in = x[0].size(), out = wt.size() / in;
    Rows y(x.size(), std::vector<double>(out));
    for (std::size_t t = 0; t < x.size(); ++t)
      for (std::size_t o = 0; o < out; ++o) {
        double s = bias ? at(name + ".bias")[o] : 0.0;
        for (std::size_t i = 0; i < in; ++i)
          s += wt[o * in + i] * x[t][i];
        y[t][o] = s;
      }
    return y;
  }

  Rows norm(Rows x, const std::string &name) const {
    for (auto &row : x) {
      double mean = 0, var = 0;
      for (double v : row)
        mean += v / static_cast<double>(row.size());
      for (double v : row)
        var += (v - mean) * (v - mean) / static_cast<double>(row.size());
      for (std::size_t i = 0; i < row.size(); ++i)
        row[i] = (row[i] - mean) / std::sqrt(var + 1e-5) * at(name + ".weight")[i] + at(name + ".bias")[i];
    }
    return x;
  }

  Rows attention(const Rows &x, const std::string &name) const {
    std::size_t hd = static_cast<std::size_t>(n.d / n.heads), tokens = x.size();
    Rows q = linear(x, name + ".q_proj", true), k = linear(x, name + ".k_proj", false),
         v = linear(x, name + ".v_proj", true), ctx(tokens, std::vector<double>(static_cast<std::size_t>(n.d)));
    for (std::size_t h = 0; h < static_cast<std::size_t>(n.heads); ++h)
      for (std::size_t t = 0; t < tokens; ++t) {
        std::vector<double> p(tokens);
        double sum = 0;
        for (std::size_t s = 0; s < tokens; ++s) {
          double dot = 0;
          for (std::size_t i = h * hd; i < (h + 1) * hd; ++i)
            dot += q[t][i] / std::sqrt(static_cast<double>(hd)) * k[s][i];
          sum += p[s] = std::exp(dot);
        }
        for (std::size_t s = 0; s < tokens; ++s)
          for (std::size_t i = h * hd; i < (h + 1) * hd; ++i)
            ctx[t][i] += p[s] / sum * v[s][i];
      }
    return linear(ctx, name + ".out_proj", true);
  }

  Rows run(const std::vector<double> &mel, std::int64_t frames) const {
    Rows x(static_cast<std::size_t>(n.mel));
    for (std::int64_t c = 0; c < n.mel; ++c)
      x[c].assign(mel.begin() + c * frames, mel.begin() + (c + 1) * frames);
    Rows channels = conv(conv(x, "conv1", 1), "conv2", 2);
    Rows h(channels[0].size(), std::vector<double>(static_cast<std::size_t>(n.d)));
    for (std::size_t t = 0; t < h.size(); ++t)
      for (std::size_t c = 0; c < h[t].size(); ++c)
        h[t][c] = channels[c][t] + at("embed_positions.weight")[t * h[t].size() + c];
    auto addTo = [](Rows &a, const Rows &b) {
      for (std::size_t t = 0; t < a.size(); ++t)
        for (std::size_t i = 0; i < a[t].size(); ++i)
          a[t][i] += b[t][i];
    };
    for (std::int64_t l = 0; l < n.layers; ++l) {
      std::string p = fmt::format("layers.{}.", l);
      addTo(h, attention(norm(h, p + "self_attn_layer_norm"), p + "self_attn"));
      Rows f = linear(norm(h, p + "final_layer_norm"), p + "fc1", true);
      for (auto &row : f)
        for (double &v : row)
          v = gelu(v);
      addTo(h, linear(f, p + "fc2", true));
    }
    return norm(h, "layer_norm");
  }
};

std::vector<double> evaluate(const Graph &g, const std::vector<double> &input) {
  ref::Tensor x{g.type(g.inputs()[0]).shape, input};
  return ref::evaluate(g, std::span(&x, 1))[0].data;
}

double maxAbsDiff(const std::vector<double> &a, const std::vector<double> &b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

void requireRoundTrip(const Graph &g) {
  std::string once = printGraph(g);
  std::string twice = printGraph(parseGraph(once, (fs::temp_directory_path() / "whisper.gir").string()));
  CHECK(once == twice);
}

// The builder's error for `weights`/`config` written into a fresh directory.
std::string buildError(const Weights &weights, const json &config, const WhisperOptions &options = {}) {
  TempDir dir;
  dir.write("model.safetensors", safetensorsFile(weights, "F32", "model.encoder."));
  dir.write("config.json", config.dump());
  try {
    buildWhisperEncoder(dir.path().string(), options);
  } catch (const InputError &e) {
    std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);
    return message;
  }
  FAIL("no error");
  return {};
}

// ---- shared material ----

} // namespace

TEST_SUITE("whisper") {

TEST_CASE("synthetic whisper: graph matches a direct float64 forward pass, verifies and round-trips") {
  Dims n;
  Weights weights = syntheticWeights(n);
  TempDir dir;
  dir.write("model.safetensors", safetensorsFile(weights, "F32", "model.encoder."));
  dir.write("config.json", syntheticConfig(n).dump());
  Graph g = buildWhisperEncoder(dir.path().string());
  CHECK(g.type(g.inputs()[0]) == TensorType{DType::F32, {1, n.mel, 2 * n.positions}});
  CHECK(g.type(g.outputs()[0]) == TensorType{DType::F32, {1, n.positions, n.d}});
  verify(g, "synthetic");
  requireRoundTrip(g);

  std::vector<double> mel = syntheticMel(n, 2 * n.positions);
  std::vector<double> y = evaluate(g, mel);
  Rows expected = Direct{weights, n}.run(mel, 2 * n.positions);
  std::vector<double> flat;
  for (const auto &row : expected)
    flat.insert(flat.end(), row.begin(), row.end());
  // Only the f32 constant 1/√2 in GELU differs from the exact value.
  double diff = maxAbsDiff(y, flat);
  MESSAGE("synthetic max |Δ| vs direct f64: ", diff);
  CHECK(diff < 1e-6);

  // F32 weights stay in the file: the printed IR refers to it.
  CHECK(printGraph(g).find("model.safetensors\"[") != std::string::npos);
}

TEST_CASE("synthetic whisper: fewer frames use the first rows of embed_positions") {
  Dims n;
  Weights weights = syntheticWeights(n);
  TempDir dir;
  dir.write("model.safetensors", safetensorsFile(weights, "F32", ""));
  std::string config = dir.write("whisper.json", syntheticConfig(n).dump());
  Graph g = buildWhisperEncoder((dir.path() / "model.safetensors").string(), {5, config});
  CHECK(g.type(g.outputs()[0]).shape == Shape{1, 3, n.d});
  std::vector<double> mel = syntheticMel(n, 5);
  Rows expected = Direct{weights, n}.run(mel, 5);
  std::vector<double> flat;
  for (const auto &row : expected)
    flat.insert(flat.end(), row.begin(), row.end());
  CHECK(maxAbsDiff(evaluate(g, mel), flat) < 1e-6);
}

TEST_CASE("synthetic whisper: F16 and BF16 files and every tensor prefix give the F32 graph's values") {
  Dims n;
  n.layers = 2;
  n.heads = 4;
  Weights weights = syntheticWeights(n);
  std::vector<double> mel = syntheticMel(n, 2 * n.positions), reference;
  for (const char *dtype : {"F32", "F16", "BF16"})
    for (const char *prefix : {"model.encoder.", "encoder.", ""}) {
      CAPTURE(dtype);
      CAPTURE(prefix);
      TempDir dir;
      std::string file = dir.write("w.safetensors", safetensorsFile(weights, dtype, prefix));
      dir.write("config.json", syntheticConfig(n).dump());
      Graph g = buildWhisperEncoder(file);
      std::vector<double> y = evaluate(g, mel);
      if (reference.empty())
        reference = y;
      CHECK(maxAbsDiff(y, reference) == 0.0);
    }
}

TEST_CASE("synthetic whisper: missing tensors, wrong shapes and config disagreements are one-line errors") {
  Dims n;
  Weights weights = syntheticWeights(n);
  json config = syntheticConfig(n);

  Weights missing = weights;
  missing.erase("layers.0.fc2.bias");
  std::string e = buildError(missing, config);
  CHECK(e.find("tensor 'model.encoder.layers.0.fc2.bias'") != std::string::npos);
  CHECK(e.find("missing") != std::string::npos);

  Weights wrong = weights;
  wrong["layers.0.fc1.weight"] = {{15, n.d}, std::vector<double>(static_cast<std::size_t>(15 * n.d), 0.0)};
  e = buildError(wrong, config);
  CHECK(e.find("tensor 'model.encoder.layers.0.fc1.weight'") != std::string::npos);
  CHECK(e.find("[15,8]") != std::string::npos);
  CHECK(e.find("[16,8]") != std::string::npos);
  CHECK(e.find("encoder_ffn_dim 16") != std::string::npos);

  // The config, not the weights, decides: d_model 16 disagrees with every tensor.
  json wider = config;
  wider["d_model"] = 16;
  e = buildError(weights, wider);
  CHECK(e.find("tensor 'model.encoder.conv1.weight'") != std::string::npos);
  CHECK(e.find("[8,4,3]") != std::string::npos);
  CHECK(e.find("[16,4,3]") != std::string::npos);

  Weights extraLayer = syntheticWeights(Dims{.layers = 2});
  e = buildError(extraLayer, config);
  CHECK(e.find("layers.1.fc1.weight") != std::string::npos);
  CHECK(e.find("encoder_layers 1") != std::string::npos);

  Weights keyBias = weights;
  keyBias["layers.0.self_attn.k_proj.bias"] = {{n.d}, std::vector<double>(static_cast<std::size_t>(n.d), 0.0)};
  CHECK(buildError(keyBias, config).find("k_proj.bias") != std::string::npos);

  json tanhGelu = config;
  tanhGelu["activation_function"] = "gelu_new";
  CHECK(buildError(weights, tanhGelu).find("key 'activation_function'") != std::string::npos);

  CHECK(buildError(weights, config, {20, ""}).find("max_source_positions") != std::string::npos);

  Weights noConv = weights;
  noConv.erase("conv1.weight");
  CHECK(buildError(noConv, config).find("conv1.weight") != std::string::npos);

  TempDir noConfig;
  std::string file = noConfig.write("m.safetensors", safetensorsFile(weights, "F32", ""));
  CHECK_THROWS_WITH_AS(buildWhisperEncoder(file), doctest::Contains("config.json"), InputError);
}

TEST_CASE("grouped-query attention block: query head h reads key/value head h / (H / Hkv), mask added") {
  // q [1,4,3,2], k/v [1,2,3,2], causal mask: checked against the formula.
  const std::int64_t heads = 4, kvHeads = 2, tokens = 3, dim = 2;
  Graph g;
  ValueId q = g.addInput("q", {DType::F32, {1, heads, tokens, dim}}, "q");
  auto constant = [&](Shape shape, auto f, const char *name) {
    std::vector<double> v(static_cast<std::size_t>(numElements(shape)));
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = static_cast<float>(f(i)); // what the f32 constant holds
    return std::pair{g.addConst(Constant::fromDoubles({DType::F32, shape}, v), name), v};
  };
  auto [k, kv] = constant({1, kvHeads, tokens, dim}, [](std::size_t i) { return std::cos(double(i)); }, "k");
  auto [v, vv] = constant({1, kvHeads, tokens, dim}, [](std::size_t i) { return 0.25 * double(i); }, "v");
  auto [mask, maskValues] = constant(
      {tokens, tokens}, [](std::size_t i) { return i % tokens > i / tokens ? -1e9 : 0.0; }, "mask");
  g.setOutputs({attention(g, q, k, v, mask, "attn")});
  verify(g, "gqa");

  std::vector<double> qv(static_cast<std::size_t>(heads * tokens * dim));
  for (std::size_t i = 0; i < qv.size(); ++i)
    qv[i] = std::sin(double(i));
  std::vector<double> y = evaluate(g, qv);
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t t = 0; t < tokens; ++t) {
      std::int64_t kvHead = h / (heads / kvHeads);
      std::vector<double> p(tokens);
      double sum = 0;
      for (std::int64_t s = 0; s < tokens; ++s) {
        double dot = maskValues[t * tokens + s];
        for (std::int64_t d = 0; d < dim; ++d)
          dot += qv[(h * tokens + t) * dim + d] * kv[(kvHead * tokens + s) * dim + d];
        sum += p[s] = std::exp(dot);
      }
      for (std::int64_t d = 0; d < dim; ++d) {
        double expect = 0;
        for (std::int64_t s = 0; s < tokens; ++s)
          expect += p[s] / sum * vv[(kvHead * tokens + s) * dim + d];
        CHECK(y[(h * tokens + t) * dim + d] == doctest::Approx(expect).epsilon(1e-12));
      }
    }
}

TEST_CASE("shared whisper_tiny: F32 and F16 files match the float64 reference; IR verifies and round-trips; IBP") {
  fs::path dir = transformersDir();
  if (!fs::is_regular_file(dir / "whisper_tiny_f32.safetensors")) {
    MESSAGE("skipped: shared/reference/transformers not found (set GAMMA_SHARED_DIR)");
    return;
  }
  json ref = json::parse(std::ifstream(dir / "whisper_tiny_ref.json"));
  std::vector<double> mel = flattenJson(ref["mel_input"]);
  WhisperOptions options;
  options.configPath = (dir / "whisper_tiny_config.json").string();

  for (auto [file, key] : {std::pair<std::string, std::string>{"whisper_tiny_f32.safetensors", "output"},
                           std::pair<std::string, std::string>{"whisper_tiny_f16.safetensors", "output_f16_file"}}) {
    CAPTURE(file);
    Graph g = buildWhisperEncoder((dir / file).string(), options);
    CHECK(g.type(g.inputs()[0]).shape == Shape{1, 80, 32});
    CHECK(g.type(g.outputs()[0]).shape == Shape{1, 16, 64});
    verify(g, file);
    requireRoundTrip(g);

    std::vector<double> y = evaluate(g, mel);
    double diff = maxAbsDiff(y, flattenJson(ref[key]));
    MESSAGE(file, ": max |Δ| vs ", key, " = ", diff);
    CHECK(diff <= 1e-4);

    bounds::Box box;
    for (double m : mel) {
      box.lower.push_back(m - 1e-3);
      box.upper.push_back(m + 1e-3);
    }
    bounds::Options ibp;
    ibp.method = bounds::Method::Ibp;
    bounds::Result r = bounds::computeBounds(g, box, nullptr, ibp);
    REQUIRE(r.lower.size() == y.size());
    double widest = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      CHECK(std::isfinite(r.lower[i]));
      CHECK(std::isfinite(r.upper[i]));
      CHECK(r.lower[i] <= y[i]);
      CHECK(y[i] <= r.upper[i]);
      widest = std::max(widest, r.upper[i] - r.lower[i]);
    }
    MESSAGE(file, ": IBP over ±1e-3, widest output interval ", widest);
  }
}

} // TEST_SUITE
