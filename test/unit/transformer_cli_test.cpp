// gamma-run's transformer jobs (runtime/transformer_job) end to end on tiny
// synthetic models written here: the margins' bounds hold at the centre and at
// random points of the ball (the reference interpreter is the oracle), every
// layer's width is reported, and user errors name the flag. Bounds through the
// transformer blocks may be very loose; nothing here depends on how tight they are.
#include "frontend/npy.h"
#include "frontend/transformers/qwen3_graph.h"
#include "frontend/transformers/synth_models.h"
#include "frontend/transformers/whisper_graph.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "runtime/falsify.h"
#include "runtime/rng.h"
#include "runtime/transformer_job.h"

#include "test/temp_dir.h"
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

using namespace gm;

namespace {

constexpr std::uint64_t kSeed = 7;

// One tiny Qwen3 file per process: every test case reads it.
const std::string &tinyQwen3() {
  static test::TempDir dir("gamma-transformer-cli");
  static const std::string path = [] {
    std::string p = (dir.path() / "tiny.gguf").string();
    synth::writeQwen3(synth::qwen3Config("tiny"), gguf::GgmlType::F32, kSeed, p);
    return p;
  }();
  return path;
}

TransformerOptions quickOptions(double epsilon) {
  TransformerOptions o;
  o.epsilon = epsilon;
  o.samples = 0;
  o.attack = false;
  return o;
}

std::string errorOf(const std::function<void()> &run) {
  try {
    run();
  } catch (const InputError &e) {
    return e.what();
  }
  return "(no error)";
}

// Every reported width is a width, the input's is the ball's, and the names
// are the graph's nodes in graph order.
void checkLayers(const TransformerReport &r, const Graph &graph, double epsilon, double perturbedShare) {
  REQUIRE(!r.layers.empty());
  CHECK(r.layers[0].name == graph.definingNode(graph.inputs()[0]).name);
  CHECK(r.layers[0].op == "input");
  CHECK(r.layers[0].maxWidth == doctest::Approx(2 * epsilon).epsilon(1e-6));
  CHECK(r.layers[0].meanWidth == doctest::Approx(2 * epsilon * perturbedShare).epsilon(1e-6));
  std::size_t next = 0;
  for (const LayerWidth &l : r.layers) {
    CHECK(l.meanWidth >= 0);
    CHECK(l.maxWidth >= l.meanWidth);
    CHECK(!l.name.empty());
    while (next < graph.numNodes() && graph.node(static_cast<NodeId>(next)).name != l.name)
      ++next;
    CHECK_MESSAGE(next < graph.numNodes(), "layer ", l.name, " is not a node, or out of graph order");
    ++next;
  }
}

} // namespace

TEST_SUITE("transformer_cli") {

TEST_CASE("token ids, positions and model kinds are read as the flags promise") {
  CHECK(parseTokenIds("1,2,3", "--tokens") == std::vector<std::int64_t>{1, 2, 3});
  CHECK(parseTokenIds(" 9707\n11,\t1879 \n", "--tokens") == std::vector<std::int64_t>{9707, 11, 1879});
  CHECK(parsePositions("2,0") == std::vector<std::int64_t>{2, 0});
  CHECK(errorOf([] { parseTokenIds("1,x", "--tokens"); }) ==
        "--tokens: 'x' is not a token id (a non-negative integer)");
  CHECK(errorOf([] { parseTokenIds("1,-2", "--tokens"); }).starts_with("--tokens: '-2'"));
  CHECK(errorOf([] { parseTokenIds(" , ", "--tokens"); }) == "--tokens: no token ids given");
  CHECK(errorOf([] { parsePositions("0,1.5"); }).starts_with("--positions: '1.5' is not a position"));

  test::TempDir dir("gamma-transformer-cli");
  std::string ids = dir.write("ids.txt", "5 6\n7\n");
  CHECK(readTokenIdsFile(ids) == std::vector<std::int64_t>{5, 6, 7});
  std::string empty = dir.write("empty.txt", "\n");
  CHECK(errorOf([&] { readTokenIdsFile(empty); }) == fmt::format("--prompt-ids: {}: no token ids given", empty));
  CHECK(errorOf([&] { readTokenIdsFile(ids + ".missing"); }).starts_with("--prompt-ids: cannot open"));

  CHECK(transformerKind("m.gguf") == TransformerKind::Qwen3);
  CHECK(transformerKind("model.safetensors") == TransformerKind::Whisper);
  CHECK(transformerKind("model.safetensors.index.json") == TransformerKind::Whisper);
  CHECK(transformerKind(dir.path().string()) == TransformerKind::Whisper);
  CHECK(transformerKind("net.onnx") == TransformerKind::None);
  CHECK(transformerKind("demo") == TransformerKind::None);
}

TEST_CASE("Qwen3: the margins' bounds hold at the centre and at random points of the ball") {
  const std::vector<std::int64_t> tokens{1, 2, 3};
  const double epsilon = 1e-4;
  Qwen3Job job{tinyQwen3(), tokens, "--tokens", {}, 0};
  TransformerReport r = runQwen3(job, quickOptions(epsilon));

  Graph graph = transformers::buildQwen3(job.model, {tokens, true});
  std::vector<double> x = transformers::qwen3Embeddings(job.model, tokens);
  std::vector<double> y = evaluateFlat(graph, x);
  auto top = static_cast<std::size_t>(std::max_element(y.begin(), y.end()) - y.begin());
  CHECK(r.top1 == static_cast<std::int64_t>(top));
  CHECK(r.top1Logit == y[top]);
  CHECK(r.positions == std::vector<std::int64_t>{0, 1, 2});
  CHECK(r.outputShape == Shape{1, 1, static_cast<std::int64_t>(y.size())});
  REQUIRE(r.margins.size() == y.size() - 1);
  REQUIRE(r.outputLower.size() == y.size());
  CHECK((r.verdict == "unknown" || r.verdict == "unsat"));
  bool allProven = true;
  for (std::size_t k = 0; k < r.margins.size(); ++k) {
    const Margin &m = r.margins[k];
    CHECK(m.token != r.top1);
    CHECK(m.centre == y[top] - y[static_cast<std::size_t>(m.token)]);
    if (k > 0)
      CHECK(m.centre >= r.margins[k - 1].centre); // closest first
    CHECK(m.lower <= m.centre);
    CHECK(m.centre <= m.upper);
    CHECK(m.status == (m.lower > 0 ? "refuted" : "open"));
    allProven = allProven && m.lower > 0;
  }
  CHECK((r.verdict == "unsat") == allProven);

  Rng rng{3};
  for (int sample = 0; sample < 20; ++sample) {
    std::vector<double> p = x;
    for (double &v : p)
      v += epsilon * (2 * rng.unit() - 1);
    std::vector<double> yp = evaluateFlat(graph, p);
    for (std::size_t i = 0; i < yp.size(); ++i) {
      CHECK(r.outputLower[i] <= yp[i]);
      CHECK(yp[i] <= r.outputUpper[i]);
    }
    for (const Margin &m : r.margins) {
      double margin = yp[top] - yp[static_cast<std::size_t>(m.token)];
      CHECK(m.lower <= margin);
      CHECK(margin <= m.upper);
    }
  }
  checkLayers(r, graph, epsilon, 1.0);
}

TEST_CASE("Qwen3: --positions perturbs only those embeddings, --top-k keeps the next-highest tokens") {
  const std::vector<std::int64_t> tokens{4, 5, 6};
  const double epsilon = 1e-4;
  Qwen3Job job{tinyQwen3(), tokens, "--tokens", {2, 1, 2}, 4};
  TransformerReport r = runQwen3(job, quickOptions(epsilon));
  CHECK(r.positions == std::vector<std::int64_t>{1, 2});

  Graph graph = transformers::buildQwen3(job.model, {tokens, true});
  std::vector<double> x = transformers::qwen3Embeddings(job.model, tokens);
  std::vector<double> y = evaluateFlat(graph, x);
  std::vector<std::size_t> order(y.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return y[a] > y[b]; });
  REQUIRE(r.margins.size() == 4);
  CHECK(r.top1 == static_cast<std::int64_t>(order[0]));
  for (std::size_t k = 0; k < 4; ++k)
    CHECK(r.margins[k].token == static_cast<std::int64_t>(order[k + 1]));

  std::size_t embedding = x.size() / tokens.size();
  Rng rng{5};
  for (int sample = 0; sample < 10; ++sample) {
    std::vector<double> p = x;
    for (std::size_t i = embedding; i < p.size(); ++i) // positions 1 and 2
      p[i] += epsilon * (2 * rng.unit() - 1);
    std::vector<double> yp = evaluateFlat(graph, p);
    for (const Margin &m : r.margins) {
      double margin = yp[order[0]] - yp[static_cast<std::size_t>(m.token)];
      CHECK(m.lower <= margin);
      CHECK(margin <= m.upper);
    }
  }
  checkLayers(r, graph, epsilon, 2.0 / 3.0);
}

TEST_CASE("Qwen3: beyond the spec budget, margins come from the logits' bounds, still sound") {
  const std::vector<std::int64_t> tokens{7, 8};
  const double epsilon = 1e-4;
  Qwen3Job job{tinyQwen3(), tokens, "--tokens", {}, 0};
  TransformerReport full = runQwen3(job, quickOptions(epsilon));
  TransformerOptions budget = quickOptions(epsilon);
  budget.specCoefficients = 300 * 10; // ten rows of the 300-token vocabulary
  TransformerReport part = runQwen3(job, budget);
  CHECK(full.specRows == 299);
  CHECK(part.specRows == 10);
  REQUIRE(part.margins.size() == full.margins.size());
  for (std::size_t k = 0; k < part.margins.size(); ++k) {
    const Margin &a = part.margins[k], &b = full.margins[k];
    CHECK(a.token == b.token);
    CHECK(a.lower <= b.lower);
    CHECK(a.upper >= b.upper);
    CHECK(a.lower <= a.centre);
    CHECK(a.centre <= a.upper);
  }

  Graph graph = transformers::buildQwen3(job.model, {tokens, true});
  std::vector<double> x = transformers::qwen3Embeddings(job.model, tokens);
  Rng rng{9};
  for (int sample = 0; sample < 10; ++sample) {
    std::vector<double> p = x;
    for (double &v : p)
      v += epsilon * (2 * rng.unit() - 1);
    std::vector<double> y = evaluateFlat(graph, p);
    for (const Margin &m : part.margins) {
      double margin = y[static_cast<std::size_t>(part.top1)] - y[static_cast<std::size_t>(m.token)];
      CHECK(m.lower <= margin);
      CHECK(margin <= m.upper);
    }
  }
}

TEST_CASE("Qwen3: a point ball proves the top-1 token; a huge ball gives a checked counterexample") {
  const std::vector<std::int64_t> tokens{1, 2, 3};
  Qwen3Job job{tinyQwen3(), tokens, "--tokens", {}, 1};

  // Only rounding separates the bounds from the centre here, far less than
  // the runner-up's margin, so the margin is proven.
  TransformerReport point = runQwen3(job, quickOptions(0));
  REQUIRE(point.margins.size() == 1);
  REQUIRE(point.margins[0].centre > 1e-2);
  CHECK(point.verdict == "unsat");
  CHECK(point.margins[0].status == "refuted");
  CHECK(!point.counterexample);

  TransformerOptions search = quickOptions(1.0);
  search.attack = true;
  search.samples = 50;
  job.topK = 0;
  TransformerReport big = runQwen3(job, search);
  CHECK(big.verdict == "sat");
  REQUIRE(big.counterexample);
  const TransformerCounterexample &c = *big.counterexample;
  CHECK(big.margins[c.margin].status == "violated");
  std::vector<double> x = transformers::qwen3Embeddings(job.model, tokens);
  REQUIRE(c.input.size() == x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    CHECK(c.input[i] >= x[i] - 1.0);
    CHECK(c.input[i] <= x[i] + 1.0);
  }
  Graph graph = transformers::buildQwen3(job.model, {tokens, true});
  std::vector<double> y = evaluateFlat(graph, c.input);
  CHECK(y == c.output);
  CHECK(y[static_cast<std::size_t>(big.top1)] <= y[static_cast<std::size_t>(big.margins[c.margin].token)]);
}

TEST_CASE("Qwen3: user errors are one line naming the flag") {
  const std::string &model = tinyQwen3();
  auto run = [&](Qwen3Job job, double epsilon = 1e-3) {
    return errorOf([&] { runQwen3(job, quickOptions(epsilon)); });
  };
  CHECK(run({model, {1, 300}, "--tokens", {}, 0}) ==
        fmt::format("--tokens: token 300 at position 1 is outside the vocabulary of 300 tokens ({})", model));
  CHECK(run({model, {1, 300}, "--prompt-ids: ids.txt", {}, 0}).starts_with("--prompt-ids: ids.txt: token 300"));
  CHECK(run({model, {}, "--tokens", {}, 0}) == "--tokens: no token ids given");
  CHECK(run({model, {1, 2}, "--tokens", {0, 2}, 0}) ==
        "--positions: position 2 is outside the 2 token(s) given (0..1)");
  CHECK(run({model, {1, 2}, "--tokens", {}, 300}) == "--top-k: 300 is more than the 299 other tokens of the vocabulary");
  CHECK(run({model, {1, 2}, "--tokens", {}, 0}, -1) == "--epsilon: must be a finite number >= 0, got -1");
  CHECK(run({model + ".missing", {1}, "--tokens", {}, 0}).starts_with(model + ".missing"));
  for (const std::string &message :
       {run({model, {1, 300}, "--tokens", {}, 0}), run({model, {1, 2}, "--tokens", {5}, 0})})
    CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("Whisper: the encoder states' bounds hold over the ball around the mel input") {
  test::TempDir dir("gamma-transformer-cli");
  std::string model = (dir.path() / "whisper").string();
  synth::writeWhisper(synth::whisperConfig("ci"), safetensors::DType::F32, kSeed, 1, model);
  npy::Array mel{{1, 80, 8}, {}};
  Rng rng{11};
  for (int i = 0; i < 80 * 8; ++i)
    mel.data.push_back(rng.unit() - 0.5);
  std::string input = dir.write("mel.npy", npy::serialize(mel));
  const double epsilon = 1e-4;

  TransformerReport r = runWhisper({model, input, "", 0}, quickOptions(epsilon));
  CHECK(r.verdict == "unknown");
  CHECK(r.margins.empty());
  CHECK(r.outputShape == Shape{1, 4, 64});
  REQUIRE(r.outputLower.size() == 4 * 64);
  double maxWidth = 0;
  for (std::size_t i = 0; i < r.outputLower.size(); ++i)
    maxWidth = std::max(maxWidth, r.outputUpper[i] - r.outputLower[i]);
  CHECK(r.outputMaxWidth == maxWidth);
  CHECK(r.outputMeanWidth <= r.outputMaxWidth);

  Graph graph = transformers::buildWhisperEncoder(model, {8, ""});
  for (int sample = 0; sample < 10; ++sample) {
    std::vector<double> p = mel.data;
    if (sample > 0)
      for (double &v : p)
        v += epsilon * (2 * rng.unit() - 1);
    std::vector<double> y = evaluateFlat(graph, p);
    for (std::size_t i = 0; i < y.size(); ++i) {
      CHECK(r.outputLower[i] <= y[i]);
      CHECK(y[i] <= r.outputUpper[i]);
    }
  }
  checkLayers(r, graph, epsilon, 1.0);

  CHECK(errorOf([&] { runWhisper({model, input, "", 6}, quickOptions(epsilon)); }) ==
        fmt::format("--input: {} has shape [1,80,8] (640 values); the encoder input f32[1,80,6] needs 480", input));
  CHECK(errorOf([&] { runWhisper({model, "", "", 0}, quickOptions(epsilon)); }).starts_with("--input: "));
  CHECK(errorOf([&] { runWhisper({model, input, "", 0}, quickOptions(-1)); }).starts_with("--epsilon: "));
}

} // TEST_SUITE
