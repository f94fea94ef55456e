// gamma-run: execute a model. Concrete evaluation of an input, or a verdict
// for a property (VNNLIB, or an epsilon ball around an input): sound bounds
// prove it (unsat), a checked counterexample refutes it (sat).
#include "codegen/cpu_features.h"
#include "frontend/demo/demo_model.h"
#include "frontend/model_loader.h"
#include "frontend/npy.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/error.h"
#include "runtime/falsify.h"
#include "runtime/plan_run.h"
#include "runtime/thread_pool.h"
#include "runtime/transformer_job.h"
#include "runtime/verify.h"
#include "tools/tool_main.h"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

using namespace gm;

// OpenBLAS's thread controls; weak, since another BLAS has neither.
extern "C" [[gnu::weak]] void openblas_set_num_threads(int);
extern "C" [[gnu::weak]] int blas_thread_shutdown_();

namespace {

// One BLAS thread unless the environment says otherwise. OpenBLAS starts its
// threads when it is loaded, before main, and each spins (sched_yield) for
// about 0.1 s after its start and after every job: for a plan decided in
// 10 ms, a second core kept busy for nothing, or taken from gamma's own pool,
// which runs the rows and the properties (BLAS is called inside it; the
// largest CROWN products, oval21's, take as long on one BLAS thread as on
// two). So the thread count is set to one and the started threads are
// stopped. (Setting OPENBLAS_NUM_THREADS before main does not work: libc's
// initialiser resets the environment before OpenBLAS's runs.)
void oneBlasThread() {
  for (const char *name : {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"})
    if (std::getenv(name))
      return;
  if (openblas_set_num_threads && blas_thread_shutdown_) {
    openblas_set_num_threads(1);
    blas_thread_shutdown_();
  }
}

bool endsWith(const std::string &s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<double> parseValues(const std::string &text) {
  if (endsWith(text, ".npy"))
    return npy::readFile(text).data;
  std::vector<double> values;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    double v = 0;
    const char *b = item.data() + item.find_first_not_of(' ');
    const char *e = item.data() + item.size();
    auto [ptr, ec] = item.find_first_not_of(' ') == std::string::npos ? std::from_chars_result{b, std::errc::invalid_argument}
                                                                       : std::from_chars(b, e, v);
    if (ec != std::errc() || ptr != e)
      fail("--input", "'{}' is not a number (give comma-separated values or a .npy file)", item);
    values.push_back(v);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return values;
}

std::string formatValues(const std::vector<double> &values) {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i)
    s += fmt::format("{}{:.9g}", i ? " " : "", values[i]);
  return s;
}

// JSON has no infinity: unbounded sides are written as null.
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json reportJson(const VerifyReport &r, const std::string &model, const std::string &property) {
  nlohmann::json out = {{"verdict", r.verdict}, {"method", r.method}, {"time_s", r.seconds},
                        {"model", model},       {"property", property}};
  nlohmann::json outputs = nlohmann::json::array();
  for (std::size_t i = 0; i < r.outputLower.size(); ++i)
    outputs.push_back({{"lower", number(r.outputLower[i])}, {"upper", number(r.outputUpper[i])}});
  out["outputs"] = outputs;
  nlohmann::json disjuncts = nlohmann::json::array();
  for (const DisjunctReport &d : r.disjuncts) {
    nlohmann::json rows = nlohmann::json::array();
    for (const RowReport &row : d.rows) {
      nlohmann::json coeffs = nlohmann::json::object(), xcoeffs = nlohmann::json::object();
      for (auto [j, c] : row.outputCoeffs)
        coeffs[std::to_string(j)] = c;
      for (auto [j, c] : row.inputCoeffs)
        xcoeffs[std::to_string(j)] = c;
      nlohmann::json jr = {{"coeffs", coeffs}, {"constant", row.constant}, {"lower", number(row.lower)},
                           {"upper", number(row.upper)}};
      if (!row.inputCoeffs.empty())
        jr["input_coeffs"] = xcoeffs;
      if (row.strict)
        jr["strict"] = true;
      rows.push_back(jr);
    }
    disjuncts.push_back({{"status", d.status}, {"rows", rows}});
  }
  out["disjuncts"] = disjuncts;
  if (r.counterexample)
    out["counterexample"] = {{"disjunct", r.counterexample->disjunct},
                             {"input", r.counterexample->input},
                             {"output", r.counterexample->output}};
  return out;
}

std::string reportText(const VerifyReport &r, const std::string &model, const std::string &property) {
  std::string text = fmt::format("verdict: {}\nmethod {}, {:.3f} s, model {}, property {}\n", r.verdict, r.method,
                                 r.seconds, model, property);
  if (!r.outputLower.empty() && r.outputLower[0] <= r.outputUpper[0]) { // computed (not cut short)
    text += "output bounds over the input box:\n";
    for (std::size_t i = 0; i < r.outputLower.size() && i < 32; ++i)
      text += fmt::format("  Y_{:<3} [{:.9g}, {:.9g}]\n", i, r.outputLower[i], r.outputUpper[i]);
    if (r.outputLower.size() > 32)
      text += fmt::format("  ... {} more (see --json)\n", r.outputLower.size() - 32);
  }
  std::size_t shown = 0;
  for (std::size_t k = 0; k < r.disjuncts.size() && shown < 16; ++k, ++shown) {
    const DisjunctReport &d = r.disjuncts[k];
    double best = -std::numeric_limits<double>::infinity();
    for (const RowReport &row : d.rows)
      best = std::max(best, row.lower);
    text += fmt::format("disjunct {}: {} ({} row(s), best row lower bound {:.6g})\n", k, d.status, d.rows.size(), best);
  }
  if (r.disjuncts.size() > shown)
    text += fmt::format("... {} more disjuncts (see --json)\n", r.disjuncts.size() - shown);
  if (r.counterexample) {
    text += fmt::format("counterexample (disjunct {}, checked in float64):\n", r.counterexample->disjunct);
    text += fmt::format("  input:  {}\n  output: {}\n", formatValues(r.counterexample->input),
                        formatValues(r.counterexample->output));
  }
  return text;
}

// ---- transformer models (runtime/transformer_job.h) ----

// The command line's view of a transformer run, filled by main's options.
struct TransformerCli {
  std::string model, tokens, promptIds, positions, input, config;
  std::size_t topK = 0;
  std::int64_t frames = 0;
  bool allOutputs = false, quiet = false;
};

// Progress is worth a line only when loading and bounding take a while, as
// for gamma-synth: models over 64 MiB.
bool largeModel(const std::string &path) {
  namespace fs = std::filesystem;
  std::error_code ignored;
  fs::path p(path);
  if (endsWith(path, ".index.json"))
    p = p.parent_path();
  if (!fs::is_directory(p, ignored))
    return fs::file_size(p, ignored) > (std::uintmax_t(64) << 20) && !ignored;
  std::uintmax_t bytes = 0;
  for (const fs::directory_entry &e : fs::directory_iterator(p, ignored))
    if (e.is_regular_file(ignored))
      bytes += e.file_size(ignored);
  return bytes > (std::uintmax_t(64) << 20);
}

// Keys in the order a reader wants them: the verdict first, the long lists last.
nlohmann::ordered_json orderedNumber(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json transformerJson(const TransformerReport &r, bool allOutputs) {
  nlohmann::ordered_json out = {{"verdict", r.verdict}, {"method", r.method},     {"time_s", r.seconds},
                                {"model", r.model},     {"property", r.property}, {"epsilon", r.epsilon}};
  if (r.kind == TransformerKind::Qwen3) {
    out["tokens"] = r.tokens;
    out["positions"] = r.positions;
    out["top1"] = {{"token", r.top1}, {"logit", r.top1Logit}};
    out["spec_rows"] = r.specRows;
  }
  out["output_shape"] = r.outputShape;
  if (!r.outputLower.empty()) {
    double lo = *std::min_element(r.outputLower.begin(), r.outputLower.end());
    double hi = *std::max_element(r.outputUpper.begin(), r.outputUpper.end());
    out["output_summary"] = {{"elements", r.outputLower.size()},
                             {"max_width", orderedNumber(r.outputMaxWidth)},
                             {"mean_width", orderedNumber(r.outputMeanWidth)},
                             {"min_lower", orderedNumber(lo)},
                             {"max_upper", orderedNumber(hi)}};
  }
  if (allOutputs) {
    nlohmann::ordered_json outputs = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < r.outputLower.size(); ++i)
      outputs.push_back({{"lower", orderedNumber(r.outputLower[i])}, {"upper", orderedNumber(r.outputUpper[i])}});
    out["outputs"] = outputs;
  }
  // One disjunct per margin, the row Y_top1 - Y_token <= 0 as --epsilon
  // writes it, so readers of gamma's verdicts need nothing new.
  nlohmann::ordered_json disjuncts = nlohmann::ordered_json::array();
  for (const Margin &m : r.margins) {
    nlohmann::ordered_json coeffs = {{std::to_string(r.top1), 1.0}, {std::to_string(m.token), -1.0}};
    nlohmann::ordered_json row = {
        {"coeffs", coeffs}, {"constant", 0.0}, {"lower", orderedNumber(m.lower)}, {"upper", orderedNumber(m.upper)}};
    disjuncts.push_back({{"status", m.status}, {"token", m.token}, {"centre", m.centre}, {"rows", {row}}});
  }
  out["disjuncts"] = disjuncts;
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerWidth &l : r.layers)
    layers.push_back({{"name", l.name},
                      {"op", l.op},
                      {"max_width", orderedNumber(l.maxWidth)},
                      {"mean_width", orderedNumber(l.meanWidth)}});
  out["layers"] = layers;
  out["self_check"] = {{"points", r.checkedPoints}, {"outside", r.outsidePoints}};
  if (r.counterexample)
    out["counterexample"] = {{"disjunct", r.counterexample->margin},
                             {"token", r.margins[r.counterexample->margin].token},
                             {"input", r.counterexample->input},
                             {"output", r.counterexample->output}};
  return out;
}

std::string transformerText(const TransformerReport &r) {
  std::string text = fmt::format("verdict: {}\nmethod {}, {:.3f} s, model {}\nproperty: {}\n", r.verdict, r.method,
                                 r.seconds, r.model, r.property);
  if (r.kind == TransformerKind::Qwen3) {
    std::string tokens;
    constexpr std::size_t kTokensShown = 32;
    for (std::size_t i = 0; i < r.tokens.size() && i < kTokensShown; ++i)
      tokens += fmt::format("{}{}", i ? "," : "", r.tokens[i]);
    if (r.tokens.size() > kTokensShown)
      tokens += fmt::format(",... ({} in all)", r.tokens.size());
    text += fmt::format("tokens {}; unperturbed top-1 token {} (logit {:.6g})\n", tokens, r.top1, r.top1Logit);
    std::size_t proven = 0;
    for (const Margin &m : r.margins)
      proven += m.status == "refuted";
    text += fmt::format("margins, closest first ({} of {} proven > 0):\n", proven, r.margins.size());
    constexpr std::size_t kShown = 8;
    for (std::size_t k = 0; k < r.margins.size() && k < kShown; ++k) {
      const Margin &m = r.margins[k];
      text += fmt::format("  token {:<8} centre {:<12.6g} bounds [{:.6g}, {:.6g}]  {}\n", m.token, m.centre, m.lower,
                          m.upper, m.status);
    }
    if (r.margins.size() > kShown)
      text += fmt::format("  ... {} more (see --json)\n", r.margins.size() - kShown);
    if (r.specRows < r.margins.size())
      text += fmt::format("  (the closest {} bounded through the LM head, the others from the logits' bounds)\n",
                          r.specRows);
  }
  if (!r.outputLower.empty())
    text += fmt::format("output {}: max width {:.6g}, mean width {:.6g}\n", shapeString(r.outputShape),
                        r.outputMaxWidth, r.outputMeanWidth);
  if (r.checkedPoints > 0)
    text += fmt::format("self-check: {} evaluated point(s) of the ball, {} outside the bounds\n", r.checkedPoints,
                        r.outsidePoints);
  if (!r.layers.empty()) {
    std::vector<const LayerWidth *> widest;
    for (const LayerWidth &l : r.layers)
      widest.push_back(&l);
    std::stable_sort(widest.begin(), widest.end(),
                     [](const LayerWidth *a, const LayerWidth *b) { return a->maxWidth > b->maxWidth; });
    constexpr std::size_t kShown = 8;
    text += fmt::format("widest layers ({} of {}; all in graph order with --json):\n", std::min(kShown, widest.size()),
                        widest.size());
    text += fmt::format("  {:<40} {:<12} {:>12} {:>12}\n", "name", "op", "max width", "mean width");
    for (std::size_t k = 0; k < widest.size() && k < kShown; ++k)
      text += fmt::format("  {:<40} {:<12} {:>12.6g} {:>12.6g}\n", widest[k]->name, widest[k]->op, widest[k]->maxWidth,
                          widest[k]->meanWidth);
  }
  if (r.counterexample) {
    const Margin &m = r.margins[r.counterexample->margin];
    const std::vector<double> &y = r.counterexample->output;
    text += fmt::format("counterexample (checked in float64): token {} reaches {:.9g} against the top-1's {:.9g}; "
                        "the input point is in --json\n",
                        m.token, y[static_cast<std::size_t>(m.token)], y[static_cast<std::size_t>(r.top1)]);
  }
  return text;
}

int runTransformer(const TransformerCli &cli, TransformerKind kind, const TransformerOptions &options, bool json) {
  TransformerReport report;
  if (kind == TransformerKind::Qwen3) {
    if (!cli.tokens.empty() && !cli.promptIds.empty())
      fail("--prompt-ids", "give either --tokens or --prompt-ids, not both");
    if (cli.tokens.empty() && cli.promptIds.empty())
      fail(cli.model, "a Qwen3 model needs the prompt's token ids: give --tokens or --prompt-ids");
    Qwen3Job job;
    job.model = cli.model;
    if (!cli.tokens.empty()) {
      job.tokens = parseTokenIds(cli.tokens, "--tokens");
    } else {
      job.tokens = readTokenIdsFile(cli.promptIds);
      job.tokensFlag = fmt::format("--prompt-ids: {}", cli.promptIds);
    }
    if (!cli.positions.empty())
      job.positions = parsePositions(cli.positions);
    job.topK = cli.topK;
    report = runQwen3(job, options);
  } else {
    WhisperJob job;
    job.model = cli.model;
    job.input = cli.input;
    job.config = cli.config;
    job.frames = cli.frames;
    report = runWhisper(job, options);
  }
  tools::writeOutput("", json ? transformerJson(report, cli.allOutputs).dump(2) + "\n" : transformerText(report));
  return report.verdict == "sat" ? tools::kExitFails : tools::kExitOk;
}

} // namespace

int main(int argc, char **argv) {
  oneBlasThread();
  CLI::App app{"gamma-run: evaluate a network, or decide a property with sound bounds.\n\n"
               "With a VNNLIB PROPERTY (or --epsilon around --input), computes sound bounds on\n"
               "the outputs and on every row of the property, then searches for a\n"
               "counterexample (centre, corners, samples, gradient attack):\n"
               "  unsat    proven: every disjunct has a row whose lower bound is > 0\n"
               "  sat      a counterexample, re-checked in float64 (exit code 1)\n"
               "  unknown  neither proven nor refuted\n"
               "  timeout  --timeout passed first\n"
               "Methods: ibp (intervals), crown (backward linear bounds, intermediate bounds\n"
               "by CROWN too; the default), crown-ibp (intermediate bounds by IBP).\n"
               "With --input alone, evaluates MODEL concretely (float64) and prints the outputs.\n"
               "With several PROPERTY files, decides them in parallel (threads: GAMMA_THREADS)\n"
               "and prints the results in the order given (with --json, an array).\n"
               "With no arguments, runs the embedded demo network and its property.\n\n"
               "Transformers (bounds by ibp unless --method says otherwise; CROWN cannot bound\n"
               "softmax yet). A .gguf MODEL is a Qwen3 decoder: --tokens (or --prompt-ids) fix the\n"
               "prompt, the ball of radius --epsilon (default 0.001) is around the token embeddings\n"
               "(every position, or --positions), and the property is that the unperturbed top-1\n"
               "token keeps a positive margin over every other token (--top-k K: over the K\n"
               "next-highest); unsat when every margin's lower bound is > 0. A .safetensors MODEL\n"
               "or a directory is a Whisper encoder: bounds on its states over the ball around the\n"
               "mel spectrogram --input (no property: verdict unknown). Both report how wide the\n"
               "bounds are after every layer (--json: \"layers\").\n\n"
               "Examples:\n"
               "  gamma-run                                        demo network, demo property\n"
               "  gamma-run net.onnx prop.vnnlib --json\n"
               "  gamma-run net.onnx prop.vnnlib --method ibp --timeout 60\n"
               "  gamma-run net.onnx --input x.npy --epsilon 0.01 --label 3 --clip 0,1\n"
               "  gamma-run net.onnx prop.vnnlib --result out.txt  VNN-COMP result file\n"
               "  gamma-run net.gplan prop.vnnlib --json           a plan from gammac --emit plan\n"
               "  gamma-run net.onnx p1.vnnlib p2.vnnlib p3.vnnlib  a batch, in parallel\n"
               "  gamma-run net.onnx --input 0.1,0.2,0.3,0.4,0.5    concrete outputs\n"
               "  gamma-run qwen3.gguf --tokens 9707,11,1879 --epsilon 1e-4 --top-k 5\n"
               "  gamma-run qwen3.gguf --prompt-ids ids.txt --positions 0,2 --json\n"
               "  gamma-run whisper-tiny/ --input mel.npy --epsilon 1e-3 --json",
               "gamma-run"};
  std::string model = "demo", input, methodName = "crown", resultFile, clip;
  std::vector<std::string> properties;
  std::size_t samples = 1000;
  std::uint64_t seed = 1;
  bool json = false, intersectIbp = false, noAttack = false;
  double timeout = 0, epsilon = -1, searchTime = 10;
  long long label = -1;
  TransformerCli tcli;
  app.add_option("MODEL", model,
                 "model: .onnx, .gir, 'demo' (the default); a plan (gammac --emit plan); .gguf (Qwen3); "
                 ".safetensors or a directory (Whisper)");
  app.add_option("PROPERTY", properties, "VNNLIB properties, one or more (the demo has a built-in one)")
      ->check(CLI::ExistingFile);
  app.add_option("--method", methodName, "bound method: ibp, crown (default) or crown-ibp")
      ->check(CLI::IsMember({"ibp", "crown", "crown-ibp"}));
  app.add_flag("--intersect-ibp", intersectIbp,
               "intersect every CROWN bound with one step of IBP (auto_LiRPA's pure_ibp profile)");
  app.add_option("--timeout", timeout, "give up after this many seconds with verdict timeout (0: none)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--input", input,
                 "input values: comma-separated numbers or a .npy file (row-major); Whisper: the mel .npy");
  app.add_option("--epsilon", epsilon,
                 "check local robustness: the L-inf ball of this radius around --input (Qwen3: around "
                 "the token embeddings, default 0.001)");
  app.add_option("--label", label, "with --epsilon: the class that must stay on top (default: argmax at --input)")
      ->check(CLI::Range(0LL, 1LL << 40));
  app.add_option("--clip", clip, "with --epsilon: clip the ball to LO,HI (e.g. 0,1 for images)");
  app.add_option("--result", resultFile, "also write VNN-COMP's result file (verdict, counterexample)");
  app.add_option("--samples", samples,
                 "uniform samples per disjunct in the counterexample search (transformers: random corners of the ball)")
      ->check(CLI::Range(std::size_t(0), std::size_t(100000000)));
  app.add_option("--seed", seed, "seed of the sampler and the attack");
  std::size_t checkPoints = 0;
  app.add_option("--check-points", checkPoints,
                 "Qwen3: also evaluate N uniform points of the ball and check they lie inside the bounds "
                 "(a soundness self-check on the real model; reported as self_check)")
      ->check(CLI::Range(std::size_t(0), std::size_t(1000000)));
  app.add_flag("--no-attack", noAttack, "skip the gradient attack (sampling only)");
  app.add_option("--search-time", searchTime, "seconds for the counterexample search (within --timeout)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--tokens", tcli.tokens, "Qwen3: the prompt's token ids, comma-separated (e.g. 9707,11,1879)");
  app.add_option("--prompt-ids", tcli.promptIds, "Qwen3: a file of token ids separated by whitespace or commas");
  app.add_option("--positions", tcli.positions,
                 "Qwen3: perturb only these positions (0-based, comma-separated; default: all)");
  app.add_option("--top-k", tcli.topK, "Qwen3: the margins over the K next-highest tokens only (default: all)")
      ->check(CLI::Range(std::size_t(1), std::size_t(1) << 40));
  app.add_option("--frames", tcli.frames, "Whisper: mel frames of --input (default: its last dimension)")
      ->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 40));
  app.add_option("--config", tcli.config, "Whisper: its config.json (default: next to the weights)");
  app.add_flag("--all-outputs", tcli.allOutputs,
               "transformers, with --json: bounds on every output element (default: a summary)");
  app.add_flag("-q,--quiet", tcli.quiet, "transformers: no progress lines on stderr (printed for models over 64 MiB)");
  app.add_flag("--json", json, "print the result as JSON (schema in docs/CLI.md)");
  app.set_version_flag("--version", [] { return tools::versionText("gamma-run"); });

  return tools::runTool(app, argc, argv, [&] {
    auto start = std::chrono::steady_clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    auto given = [&](std::initializer_list<const char *> flags) -> const char * {
      for (const char *flag : flags)
        if (app.count(flag) > 0)
          return flag;
      return nullptr;
    };
    if (app.count("--epsilon") > 0 && !(epsilon >= 0 && std::isfinite(epsilon)))
      fail("--epsilon", "must be a finite number >= 0, got {}", epsilon);
    TransformerKind kind = transformerKind(model);
    const char *qwenOnly = given({"--tokens", "--prompt-ids", "--positions", "--top-k"});
    const char *whisperOnly = given({"--frames", "--config"});
    if (kind == TransformerKind::None) {
      if (qwenOnly)
        fail(qwenOnly, "only for a Qwen3 model (.gguf)");
      if (whisperOnly)
        fail(whisperOnly, "only for a Whisper model (.safetensors or a directory)");
      if (const char *flag = given({"--all-outputs"}))
        fail(flag, "only for transformer models (.gguf, .safetensors or a directory)");
    } else {
      if (const char *flag = given({"--label", "--clip", "--result"}))
        fail(flag, "not available for transformer models");
      if (!properties.empty())
        fail(properties[0], "transformer models take no property file (see --tokens, --top-k)");
      if (kind == TransformerKind::Qwen3 && whisperOnly)
        fail(whisperOnly, "only for a Whisper model (.safetensors or a directory)");
      if (kind == TransformerKind::Qwen3 && !input.empty())
        fail("--input", "not for a Qwen3 model: its input is the embeddings of --tokens or --prompt-ids");
      if (kind == TransformerKind::Whisper && qwenOnly)
        fail(qwenOnly, "only for a Qwen3 model (.gguf)");
      if (kind == TransformerKind::Whisper && epsilon < 0)
        fail("--epsilon", "a Whisper model needs the radius of the ball around --input");
      tcli.model = model;
      tcli.input = input;
      TransformerOptions options;
      options.method = app.count("--method") > 0 ? *bounds::parseMethod(methodName) : bounds::Method::Ibp;
      options.intersectIbp = intersectIbp;
      options.epsilon = epsilon >= 0 ? epsilon : 1e-3;
      options.timeoutSeconds = timeout;
      options.searchSeconds = searchTime;
      options.samples = samples;
      options.checkPoints = checkPoints;
      options.attack = !noAttack;
      options.seed = seed;
      if (!tcli.quiet && largeModel(model))
        options.progress = [](const std::string &line) { std::fprintf(stderr, "gamma-run: %s\n", line.c_str()); };
      return runTransformer(tcli, kind, options, json);
    }
    // A plan is known by its magic, whatever the file is called.
    std::optional<LoadedPlan> plan;
    if (isPlanFile(model)) {
      if (const char *flag = given({"--input", "--epsilon", "--label", "--clip", "--intersect-ibp"}))
        fail(flag, "not available with a plan: give PROPERTY files");
      if (properties.empty())
        fail(model, "a plan needs a PROPERTY (.vnnlib)");
      plan = loadPlan(model);
      checkPlanFeatures(*plan, missingPlanFeatures(plan->header));
      if (app.count("--method") > 0 && methodName != plan->header.method)
        fail("--method", "{} differs from the plan's {}: compile one with gammac --emit plan --method {}", methodName,
             plan->header.method, methodName);
      methodName = plan->header.method;
    }
    Graph graph = plan ? Graph{} : loadModel(model);
    if (epsilon >= 0 && input.empty())
      fail("--epsilon", "needs --input (the centre of the ball)");
    if (epsilon >= 0 && !properties.empty())
      fail("--epsilon", "give either a PROPERTY or --epsilon, not both");
    if (properties.size() > 1 && !resultFile.empty())
      fail("--result", "writes the result of one property; {} were given", properties.size());
    if (epsilon < 0 && (label >= 0 || !clip.empty()))
      fail(label >= 0 ? "--label" : "--clip", "only meaningful with --epsilon");
    std::vector<double> x;
    if (!input.empty()) {
      std::vector<ValueId> inputs = graph.inputs();
      if (inputs.size() != 1)
        fail(model, "the model has {} inputs; --input gives one", inputs.size());
      x = parseValues(input);
      std::int64_t need = graph.type(inputs[0]).numElements();
      if (static_cast<std::int64_t>(x.size()) != need)
        fail("--input", "{} values given, the model input {} needs {}", x.size(), typeString(graph.type(inputs[0])),
             need);
    }
    if (!input.empty() && epsilon < 0) {
      std::vector<double> y = evaluateFlat(graph, x);
      if (json) {
        nlohmann::json out = {{"model", model}, {"output", y}, {"time_s", seconds()}};
        tools::writeOutput("", out.dump() + "\n");
      } else {
        tools::writeOutput("", fmt::format("output: {}\n", formatValues(y)));
      }
      return tools::kExitOk;
    }
    // Every property is read before any is decided, so a bad file fails the
    // run at once instead of after the others' results.
    std::vector<vnnlib::Property> props;
    std::vector<std::string> names;
    if (epsilon >= 0) {
      std::vector<double> y = evaluateFlat(graph, x);
      std::size_t k = label >= 0 ? static_cast<std::size_t>(label)
                                 : static_cast<std::size_t>(std::max_element(y.begin(), y.end()) - y.begin());
      double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
      if (!clip.empty()) {
        std::vector<double> c = parseValues(clip);
        if (c.size() != 2)
          fail("--clip", "expected LO,HI, got '{}'", clip);
        lo = c[0];
        hi = c[1];
      }
      props.push_back(robustnessProperty(x, epsilon, k, y.size(), lo, hi));
      names.push_back(fmt::format("epsilon {} around {} (label {})", epsilon, input, k));
    } else if (!properties.empty()) {
      props.resize(properties.size());
      names = properties;
      ThreadPool::shared().parallelFor(properties.size(),
                                       [&](std::size_t i) { props[i] = vnnlib::parseFile(properties[i]); });
    } else if (model == demo::kModelName) {
      props.push_back(vnnlib::parse(demo::propertyText(), "<demo property>"));
      names.push_back(props.back().path);
    } else {
      fail(model, "nothing to do: give a PROPERTY (.vnnlib), --epsilon with --input, or --input");
    }
    VerifyOptions options;
    options.method = *bounds::parseMethod(methodName);
    options.intersectIbp = intersectIbp;
    options.timeoutSeconds = timeout;
    options.samples = samples;
    options.seed = seed;
    options.attack = !noAttack;
    options.searchSeconds = searchTime;
    std::vector<VerifyReport> reports(props.size());
    ThreadPool::shared().parallelFor(props.size(),
                                     [&](std::size_t i) {
                                       reports[i] = plan ? verifyWithPlan(*plan, props[i], options)
                                                         : verifyProperty(graph, props[i], options);
                                     });
    if (!resultFile.empty())
      tools::writeOutput(resultFile, vnncompResult(reports[0]));
    bool anySat = false;
    nlohmann::json all = nlohmann::json::array();
    std::string text;
    for (std::size_t i = 0; i < reports.size(); ++i) {
      anySat = anySat || reports[i].verdict == "sat";
      if (json) {
        all.push_back(reportJson(reports[i], model, names[i]));
        if (plan)
          all.back()["plan"] = {{"execution", plan->execution},
                                {"compiled_nodes", plan->runner->compiledNodes()},
                                {"row_op_nodes", plan->runner->nativeNodes()},
                                {"interpreted_nodes", plan->runner->interpretedNodes()},
                                {"arena_bytes", plan->runner->arenaBytes()}};
      } else {
        text += (i ? "\n" : "") + reportText(reports[i], model, names[i]);
        if (plan)
          text += fmt::format("plan: {} ({} nodes by object code, {} by BLAS row ops, {} interpreted, arena {} bytes)\n",
                              plan->execution, plan->runner->compiledNodes(), plan->runner->nativeNodes(),
                              plan->runner->interpretedNodes(), plan->runner->arenaBytes());
      }
    }
    if (json)
      text = (reports.size() == 1 ? all[0] : all).dump(2) + "\n";
    tools::writeOutput("", text);
    return anySat ? tools::kExitFails : tools::kExitOk;
  });
}
