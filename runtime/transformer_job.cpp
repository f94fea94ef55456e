#include "runtime/transformer_job.h"

#include "bounds/fp.h"
#include "frontend/gguf/gguf_reader.h"
#include "frontend/npy.h"
#include "frontend/transformers/qwen3_graph.h"
#include "frontend/transformers/whisper_graph.h"
#include "ir/error.h"
#include "ir/interp/gradient.h"
#include "runtime/falsify.h"
#include "runtime/rng.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

namespace gm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kInf = std::numeric_limits<double>::infinity();

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<std::int64_t> parseIds(std::string_view text, const std::string &place, std::string_view noun) {
  std::vector<std::int64_t> ids;
  auto separator = [](char c) { return c == ',' || std::isspace(static_cast<unsigned char>(c)); };
  std::size_t i = 0;
  while (i < text.size()) {
    if (separator(text[i])) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && !separator(text[end]))
      ++end;
    std::string_view item = text.substr(i, end - i);
    std::int64_t v = -1;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || ptr != item.data() + item.size() || v < 0)
      fail(place, "'{}' is not a {} (a non-negative integer)", item, noun);
    ids.push_back(v);
    i = end;
  }
  if (ids.empty())
    fail(place, "no {}s given", noun);
  return ids;
}

std::string joinIds(const std::vector<std::int64_t> &ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i)
    s += fmt::format("{}{}", i ? "," : "", ids[i]);
  return s;
}

void checkEpsilon(double epsilon) {
  if (!(epsilon >= 0) || !std::isfinite(epsilon))
    fail("--epsilon", "must be a finite number >= 0, got {}", epsilon);
}

std::optional<Clock::time_point> deadlineOf(Clock::time_point start, double seconds) {
  if (seconds <= 0)
    return std::nullopt;
  return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// The ball's bounds around x: `outer` contains every real point of
// [x - eps, x + eps] (the box the bounds are computed over), `inner` only such
// points (where the search looks, so a counterexample is truly in the ball).
struct Ball {
  bounds::Box outer, inner;
};

void addToBall(Ball &ball, double x, double epsilon, bool perturbed) {
  double e = perturbed ? epsilon : 0.0;
  ball.outer.lower.push_back(bounds::fp::addDown(x, -e));
  ball.outer.upper.push_back(bounds::fp::addUp(x, e));
  ball.inner.lower.push_back(bounds::fp::addUp(x, -e));
  ball.inner.upper.push_back(bounds::fp::addDown(x, e));
}

// Each line carries the time since the job started, so a slow stage shows.
void report(const TransformerOptions &options, Clock::time_point start, const std::string &line) {
  if (options.progress)
    options.progress(fmt::format("{:7.1f} s  {}", secondsSince(start), line));
}

// Every Linear weight is read from the model file a block of rows at a time:
// nothing is folded into float64, so memory stays near the file's size.
const bounds::NetworkOptions kStreamed{.streamWeightsFrom = 0};

// A point of the ball whose outputs (or top-1 margins) fall outside their
// bounds would be a soundness bug: count it, and say so on stderr at once.
void selfCheck(TransformerReport &r, const std::vector<double> &out, std::size_t top) {
  if (r.outputLower.empty())
    return;
  ++r.checkedPoints;
  bool outside = false;
  for (std::size_t i = 0; i < out.size(); ++i)
    outside = outside || out[i] < r.outputLower[i] || out[i] > r.outputUpper[i];
  for (const Margin &m : r.margins) {
    double v = out[top] - out[static_cast<std::size_t>(m.token)];
    outside = outside || v < m.lower || v > m.upper;
  }
  if (outside) {
    ++r.outsidePoints;
    fmt::print(stderr, "gamma-run: SOUNDNESS SELF-CHECK FAILED: a point of the ball lies outside the bounds "
                       "(please report this model and command)\n");
  }
}

bounds::Options boundOptions(const TransformerOptions &options, std::optional<Clock::time_point> deadline) {
  bounds::Options b;
  b.method = options.method;
  b.intersectIbp = options.intersectIbp;
  b.deadline = deadline;
  b.keepWidths = true;
  return b;
}

void takeOutputs(TransformerReport &r, const Graph &graph, const bounds::Result &res) {
  r.outputLower = res.lower;
  r.outputUpper = res.upper;
  double sum = 0;
  r.outputMaxWidth = 0;
  for (std::size_t i = 0; i < res.lower.size(); ++i) {
    double w = res.upper[i] - res.lower[i];
    r.outputMaxWidth = std::max(r.outputMaxWidth, w);
    sum += w;
  }
  r.outputMeanWidth = res.lower.empty() ? 0 : sum / static_cast<double>(res.lower.size());
  for (const bounds::ValueWidth &w : res.widths) {
    const Node &node = graph.node(w.node);
    r.layers.push_back({node.name.empty() ? fmt::format("#{}", w.node) : node.name, std::string(opKeyword(node.op)),
                        w.maxWidth, w.meanWidth});
  }
}

// The point of the ball that lowers logit[top] - logit[other] fastest at the
// centre, to first order (one signed-gradient step to the inner corner).
std::vector<double> gradientCorner(const Graph &graph, const std::vector<double> &x, const Ball &ball,
                                   std::size_t numOutputs, std::size_t top, std::size_t other) {
  std::vector<double> weights(numOutputs, 0.0);
  weights[top] = 1;
  weights[other] = -1;
  ref::GradientResult g = ref::inputGradient(graph, ref::Tensor{graph.type(graph.inputs().at(0)).shape, x}, weights);
  std::vector<double> point = x;
  for (std::size_t i = 0; i < x.size(); ++i)
    point[i] = g.gradient[i] > 0 ? ball.inner.lower[i] : g.gradient[i] < 0 ? ball.inner.upper[i] : x[i];
  return point;
}

} // namespace

TransformerKind transformerKind(const std::string &modelPath) {
  if (endsWith(modelPath, ".gguf"))
    return TransformerKind::Qwen3;
  if (endsWith(modelPath, ".safetensors") || endsWith(modelPath, ".safetensors.index.json"))
    return TransformerKind::Whisper;
  std::error_code ignored;
  if (std::filesystem::is_directory(modelPath, ignored))
    return TransformerKind::Whisper;
  return TransformerKind::None;
}

std::vector<std::int64_t> parseTokenIds(std::string_view text, const std::string &place) {
  return parseIds(text, place, "token id");
}

std::vector<std::int64_t> readTokenIdsFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("--prompt-ids", "cannot open '{}'", path);
  std::stringstream text;
  text << in.rdbuf();
  return parseIds(text.str(), fmt::format("--prompt-ids: {}", path), "token id");
}

std::vector<std::int64_t> parsePositions(std::string_view text) { return parseIds(text, "--positions", "position"); }

TransformerReport runQwen3(const Qwen3Job &job, const TransformerOptions &options) {
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> deadline = deadlineOf(start, options.timeoutSeconds);
  checkEpsilon(options.epsilon);
  if (job.tokens.empty())
    fail(job.tokensFlag, "no token ids given");
  // The ids are checked here, before the graph is built, so errors name the
  // flag they came from rather than the model file.
  transformers::Qwen3Config cfg = transformers::qwen3Config(gguf::File::open(job.model));
  for (std::size_t i = 0; i < job.tokens.size(); ++i)
    if (job.tokens[i] >= cfg.vocab)
      fail(job.tokensFlag, "token {} at position {} is outside the vocabulary of {} tokens ({})", job.tokens[i], i,
           cfg.vocab, job.model);
  auto numTokens = static_cast<std::int64_t>(job.tokens.size());
  std::vector<std::int64_t> positions = job.positions;
  if (positions.empty()) {
    positions.resize(job.tokens.size());
    std::iota(positions.begin(), positions.end(), 0);
  }
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  for (std::int64_t p : positions)
    if (p >= numTokens)
      fail("--positions", "position {} is outside the {} token(s) given (0..{})", p, numTokens, numTokens - 1);
  if (job.topK > 0 && static_cast<std::int64_t>(job.topK) > cfg.vocab - 1)
    fail("--top-k", "{} is more than the {} other tokens of the vocabulary", job.topK, cfg.vocab - 1);

  TransformerReport r;
  r.kind = TransformerKind::Qwen3;
  r.model = job.model;
  r.method = std::string(bounds::methodName(options.method));
  r.epsilon = options.epsilon;
  r.tokens = job.tokens;
  r.positions = positions;

  report(options, start, fmt::format("building the Qwen3 graph for {} token(s)", numTokens));
  Graph graph = transformers::buildQwen3(job.model, {job.tokens, true});
  std::vector<double> x = transformers::qwen3Embeddings(job.model, job.tokens);
  report(options, start, fmt::format("{} nodes; evaluating the unperturbed logits", graph.numNodes()));
  std::vector<double> y = evaluateFlat(graph, x);
  std::size_t numOutputs = y.size();
  r.outputShape = graph.type(graph.outputs().at(0)).shape;
  auto top = static_cast<std::size_t>(std::max_element(y.begin(), y.end()) - y.begin());
  r.top1 = static_cast<std::int64_t>(top);
  r.top1Logit = y[top];

  // Closest first: the runner-up is the likeliest to overtake.
  std::vector<std::size_t> others;
  for (std::size_t j = 0; j < numOutputs; ++j)
    if (j != top)
      others.push_back(j);
  std::stable_sort(others.begin(), others.end(), [&](std::size_t a, std::size_t b) { return y[a] > y[b]; });
  if (job.topK > 0)
    others.resize(job.topK);
  for (std::size_t j : others)
    r.margins.push_back({static_cast<std::int64_t>(j), y[top] - y[j], -kInf, kInf, "not-run"});
  r.property = fmt::format("margin of the top-1 token {} over {}, epsilon {} on the embeddings at position(s) {}", top,
                           job.topK > 0 ? fmt::format("the {} next-highest token(s)", job.topK)
                                        : fmt::format("every other token ({})", others.size()),
                           options.epsilon, joinIds(positions));

  Ball ball;
  auto embedding = static_cast<std::size_t>(cfg.embedding);
  std::vector<bool> perturbed(job.tokens.size(), false);
  for (std::int64_t p : positions)
    perturbed[static_cast<std::size_t>(p)] = true;
  for (std::size_t i = 0; i < x.size(); ++i)
    addToBall(ball, x[i], options.epsilon, perturbed[i / embedding]);

  bounds::Spec spec;
  spec.numOutputs = numOutputs;
  std::size_t specRows = std::min(others.size(), std::max<std::size_t>(1, options.specCoefficients / numOutputs));
  r.specRows = specRows;
  spec.outputCoeffs.assign(specRows * numOutputs, 0.0);
  spec.constants.assign(specRows, 0.0);
  for (std::size_t k = 0; k < specRows; ++k) {
    spec.outputCoeffs[k * numOutputs + top] = 1;
    spec.outputCoeffs[k * numOutputs + others[k]] = -1;
  }

  report(options, start, fmt::format("bounding ({}) over the epsilon ball", r.method));
  bool timedOut = false;
  try {
    bounds::Result res = bounds::computeBounds(bounds::Network(graph, kStreamed), ball.outer, &spec,
                                                 boundOptions(options, deadline));
    takeOutputs(r, graph, res);
    bool allRefuted = true;
    for (std::size_t k = 0; k < r.margins.size(); ++k) {
      Margin &m = r.margins[k];
      auto j = static_cast<std::size_t>(m.token);
      m.lower = bounds::fp::subDown(res.lower[top], res.upper[j]);
      m.upper = bounds::fp::subUp(res.upper[top], res.lower[j]);
      if (k < specRows) {
        m.lower = std::max(m.lower, res.rowLower[k]);
        m.upper = std::min(m.upper, res.rowUpper[k]);
      }
      m.status = m.lower > 0 ? "refuted" : "open";
      allRefuted = allRefuted && m.lower > 0;
    }
    report(options, start, "bounds done");
    if (allRefuted) {
      r.verdict = "unsat";
      r.seconds = secondsSince(start);
      return r;
    }
  } catch (const bounds::Timeout &) {
    timedOut = true;
  }

  // A point is a counterexample when some margin of the property is <= 0
  // there (ties count: the top-1 token is no longer certain).
  Clock::time_point searchEnd =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.searchSeconds));
  if (deadline && *deadline < searchEnd)
    searchEnd = *deadline;
  auto check = [&](const std::vector<double> &point) {
    std::vector<double> out = evaluateFlat(graph, point);
    selfCheck(r, out, top);
    for (std::size_t k = 0; k < r.margins.size(); ++k)
      if (out[top] - out[static_cast<std::size_t>(r.margins[k].token)] <= 0) {
        r.counterexample = TransformerCounterexample{k, point, std::move(out)};
        return true;
      }
    return false;
  };
  selfCheck(r, y, top);
  if (!r.outputLower.empty() && options.checkPoints > 0) {
    report(options, start, fmt::format("self-check: evaluating {} point(s) of the ball", options.checkPoints));
    Rng rng{options.seed + 1};
    for (std::size_t s = 0; s < options.checkPoints; ++s) {
      std::vector<double> point = x;
      for (std::size_t i = 0; i < x.size(); ++i)
        point[i] = ball.inner.lower[i] + (ball.inner.upper[i] - ball.inner.lower[i]) * rng.unit();
      selfCheck(r, evaluateFlat(graph, point), top);
    }
  }
  bool anyPerturbed = options.epsilon > 0;
  if (!timedOut && anyPerturbed && Clock::now() < searchEnd) {
    report(options, start, "searching for a counterexample");
    bool found = options.attack &&
                 check(gradientCorner(graph, x, ball, numOutputs, top, static_cast<std::size_t>(r.margins[0].token)));
    Rng rng{options.seed};
    for (std::size_t s = 0; !found && s < options.samples && Clock::now() < searchEnd; ++s) {
      std::vector<double> point = x;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (perturbed[i / embedding])
          point[i] = rng.unit() < 0.5 ? ball.inner.lower[i] : ball.inner.upper[i];
      found = check(point);
    }
  }
  r.seconds = secondsSince(start);
  if (r.counterexample) {
    r.margins[r.counterexample->margin].status = "violated";
    r.verdict = "sat";
  } else if (timedOut || (deadline && Clock::now() > *deadline)) {
    r.verdict = "timeout";
  } else {
    r.verdict = "unknown";
  }
  return r;
}

TransformerReport runWhisper(const WhisperJob &job, const TransformerOptions &options) {
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> deadline = deadlineOf(start, options.timeoutSeconds);
  checkEpsilon(options.epsilon);
  if (job.input.empty())
    fail("--input", "a Whisper encoder needs a mel spectrogram (.npy)");
  npy::Array mel = npy::readFile(job.input);
  std::int64_t frames = job.frames;
  if (frames == 0) {
    if (mel.shape.size() < 2)
      fail("--input", "{} has shape {}; give --frames", job.input, shapeString(mel.shape));
    frames = mel.shape.back();
  }
  if (frames < 1)
    fail("--frames", "must be positive, got {}", frames);

  TransformerReport r;
  r.kind = TransformerKind::Whisper;
  r.model = job.model;
  r.method = std::string(bounds::methodName(options.method));
  r.epsilon = options.epsilon;
  r.property = fmt::format("epsilon {} around {} (no specification: bounds only)", options.epsilon, job.input);

  report(options, start, fmt::format("building the Whisper encoder for {} frames", frames));
  Graph graph = transformers::buildWhisperEncoder(job.model, {frames, job.config});
  const TensorType &in = graph.type(graph.inputs().at(0));
  if (static_cast<std::int64_t>(mel.data.size()) != in.numElements())
    fail("--input", "{} has shape {} ({} values); the encoder input {} needs {}", job.input, shapeString(mel.shape),
         mel.data.size(), typeString(in), in.numElements());
  r.outputShape = graph.type(graph.outputs().at(0)).shape;
  Ball ball;
  for (double v : mel.data)
    addToBall(ball, v, options.epsilon, true);

  report(options, start, fmt::format("{} nodes; bounding ({}) over the epsilon ball", graph.numNodes(), r.method));
  try {
    takeOutputs(r, graph, bounds::computeBounds(bounds::Network(graph, kStreamed), ball.outer, nullptr,
                                                  boundOptions(options, deadline)));
    r.verdict = "unknown";
  } catch (const bounds::Timeout &) {
    r.verdict = "timeout";
  }
  r.seconds = secondsSince(start);
  return r;
}

} // namespace gm
