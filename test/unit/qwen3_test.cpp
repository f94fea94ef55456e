// The Qwen3 decoder graph (frontend/transformers/qwen3_graph). Without shared
// material: a tiny synthetic GGUF written here, checked against a direct
// float64 forward pass written below, and every error the builder must give.
// With shared/reference/transformers (README section 1): every qwen3_*.gguf
// against its float64 reference logits (and llama.cpp's), the verifier, the
// text round trip and an IBP smoke check on the tiny F32 file.
#include "bounds/bounds.h"
#include "frontend/transformers/decoder_blocks.h"
#include "frontend/transformers/qwen3_graph.h"
#include "frontend/transformers/synth_models.h"
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

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

using namespace gm;
using namespace gm::transformers;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using gm::test::flattenJson;
using gm::test::sharedDir;
using gm::test::transformersDir;

// ---- a minimal GGUF writer: metadata and F32 tensors ----

template <typename T> void put(std::string &out, T v) { out.append(reinterpret_cast<const char *>(&v), sizeof v); }

void putString(std::string &out, std::string_view s) {
  put<std::uint64_t>(out, s.size());
  out += s;
}

// GGUF value types (gguf_type).
constexpr std::uint32_t kU32 = 4, kF32 = 6, kString = 8, kArray = 9;

struct GgufWriter {
  static constexpr std::uint64_t kAlignment = 32;
  std::string kvs, infos, data;
  std::uint64_t kvCount = 0, tensorCount = 0;

  std::string &key(std::string_view name, std::uint32_t type) {
    putString(kvs, name);
    put(kvs, type);
    ++kvCount;
    return kvs;
  }
  void u32(std::string_view name, std::uint32_t v) { put(key(name, kU32), v); }
  void f32(std::string_view name, float v) { put(key(name, kF32), v); }
  void string(std::string_view name, std::string_view s) { putString(key(name, kString), s); }
  void strings(std::string_view name, std::int64_t count) {
    std::string &out = key(name, kArray);
    put(out, kString);
    put<std::uint64_t>(out, static_cast<std::uint64_t>(count));
    for (std::int64_t i = 0; i < count; ++i)
      putString(out, fmt::format("t{}", i));
  }
  // `shape` row-major; written in ggml order (ne0 = last dimension).
  void tensor(std::string_view name, const Shape &shape, const std::vector<double> &values) {
    data.resize((data.size() + kAlignment - 1) / kAlignment * kAlignment, '\0');
    putString(infos, name);
    put<std::uint32_t>(infos, static_cast<std::uint32_t>(shape.size()));
    for (auto d = shape.rbegin(); d != shape.rend(); ++d)
      put<std::int64_t>(infos, *d);
    put<std::uint32_t>(infos, 0); // GGML_TYPE_F32
    put<std::uint64_t>(infos, data.size());
    for (double v : values)
      put(data, static_cast<float>(v));
    ++tensorCount;
  }
  std::string bytes() const {
    std::string out = "GGUF";
    put<std::uint32_t>(out, 3);
    put(out, tensorCount);
    put(out, kvCount);
    out += kvs;
    out += infos;
    out.resize((out.size() + kAlignment - 1) / kAlignment * kAlignment, '\0');
    return out + data;
  }
};

// ---- a tiny synthetic Qwen3 ----

// n_head·head_dim = 12 ≠ n_embd = 8, and grouped-query attention (2 heads, 1 KV head).
struct Dims {
  std::int64_t embd = 8, ffn = 12, heads = 2, kvHeads = 1, headDim = 6, vocab = 10, blocks = 2;
  double ropeBase = 10000, eps = 1e-6;
};

using gm::test::Weights;
using Rng = gm::test::GridRng;


Weights syntheticWeights(const Dims &n, bool tied) {
  Weights w;
  Rng rng{7};
  auto add = [&](const std::string &name, Shape shape, double offset = 0) {
    std::vector<double> v(static_cast<std::size_t>(numElements(shape)));
    for (double &x : v)
      x = offset + rng.next();
    w[name] = {std::move(shape), std::move(v)};
  };
  add("token_embd.weight", {n.vocab, n.embd});
  for (std::int64_t b = 0; b < n.blocks; ++b) {
    std::string p = fmt::format("blk.{}.", b);
    add(p + "attn_norm.weight", {n.embd}, 1.0);
    add(p + "attn_q.weight", {n.heads * n.headDim, n.embd});
    add(p + "attn_k.weight", {n.kvHeads * n.headDim, n.embd});
    add(p + "attn_v.weight", {n.kvHeads * n.headDim, n.embd});
    add(p + "attn_q_norm.weight", {n.headDim}, 1.0);
    add(p + "attn_k_norm.weight", {n.headDim}, 1.0);
    add(p + "attn_output.weight", {n.embd, n.heads * n.headDim});
    add(p + "ffn_norm.weight", {n.embd}, 1.0);
    add(p + "ffn_gate.weight", {n.ffn, n.embd});
    add(p + "ffn_up.weight", {n.ffn, n.embd});
    add(p + "ffn_down.weight", {n.embd, n.ffn});
  }
  add("output_norm.weight", {n.embd}, 1.0);
  if (!tied)
    add("output.weight", {n.vocab, n.embd});
  return w;
}

std::string syntheticGguf(const Dims &n, const Weights &weights, std::int64_t tokenizerTokens = -1) {
  GgufWriter out;
  out.string("general.architecture", "qwen3");
  out.u32("qwen3.block_count", static_cast<std::uint32_t>(n.blocks));
  out.u32("qwen3.context_length", 128);
  out.u32("qwen3.embedding_length", static_cast<std::uint32_t>(n.embd));
  out.u32("qwen3.feed_forward_length", static_cast<std::uint32_t>(n.ffn));
  out.u32("qwen3.attention.head_count", static_cast<std::uint32_t>(n.heads));
  out.u32("qwen3.attention.head_count_kv", static_cast<std::uint32_t>(n.kvHeads));
  out.u32("qwen3.attention.key_length", static_cast<std::uint32_t>(n.headDim));
  out.u32("qwen3.attention.value_length", static_cast<std::uint32_t>(n.headDim));
  out.f32("qwen3.rope.freq_base", static_cast<float>(n.ropeBase));
  out.f32("qwen3.attention.layer_norm_rms_epsilon", static_cast<float>(n.eps));
  out.strings("tokenizer.ggml.tokens", tokenizerTokens < 0 ? n.vocab : tokenizerTokens);
  for (const auto &[name, tensor] : weights)
    out.tensor(name, tensor.first, tensor.second);
  return out.bytes();
}

// ---- the decoder as plain float64 loops, independent of the IR ----

using Rows = std::vector<std::vector<double>>; // [tokens][features]

struct Direct {
  const Weights &w;
  const Dims &n;
  const std::vector<double> &at(const std::string &name) const { return w.at(name).second; }

  Rows linear(const Rows &x, const std::string &name) const {
    const auto &wt = at(name);
    std::size_t in = x[0].size(), out = wt.size() / in;
    Rows y(x.size(), std::vector<double>(out));
    for (std::size_t t = 0; t < x.size(); ++t)
      for (std::size_t o = 0; o < out; ++o)
        for (std::size_t i = 0; i < in; ++i)
          y[t][o] += wt[o * in + i] * x[t][i];
    return y;
  }

  // RMSNorm of each `width`-wide group of a row (a head, or the whole row).
  Rows rmsNorm(Rows x, const std::string &name, std::size_t width) const {
    float eps = static_cast<float>(n.eps); // as the f32 metadata holds it
    for (auto &row : x)
      for (std::size_t g = 0; g < row.size(); g += width) {
        double ms = 0;
        for (std::size_t i = 0; i < width; ++i)
          ms += row[g + i] * row[g + i] / static_cast<double>(width);
        for (std::size_t i = 0; i < width; ++i)
          row[g + i] = row[g + i] / std::sqrt(ms + eps) * at(name)[i];
      }
    return x;
  }

  void rope(Rows &x) const {
    std::size_t d = static_cast<std::size_t>(n.headDim), half = d / 2;
    for (std::size_t t = 0; t < x.size(); ++t)
      for (std::size_t h = 0; h < x[t].size(); h += d)
        for (std::size_t i = 0; i < half; ++i) {
          double angle = static_cast<double>(t) * std::pow(n.ropeBase, -2.0 * static_cast<double>(i) / double(d));
          double a = x[t][h + i], b = x[t][h + i + half];
          x[t][h + i] = a * std::cos(angle) - b * std::sin(angle);
          x[t][h + i + half] = b * std::cos(angle) + a * std::sin(angle);
        }
  }

  Rows attention(const Rows &x, const std::string &p) const {
    std::size_t d = static_cast<std::size_t>(n.headDim), tokens = x.size();
    Rows q = rmsNorm(linear(x, p + "attn_q.weight"), p + "attn_q_norm.weight", d);
    Rows k = rmsNorm(linear(x, p + "attn_k.weight"), p + "attn_k_norm.weight", d);
    Rows v = linear(x, p + "attn_v.weight");
    rope(q);
    rope(k);
    Rows ctx(tokens, std::vector<double>(static_cast<std::size_t>(n.heads) * d));
    for (std::size_t h = 0; h < static_cast<std::size_t>(n.heads); ++h) {
      std::size_t kv = h / static_cast<std::size_t>(n.heads / n.kvHeads);
      for (std::size_t t = 0; t < tokens; ++t) {
        std::vector<double> p(t + 1);
        double sum = 0;
        for (std::size_t s = 0; s <= t; ++s) {
          double dot = 0;
          for (std::size_t i = 0; i < d; ++i)
            dot += q[t][h * d + i] * k[s][kv * d + i];
          sum += p[s] = std::exp(dot / std::sqrt(static_cast<double>(d)));
        }
        for (std::size_t s = 0; s <= t; ++s)
          for (std::size_t i = 0; i < d; ++i)
            ctx[t][h * d + i] += p[s] / sum * v[s][kv * d + i];
      }
    }
    return linear(ctx, p + "attn_output.weight");
  }

  Rows run(const std::vector<std::int64_t> &tokens) const {
    Rows x;
    std::size_t e = static_cast<std::size_t>(n.embd);
    for (std::int64_t t : tokens)
      x.emplace_back(at("token_embd.weight").begin() + t * n.embd, at("token_embd.weight").begin() + (t + 1) * n.embd);
    auto addTo = [](Rows &a, const Rows &b) {
      for (std::size_t t = 0; t < a.size(); ++t)
        for (std::size_t i = 0; i < a[t].size(); ++i)
          a[t][i] += b[t][i];
    };
    for (std::int64_t b = 0; b < n.blocks; ++b) {
      std::string p = fmt::format("blk.{}.", b);
      addTo(x, attention(rmsNorm(x, p + "attn_norm.weight", e), p));
      Rows h = rmsNorm(x, p + "ffn_norm.weight", e);
      Rows gate = linear(h, p + "ffn_gate.weight"), up = linear(h, p + "ffn_up.weight");
      for (std::size_t t = 0; t < gate.size(); ++t)
        for (std::size_t i = 0; i < gate[t].size(); ++i)
          gate[t][i] = gate[t][i] / (1 + std::exp(-gate[t][i])) * up[t][i];
      addTo(x, linear(gate, p + "ffn_down.weight"));
    }
    return linear(rmsNorm(x, "output_norm.weight", e),
                  w.count("output.weight") ? "output.weight" : "token_embd.weight");
  }
};

// ---- helpers ----

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

std::vector<double> flatten(const Rows &rows) {
  std::vector<double> out;
  for (const auto &row : rows)
    out.insert(out.end(), row.begin(), row.end());
  return out;
}

void requireRoundTrip(const Graph &g) {
  std::string once = printGraph(g);
  std::string twice = printGraph(parseGraph(once, (fs::temp_directory_path() / "qwen3.gir").string()));
  CHECK(once == twice);
}

// The builder's error for a synthetic file, checked to be one line naming the file.
std::string buildError(const std::string &bytes, const std::vector<std::int64_t> &tokens = {1, 2, 3}) {
  gm::test::TempDir dir("gamma-qwen3");
  std::string path = dir.write("m.gguf", bytes);
  try {
    buildQwen3(path, {tokens, false});
  } catch (const InputError &e) {
    std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);
    CHECK(message.find("m.gguf: ") != std::string::npos);
    return message;
  }
  FAIL("no error");
  return {};
}

bool contains(const std::string &s, std::string_view needle) { return s.find(needle) != std::string::npos; }

// ---- shared material ----

std::vector<fs::path> sharedQwen3Files() {
  std::vector<fs::path> files;
  std::error_code ignored;
  for (const auto &entry : fs::directory_iterator(transformersDir(), ignored)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("qwen3_") && entry.path().extension() == ".gguf")
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

const std::vector<std::int64_t> kSharedTokens = {298, 116, 257, 104, 290, 32, 7, 299};

} // namespace

TEST_SUITE("qwen3") {

  TEST_CASE("synthetic qwen3: graph matches a direct float64 forward pass, verifies and round-trips") {
    Dims n;
    std::vector<std::int64_t> tokens = {3, 0, 9, 4, 4};
    for (bool tied : {false, true}) {
      CAPTURE(tied);
      Weights weights = syntheticWeights(n, tied);
      gm::test::TempDir dir("gamma-qwen3");
      std::string path = dir.write("tiny.gguf", syntheticGguf(n, weights));
      Graph g = buildQwen3(path, {tokens, false});
      CHECK(g.type(g.inputs()[0]) == TensorType{DType::F32, {1, 5, n.embd}});
      CHECK(g.type(g.outputs()[0]) == TensorType{DType::F32, {1, 5, n.vocab}});
      requireRoundTrip(g);
      // F32 weights stay in the file: the printed IR refers to it.
      CHECK(contains(printGraph(g), "tiny.gguf\"["));

      std::vector<double> embeddings = qwen3Embeddings(path, tokens);
      std::vector<double> y = evaluate(g, embeddings);
      std::vector<double> expected = flatten(Direct{weights, n}.run(tokens));
      // Only the f32 RoPE tables and the f32 constant 1/√6 differ from exact values.
      double diff = maxAbsDiff(y, expected);
      MESSAGE("synthetic (tied ", tied, ") max |Δ| vs direct f64: ", diff);
      CHECK(diff < 1e-6);

      Graph last = buildQwen3(path, {tokens, true});
      CHECK(last.type(last.outputs()[0]) == TensorType{DType::F32, {1, 1, n.vocab}});
      std::vector<double> lastRow(y.end() - n.vocab, y.end());
      CHECK(maxAbsDiff(evaluate(last, embeddings), lastRow) == 0.0);
    }
  }

  TEST_CASE(
      "synthetic qwen3: missing tensors, wrong shapes, bad tokens and metadata disagreements are one-line errors") {
    Dims n;
    Weights weights = syntheticWeights(n, false);

    Weights missing = weights;
    missing.erase("blk.1.ffn_up.weight");
    std::string e = buildError(syntheticGguf(n, missing));
    CHECK(contains(e, "tensor 'blk.1.ffn_up.weight'"));
    CHECK(contains(e, "missing"));
    CHECK(contains(e, "[12,8]"));

    Weights wrong = weights;
    wrong["blk.0.attn_q.weight"] = {{12, 7}, std::vector<double>(12 * 7, 0.0)};
    e = buildError(syntheticGguf(n, wrong));
    CHECK(contains(e, "tensor 'blk.0.attn_q.weight'"));
    CHECK(contains(e, "[12,7]"));
    CHECK(contains(e, "[12,8]"));
    CHECK(contains(e, "qwen3.attention.head_count 2"));

    Weights wrongNorm = weights;
    wrongNorm["blk.0.attn_k_norm.weight"] = {{8}, std::vector<double>(8, 1.0)};
    e = buildError(syntheticGguf(n, wrongNorm));
    CHECK(contains(e, "tensor 'blk.0.attn_k_norm.weight'"));
    CHECK(contains(e, "qwen3.attention.key_length 6"));

    Weights noEmbedding = weights;
    noEmbedding.erase("token_embd.weight");
    CHECK(contains(buildError(syntheticGguf(n, noEmbedding)), "tensor 'token_embd.weight'"));

    CHECK(contains(buildError(syntheticGguf(n, weights, 11)), "metadata 'tokenizer.ggml.tokens'"));
    e = buildError(syntheticGguf(n, weights), {1, 10});
    CHECK(contains(e, "token 10 at position 1"));

    Dims oneBlock = n;
    oneBlock.blocks = 1;
    e = buildError(syntheticGguf(oneBlock, weights));
    CHECK(contains(e, "blk.1.attn_norm.weight"));
    CHECK(contains(e, "qwen3.block_count"));
  }

  TEST_CASE("shared qwen3 files: logits match the float64 reference (and llama.cpp)") {
    std::vector<fs::path> files = sharedQwen3Files();
    if (files.empty()) {
      MESSAGE("skipped: shared/reference/transformers not found (set GAMMA_SHARED_DIR)");
      return;
    }
    for (const fs::path &file : files) {
      std::string name = file.filename().string();
      CAPTURE(name);
      json ref = json::parse(std::ifstream(fs::path(file).replace_extension(".json")));
      Graph g = buildQwen3(file.string(), {kSharedTokens, false});
      std::vector<double> y = evaluate(g, qwen3Embeddings(file.string(), kSharedTokens));
      double vsOwn = maxAbsDiff(y, flattenJson(ref["logits_own_f64_dequant"]));
      double vsLlama = maxAbsDiff(y, flattenJson(ref["logits"]));
      MESSAGE(name, ": max |Δ| vs logits_own_f64_dequant ", vsOwn, ", vs llama.cpp logits ", vsLlama);
      CHECK(vsOwn <= 1e-4);
      if (contains(name, "_f32"))
        CHECK(vsLlama <= 1e-4);
    }
  }

  // Quantized weights are never dequantized into the graph: each is an f32
  // constant in its block format, pointing into the mapped file. The IR names
  // the format and parses back; IBP reading the weights row by row from the
  // file gives exactly the bounds of IBP on folded float64 weights, and a spec
  // folded through the streamed LM head stays within rounding of the folded one.
  TEST_CASE("quantized qwen3: weights stay encoded in the file, IR round-trips, streamed IBP equals folded") {
    gm::test::TempDir dir("gamma-qwen3");
    std::string path = (fs::path(dir.path()) / "q8.gguf").string();
    synth::writeQwen3(synth::qwen3Config("tiny"), gguf::GgmlType::Q8_0, 3, path);
    std::vector<std::int64_t> tokens = {1, 5, 2};
    Graph g = buildQwen3(path, {tokens, true});
    std::size_t encoded = 0;
    for (NodeId n = 0; n < g.numNodes(); ++n)
      if (g.node(n).op == Op::Const && g.node(n).constant->format())
        encoded += g.node(n).constant->format()->name == "Q8_0";
    CHECK(encoded > 4);
    std::string text = printGraph(g);
    CHECK(contains(text, "] Q8_0 xxh3:"));
    requireRoundTrip(g);

    std::vector<double> x = qwen3Embeddings(path, tokens);
    std::vector<double> y = evaluate(g, x);
    bounds::Box box;
    for (double v : x) {
      box.lower.push_back(v - 1e-3);
      box.upper.push_back(v + 1e-3);
    }
    std::size_t vocab = y.size();
    bounds::Spec spec;
    spec.numOutputs = vocab;
    spec.outputCoeffs.assign(2 * vocab, 0.0);
    spec.outputCoeffs[0] = 1, spec.outputCoeffs[1] = -1;
    spec.outputCoeffs[vocab + 2] = 1, spec.outputCoeffs[vocab + 7] = -1;
    spec.constants = {0, 0};
    bounds::Options ibp;
    ibp.method = bounds::Method::Ibp;
    bounds::Network folded(g), streamed(g, {.streamWeightsFrom = 0});
    bounds::Result a = bounds::computeBounds(folded, box, nullptr, ibp);
    bounds::Result b = bounds::computeBounds(streamed, box, nullptr, ibp);
    CHECK(a.lower == b.lower);
    CHECK(a.upper == b.upper);
    for (std::size_t i = 0; i < vocab; ++i) {
      CHECK(b.lower[i] <= y[i]);
      CHECK(y[i] <= b.upper[i]);
    }
    bounds::Result sa = bounds::computeBounds(folded, box, &spec, ibp);
    bounds::Result sb = bounds::computeBounds(streamed, box, &spec, ibp);
    for (std::size_t r = 0; r < 2; ++r) {
      double margin = r == 0 ? y[0] - y[1] : y[2] - y[7];
      CHECK(sb.rowLower[r] <= margin);
      CHECK(margin <= sb.rowUpper[r]);
      CHECK(sb.rowLower[r] == doctest::Approx(sa.rowLower[r]).epsilon(1e-9));
      CHECK(sb.rowUpper[r] == doctest::Approx(sa.rowUpper[r]).epsilon(1e-9));
      // Through the LM head, tighter than from the logits' intervals.
      CHECK(sb.rowUpper[r] - sb.rowLower[r] < (b.upper[0] - b.lower[1]) + (b.upper[1] - b.lower[0]));
    }
  }

  TEST_CASE("shared qwen3_tiny_f32: IR verifies and round-trips; IBP bounds are finite and contain the logits") {
    fs::path file = transformersDir() / "qwen3_tiny_f32.gguf";
    if (!fs::is_regular_file(file)) {
      MESSAGE("skipped: shared/reference/transformers not found (set GAMMA_SHARED_DIR)");
      return;
    }
    Graph g = buildQwen3(file.string(), {kSharedTokens, false});
    verify(g, file.string());
    requireRoundTrip(g);

    std::vector<double> x = qwen3Embeddings(file.string(), kSharedTokens);
    std::vector<double> y = evaluate(g, x);
    bounds::Box box;
    for (double v : x) {
      box.lower.push_back(v - 1e-3);
      box.upper.push_back(v + 1e-3);
    }
    bounds::Options ibp;
    ibp.method = bounds::Method::Ibp;
    bounds::Result r = bounds::computeBounds(g, box, nullptr, ibp);
    REQUIRE(r.lower.size() == y.size());
    double widest = 0, lastWidest = 0;
    std::size_t vocab = g.type(g.outputs()[0]).shape.back();
    for (std::size_t i = 0; i < y.size(); ++i) {
      CHECK(std::isfinite(r.lower[i]));
      CHECK(std::isfinite(r.upper[i]));
      CHECK(r.lower[i] <= y[i]);
      CHECK(y[i] <= r.upper[i]);
      widest = std::max(widest, r.upper[i] - r.lower[i]);
      if (i >= y.size() - vocab)
        lastWidest = std::max(lastWidest, r.upper[i] - r.lower[i]);
    }
    MESSAGE("qwen3_tiny_f32: IBP over ±1e-3, widest logit interval ", widest, " (last position ", lastWidest, ")");
  }

} // TEST_SUITE
