// gamma-run: execute a model. Concrete evaluation of an input, or a verdict
// for a property (VNNLIB, or an epsilon ball around an input): sound bounds
// prove it (unsat), a checked counterexample refutes it (sat).
#include "frontend/demo/demo_model.h"
#include "frontend/model_loader.h"
#include "frontend/npy.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/error.h"
#include "runtime/falsify.h"
#include "runtime/thread_pool.h"
#include "runtime/verify.h"
#include "tools/tool_main.h"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

using namespace gm;

namespace {

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

} // namespace

int main(int argc, char **argv) {
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
               "Examples:\n"
               "  gamma-run                                        demo network, demo property\n"
               "  gamma-run net.onnx prop.vnnlib --json\n"
               "  gamma-run net.onnx prop.vnnlib --method ibp --timeout 60\n"
               "  gamma-run net.onnx --input x.npy --epsilon 0.01 --label 3 --clip 0,1\n"
               "  gamma-run net.onnx prop.vnnlib --result out.txt  VNN-COMP result file\n"
               "  gamma-run net.onnx p1.vnnlib p2.vnnlib p3.vnnlib  a batch, in parallel\n"
               "  gamma-run net.onnx --input 0.1,0.2,0.3,0.4,0.5    concrete outputs",
               "gamma-run"};
  std::string model = "demo", input, methodName = "crown", resultFile, clip;
  std::vector<std::string> properties;
  std::size_t samples = 1000;
  std::uint64_t seed = 1;
  bool json = false, intersectIbp = false, noAttack = false;
  double timeout = 0, epsilon = -1, searchTime = 10;
  long long label = -1;
  app.add_option("MODEL", model, "model: .onnx, .gir or 'demo' (the default)");
  app.add_option("PROPERTY", properties, "VNNLIB properties, one or more (the demo has a built-in one)")
      ->check(CLI::ExistingFile);
  app.add_option("--method", methodName, "bound method: ibp, crown (default) or crown-ibp")
      ->check(CLI::IsMember({"ibp", "crown", "crown-ibp"}));
  app.add_flag("--intersect-ibp", intersectIbp,
               "intersect every CROWN bound with one step of IBP (auto_LiRPA's pure_ibp profile)");
  app.add_option("--timeout", timeout, "give up after this many seconds with verdict timeout (0: none)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--input", input, "input values: comma-separated numbers or a .npy file (row-major)");
  app.add_option("--epsilon", epsilon, "check local robustness: the L-inf ball of this radius around --input")
      ->check(CLI::Range(0.0, 1e300));
  app.add_option("--label", label, "with --epsilon: the class that must stay on top (default: argmax at --input)")
      ->check(CLI::Range(0LL, 1LL << 40));
  app.add_option("--clip", clip, "with --epsilon: clip the ball to LO,HI (e.g. 0,1 for images)");
  app.add_option("--result", resultFile, "also write VNN-COMP's result file (verdict, counterexample)");
  app.add_option("--samples", samples, "uniform samples per disjunct in the counterexample search")
      ->check(CLI::Range(std::size_t(0), std::size_t(100000000)));
  app.add_option("--seed", seed, "seed of the sampler and the attack");
  app.add_flag("--no-attack", noAttack, "skip the gradient attack (sampling only)");
  app.add_option("--search-time", searchTime, "seconds for the counterexample search (within --timeout)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_flag("--json", json, "print the result as JSON (schema in docs/CLI.md)");
  app.set_version_flag("--version", tools::versionText("gamma-run"));

  return tools::runTool(app, argc, argv, [&] {
    auto start = std::chrono::steady_clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    Graph graph = loadModel(model);
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
                                     [&](std::size_t i) { reports[i] = verifyProperty(graph, props[i], options); });
    if (!resultFile.empty())
      tools::writeOutput(resultFile, vnncompResult(reports[0]));
    bool anySat = false;
    nlohmann::json all = nlohmann::json::array();
    std::string text;
    for (std::size_t i = 0; i < reports.size(); ++i) {
      anySat = anySat || reports[i].verdict == "sat";
      if (json)
        all.push_back(reportJson(reports[i], model, names[i]));
      else
        text += (i ? "\n" : "") + reportText(reports[i], model, names[i]);
    }
    if (json)
      text = (reports.size() == 1 ? all[0] : all).dump(2) + "\n";
    tools::writeOutput("", text);
    return anySat ? tools::kExitFails : tools::kExitOk;
  });
}
