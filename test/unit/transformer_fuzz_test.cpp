// The soundness fuzzer on transformers: the generator's whole-block patterns
// (one Qwen3 decoder block, one Whisper encoder block, built by the
// frontend's block builders) and whole tiny models written by the synth API
// and built by the real importers, an ε ball around an embedding or mel input
// checked by the fuzzer's checker. The bound code under test is IBP; CROWN
// refuses these ops and is counted, not failed.
#include "frontend/transformers/decoder_blocks.h"
#include "frontend/transformers/qwen3_graph.h"
#include "frontend/transformers/synth_models.h"
#include "frontend/transformers/whisper_graph.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "test/fuzz/random.h"
#include "test/fuzz/soundness_fuzz.h"

#include "test/temp_dir.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <set>

using namespace gm;
using bounds::Method;

namespace {

constexpr Method kMethods[] = {Method::Ibp, Method::Crown, Method::CrownIbp};

std::set<std::string> opsOf(const Graph &g) {
  std::set<std::string> ops;
  for (const Node &n : g.nodes())
    ops.insert(std::string(opKeyword(n.op)));
  return ops;
}

bool hasConstant(const Graph &g, double value) {
  for (const Node &n : g.nodes())
    if (n.op == Op::Const)
      for (double v : n.constant->toDoubles())
        if (v == value)
          return true;
  return false;
}

// The margin rows the transformer spec uses: the centre's top-1 output over
// the `others` outputs closest to it.
bounds::Spec marginSpec(const Graph &g, const std::vector<double> &centre, std::size_t others) {
  ref::Tensor in{g.type(g.inputs()[0]).shape, centre};
  std::vector<double> y = ref::evaluate(g, std::span(&in, 1))[0].data;
  std::vector<std::size_t> order(y.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return y[a] > y[b]; });
  bounds::Spec spec;
  spec.numOutputs = y.size();
  spec.numInputs = centre.size();
  for (std::size_t r = 1; r <= others && r < order.size(); ++r) {
    std::vector<double> row(y.size(), 0.0);
    row[order[0]] = 1;
    row[order[r]] = -1;
    spec.outputCoeffs.insert(spec.outputCoeffs.end(), row.begin(), row.end());
    spec.constants.push_back(0);
  }
  return spec;
}

// Checks the ε ball around `centre` by every method; IBP must bound it and
// no method may be violated. Returns the points evaluated.
std::size_t checkBall(const Graph &g, const std::vector<double> &centre, double epsilon,
                      std::optional<bounds::Spec> spec, std::uint64_t seed) {
  fuzz::Case c;
  c.graph = g;
  c.seed = seed;
  c.spec = std::move(spec);
  for (double x : centre) {
    c.box.lower.push_back(x - epsilon);
    c.box.upper.push_back(x + epsilon);
  }
  fuzz::CheckOptions options;
  // A whole model evaluates in milliseconds, not microseconds: fewer attack
  // steps, the same kinds of points.
  options.samples = 24;
  options.randomCorners = 24;
  options.attackTargets = 6;
  options.attackSteps = 4;
  options.maxGradientCoords = 8;
  options.boundTimeout = std::chrono::milliseconds(60000);
  fuzz::CheckReport report = fuzz::check(c, kMethods, options);
  for (const fuzz::MethodResult &m : report.methods) {
    CAPTURE(bounds::methodName(m.method));
    if (m.violation)
      FAIL_CHECK(m.violation->what);
    CHECK(m.outcome != fuzz::Outcome::Failed);
    if (m.method == Method::Ibp) {
      CHECK_MESSAGE(m.outcome == fuzz::Outcome::Checked, m.message);
      CHECK(m.infiniteBounds == 0);
    }
  }
  CHECK(report.points > 100);
  return report.points;
}

} // namespace

TEST_SUITE("transformer_fuzz") {

TEST_CASE("block patterns build whole Qwen3 and Whisper blocks that verify, print, parse and evaluate") {
  struct Expect {
    const char *pattern;
    std::vector<const char *> ops;
    bool causalMask;
  };
  const Expect expects[] = {
      {"qwen3_block", {"rms_norm", "matmul", "slice", "concat", "neg", "softmax", "silu", "mul", "add"}, true},
      {"whisper_block", {"layer_norm", "matmul", "softmax", "gelu", "mul", "add"}, false},
  };
  for (const Expect &e : expects) {
    CAPTURE(e.pattern);
    fuzz::GenOptions gen;
    gen.patterns = {e.pattern};
    int blocks = 0;
    for (std::uint64_t i = 0; i < 40; ++i) {
      fuzz::Case c = fuzz::generate(fuzz::caseSeed(5, i), gen);
      CAPTURE(fuzz::formatCase(c));
      REQUIRE_NOTHROW(verify(c.graph, "fuzz"));
      std::string text = printGraph(c.graph);
      CHECK(printGraph(parseGraph(text, "fuzz.gir")) == text);
      std::vector<double> centre(c.box.lower.size());
      for (std::size_t k = 0; k < centre.size(); ++k)
        centre[k] = 0.5 * c.box.lower[k] + 0.5 * c.box.upper[k];
      ref::Tensor in{c.graph.type(c.graph.inputs()[0]).shape, centre};
      REQUIRE_NOTHROW(ref::evaluate(c.graph, std::span(&in, 1)));
      bool block = std::find(c.tags.begin(), c.tags.end(),
                             std::string(e.pattern) == "qwen3_block" ? "qwen3-block" : "whisper-block") !=
                   c.tags.end();
      if (!block)
        continue;
      ++blocks;
      std::set<std::string> ops = opsOf(c.graph);
      for (const char *op : e.ops)
        CHECK_MESSAGE(ops.count(op), op);
      if (e.causalMask) // as stored: an f32 constant
        CHECK(hasConstant(c.graph, double(float(transformers::kMaskedScore))));
    }
    CHECK(blocks >= 30);
  }
}

TEST_CASE("bounded-time soundness run on whole blocks") {
  for (const char *pattern : {"qwen3_block", "whisper_block"}) {
    CAPTURE(pattern);
    fuzz::RunOptions options;
    options.seed = 31;
    options.iterations = 60;
    options.gen.patterns = {pattern};
    options.timeLimit = std::chrono::milliseconds(8000);
    options.maxShrunk = 2;
    options.shrinkOptions.timeLimit = std::chrono::milliseconds(4000);
    fuzz::RunReport report = fuzz::run(options);
    MESSAGE(fuzz::formatReport(report));
    for (std::size_t i = 0; i < report.failures.size() && i < 5; ++i)
      FAIL_CHECK(fuzz::formatFailure(report.failures[i]));
    CHECK(report.failures.empty());
    CHECK(report.fuzzerErrors.empty());
    std::string tag = std::string(pattern) == "qwen3_block" ? "qwen3-block" : "whisper-block";
    // A slow build (sanitizers) may stop before a case draws the block; a
    // normal build runs all 60 cases and must have checked some.
    if (!report.timedOut)
      CHECK(report.perTag[Method::Ibp][tag].checked > 0);
  }
}

TEST_CASE("whole tiny Qwen3 models (F32 and Q8_0): an embedding ball inside its IBP bounds") {
  test::TempDir dir("gamma-transformer-fuzz");
  const synth::Qwen3Config config = synth::qwen3Config("tiny");
  fuzz::Rng rng(2025);
  std::size_t points = 0;
  for (gguf::GgmlType type : {gguf::GgmlType::F32, gguf::GgmlType::Q8_0}) {
    std::string path = (dir.path() / fmt::format("qwen3-{}.gguf", int(type))).string();
    synth::writeQwen3(config, type, 7, path);
    std::vector<std::int64_t> tokens;
    for (int t = 0; t < 4; ++t)
      tokens.push_back(rng.integer(0, config.vocab - 1));
    // The CLI's graph (last position's logits, margin rows) and every position's logits.
    for (bool lastOnly : {true, false}) {
      Graph g = transformers::buildQwen3(path, {tokens, lastOnly});
      std::vector<double> embeddings = transformers::qwen3Embeddings(path, tokens);
      for (double epsilon : {1e-4, 1e-3, 1e-2}) {
        CAPTURE(type);
        CAPTURE(lastOnly);
        CAPTURE(epsilon);
        std::optional<bounds::Spec> spec;
        if (lastOnly)
          spec = marginSpec(g, embeddings, 8);
        points += checkBall(g, embeddings, epsilon, spec, rng.next());
      }
    }
  }
  MESSAGE(points, " points evaluated on whole Qwen3 models");
}

TEST_CASE("a whole tiny Whisper encoder: a mel ball inside its IBP bounds") {
  test::TempDir dir("gamma-transformer-fuzz");
  synth::writeWhisper(synth::whisperConfig("ci"), safetensors::DType::F32, 11, 1, dir.path().string());
  const std::int64_t frames = 8;
  Graph g = transformers::buildWhisperEncoder(dir.path().string(), {frames, {}});
  std::int64_t inputs = g.type(g.inputs()[0]).numElements();
  fuzz::Rng rng(2026);
  std::vector<double> mel(static_cast<std::size_t>(inputs));
  // Log-mel features as Whisper's feature extractor scales them: about [-1, 1.5].
  for (double &x : mel)
    x = std::clamp(0.3 + 0.5 * rng.normal(), -1.0, 1.5);
  std::size_t points = 0;
  for (double epsilon : {1e-4, 1e-3, 1e-2}) {
    CAPTURE(epsilon);
    points += checkBall(g, mel, epsilon, std::nullopt, rng.next());
  }
  MESSAGE(points, " points evaluated on a whole Whisper encoder");
}

} // TEST_SUITE
