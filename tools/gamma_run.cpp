// gamma-run: execute a model. Concrete evaluation of an input, or a property
// check. Until the bound methods land a property can only be falsified (sat,
// with a checked counterexample) or left unknown; it is never called proven.
#include "frontend/demo/demo_model.h"
#include "frontend/model_loader.h"
#include "frontend/npy.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/error.h"
#include "runtime/falsify.h"
#include "tools/tool_main.h"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

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

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"gamma-run: evaluate a network or check a property.\n\n"
               "With --input, evaluates MODEL concretely (float64 reference interpreter) and\n"
               "prints its outputs. With a VNNLIB PROPERTY, searches the input region for a\n"
               "counterexample (centre, corners, uniform samples), re-checked in float64:\n"
               "  sat      a counterexample was found (exit code 1)\n"
               "  unknown  none found; proving properties (IBP, CROWN) is not built yet\n"
               "With no arguments, runs the embedded demo network and its property.\n\n"
               "Examples:\n"
               "  gamma-run                                  demo network, demo property\n"
               "  gamma-run net.onnx prop.vnnlib --json\n"
               "  gamma-run net.onnx --input 0.1,0.2,0.3,0.4,0.5\n"
               "  gamma-run net.gir --input x.npy --json",
               "gamma-run"};
  std::string model = "demo", property, input;
  std::size_t samples = 1000;
  std::uint64_t seed = 1;
  bool json = false;
  app.add_option("MODEL", model, "model: .onnx, .gir or 'demo' (the default)");
  app.add_option("PROPERTY", property, "VNNLIB property (the demo has a built-in one)")->check(CLI::ExistingFile);
  app.add_option("--input", input, "input values: comma-separated numbers or a .npy file (row-major)");
  app.add_option("--samples", samples, "uniform samples per disjunct in the counterexample search")
      ->check(CLI::Range(std::size_t(0), std::size_t(100000000)));
  app.add_option("--seed", seed, "seed of the sampler");
  app.add_flag("--json", json, "print the result as JSON (schema in docs/CLI.md)");
  app.set_version_flag("--version", tools::versionText("gamma-run"));

  return tools::runTool(app, argc, argv, [&] {
    auto start = std::chrono::steady_clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    Graph graph = loadModel(model);
    if (!input.empty()) {
      std::vector<ValueId> inputs = graph.inputs();
      if (inputs.size() != 1)
        fail(model, "the model has {} inputs; --input gives one", inputs.size());
      std::vector<double> x = parseValues(input);
      std::int64_t need = graph.type(inputs[0]).numElements();
      if (static_cast<std::int64_t>(x.size()) != need)
        fail("--input", "{} values given, the model input {} needs {}", x.size(), typeString(graph.type(inputs[0])),
             need);
      std::vector<double> y = evaluateFlat(graph, x);
      if (json) {
        nlohmann::json out = {{"model", model}, {"output", y}, {"time_s", seconds()}};
        tools::writeOutput("", out.dump() + "\n");
      } else {
        tools::writeOutput("", fmt::format("output: {}\n", formatValues(y)));
      }
      return tools::kExitOk;
    }
    vnnlib::Property prop;
    if (!property.empty())
      prop = vnnlib::parseFile(property);
    else if (model == demo::kModelName)
      prop = vnnlib::parse(demo::propertyText(), "<demo property>");
    else
      fail(model, "nothing to do: give a PROPERTY (.vnnlib) or --input");
    FalsifyOptions options;
    options.samples = samples;
    options.seed = seed;
    std::optional<Counterexample> cex = falsifyBySampling(graph, prop, options);
    const auto &box = prop.disjuncts.at(0);
    std::vector<double> centre(box.lower.size());
    for (std::size_t i = 0; i < centre.size(); ++i)
      centre[i] = box.lower[i] + 0.5 * (box.upper[i] - box.lower[i]);
    std::vector<double> centreOutput = evaluateFlat(graph, centre);
    std::string verdict = cex ? "sat" : "unknown";
    if (json) {
      nlohmann::json out = {{"verdict", verdict},
                            {"method", "sampling"},
                            {"model", model},
                            {"property", prop.path},
                            {"disjuncts", prop.disjuncts.size()},
                            {"centre_output", centreOutput},
                            {"time_s", seconds()}};
      if (cex)
        out["counterexample"] = {{"disjunct", cex->disjunct}, {"input", cex->input}, {"output", cex->output}};
      tools::writeOutput("", out.dump(2) + "\n");
    } else {
      std::string text = fmt::format("model {}, property {}: {} disjunct(s) over {} inputs\n", model, prop.path,
                                     prop.disjuncts.size(), prop.num_inputs);
      text += fmt::format("output at the centre of the first box: {}\n", formatValues(centreOutput));
      if (cex) {
        text += fmt::format("verdict: sat (counterexample for disjunct {}, checked in float64)\n", cex->disjunct);
        text += fmt::format("  input:  {}\n  output: {}\n", formatValues(cex->input), formatValues(cex->output));
      } else {
        text += "verdict: unknown (no counterexample found by sampling; bound methods are not built yet)\n";
      }
      text += fmt::format("time: {:.3f} s\n", seconds());
      tools::writeOutput("", text);
    }
    return cex ? tools::kExitFails : tools::kExitOk;
  });
}
