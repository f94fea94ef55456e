// gammac: the compiler driver: import a model, verify it, run passes, print
// or write the IR, the bound program, or a plan for gamma-run.
#include "codegen/aot.h"
#include "codegen/cpu_features.h"
#include "codegen/target_info.h"
#include "frontend/model_loader.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/error.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "passes/pass.h"
#include "runtime/falsify.h"
#include "runtime/plan_write.h"
#include "tools/tool_main.h"

#include <cstdio>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

using namespace gm;

namespace {

std::vector<std::string> splitPasses(const std::string &list) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!name.empty())
      names.push_back(name);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return names;
}

nlohmann::json statsJson(const Graph &graph, const std::string &model) {
  std::map<std::string, int> ops;
  std::int64_t parameters = 0;
  for (const Node &node : graph.nodes()) {
    ++ops[std::string(opKeyword(node.op))];
    if (node.constant)
      parameters += node.constant->type().numElements();
  }
  nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
  for (ValueId v : graph.inputs())
    inputs.push_back({{"name", graph.definingNode(v).attrs.getString("name")}, {"type", typeString(graph.type(v))}});
  for (ValueId v : graph.outputs())
    outputs.push_back({{"type", typeString(graph.type(v))}});
  return {{"model", model},     {"graph", graph.name}, {"inputs", inputs},         {"outputs", outputs},
          {"nodes", graph.numNodes()}, {"ops", ops},  {"parameters", parameters}};
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"gammac: compile a network for sound bound propagation.\n\n"
               "Imports MODEL (ONNX, textual IR .gir, or the embedded 'demo'), checks it\n"
               "with the IR verifier, runs the pass pipeline, and prints the IR.\n\n"
               "Examples:\n"
               "  gammac                                  IR of the embedded demo network\n"
               "  gammac net.onnx -o net.gir              import ONNX, write the textual IR\n"
               "  gammac net.gir --passes=dce --print-after-all\n"
               "  gammac net.onnx --spec prop.vnnlib --stats --json\n"
               "  gammac net.onnx --method crown --emit plan -o net.gplan   a plan for gamma-run",
               "gammac"};
  std::string model = "demo", spec, output, emit = "ir", passes;
  bool printAfterAll = false, verifyEach = false, stats = false, json = false, listPasses = false;
  app.add_option("MODEL", model, "model: .onnx, .gir or 'demo' (the default)");
  app.add_option("--spec", spec, "VNNLIB property; checked against the model's input and output sizes")
      ->check(CLI::ExistingFile);
  app.add_option("--emit", emit,
                 "what to produce: ir (the network), bound-ir (the bound program of --method), plan (the bound "
                 "program and its kernels for --target, for gamma-run; needs -o)")
      ->check(CLI::IsMember({"ir", "bound-ir", "plan"}));
  std::string target = "x86-64-v3";
  app.add_option("--target", target, "with --emit plan: the CPU the kernels are for: host, x86-64-v3 (the default), "
                                     "x86-64-v4, aarch64");
  std::string method = "crown";
  std::int64_t specRows = 0;
  app.add_option("--method", method, "with --emit bound-ir: the bound method")
      ->check(CLI::IsMember({"ibp", "crown", "crown-ibp"}));
  app.add_option("--spec-rows", specRows,
                 "with --emit bound-ir: spec rows the program takes (0: none); with --emit plan the default is "
                 "the number of outputs")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-o,--output", output, "output file (default: stdout)");
  app.add_option("--passes", passes, "comma-separated pass list replacing the default pipeline; see --list-passes");
  app.add_flag("--list-passes", listPasses, "list the registered passes and the default pipeline");
  app.add_flag("--print-after-all", printAfterAll, "print the IR after every pass (to stderr)");
  app.add_flag("--verify-each", verifyEach, "run the IR verifier after every pass");
  app.add_flag("--stats", stats, "print a summary of the graph (op counts, parameters) instead of the IR");
  app.add_flag("--json", json, "with --stats: print the summary as JSON");
  app.set_version_flag("--version", [] { return tools::versionText("gammac", codegen::hostCpuName()); });

  return tools::runTool(app, argc, argv, [&] {
    if (listPasses) {
      std::string text = "passes:\n";
      for (const PassInfo &p : passRegistry())
        text += fmt::format("  {:<16} {}\n", p.name, p.summary);
      std::vector<std::string> pipeline = defaultPipeline();
      text += fmt::format("default pipeline: {}\n", pipeline.empty() ? "(empty)" : fmt::format("{}", fmt::join(pipeline, ",")));
      tools::writeOutput("", text);
      return tools::kExitOk;
    }
    Graph graph = loadModel(model);
    if (emit == "plan" && output.empty())
      fail("--emit plan", "needs -o FILE (a plan is binary)");
    // The network's flat sizes, before lowering replaces its inputs and outputs.
    std::int64_t netInputs = 0, netOutputs = 0;
    for (ValueId v : graph.inputs())
      netInputs += graph.type(v).numElements();
    for (ValueId v : graph.outputs())
      netOutputs += graph.type(v).numElements();
    if (emit == "plan" && !app.count("--spec-rows"))
      specRows = netOutputs;
    PassOptions options;
    options.verifyEach = verifyEach;
    options.printAfterAll = printAfterAll;
    options.print = [](const std::string &text) { std::fputs(text.c_str(), stderr); };
    options.boundMethod = method;
    options.specRows = specRows;
    std::int64_t arenaBytes = -1;
    options.arenaBytes = &arenaBytes;
    std::vector<std::string> pipeline = app.count("--passes") ? splitPasses(passes) : defaultPipeline();
    if (emit == "bound-ir" || emit == "plan") { // lowering first, then the given passes or the bound pipeline
      if (!app.count("--passes"))
        pipeline = boundPipeline();
      if (std::find(pipeline.begin(), pipeline.end(), "lower-bounds") == pipeline.end())
        pipeline.insert(pipeline.begin(), "lower-bounds");
    }
    runPasses(graph, pipeline, options, model);
    verify(graph, model);
    nlohmann::json summary = statsJson(graph, model);
    if (!spec.empty()) {
      vnnlib::Property property = vnnlib::parseFile(spec);
      checkPropertyFits(graph, property);
      std::size_t rows = 0;
      for (const auto &d : property.disjuncts)
        rows += d.rows.size();
      summary["spec"] = {{"path", spec},
                         {"inputs", property.num_inputs},
                         {"outputs", property.num_outputs},
                         {"disjuncts", property.disjuncts.size()},
                         {"rows", rows}};
    }
    if (arenaBytes >= 0)
      summary["arena_bytes"] = arenaBytes;
    if (stats) {
      std::string text;
      if (json) {
        text = summary.dump(2) + "\n";
      } else {
        text = fmt::format("model {}: {} nodes, {} parameters\n", model, graph.numNodes(),
                           summary["parameters"].get<std::int64_t>());
        for (auto &[op, count] : summary["ops"].items())
          text += fmt::format("  {:<14} {}\n", op, count.get<int>());
        if (arenaBytes >= 0)
          text += fmt::format("arena {} bytes\n", arenaBytes);
        if (summary.contains("spec"))
          text += fmt::format("spec {}: {} disjuncts, {} rows\n", spec, summary["spec"]["disjuncts"].get<std::size_t>(),
                              summary["spec"]["rows"].get<std::size_t>());
      }
      tools::writeOutput(output, text);
      return tools::kExitOk;
    }
    if (emit == "plan") {
      PlanFile plan;
      PlanHeader &h = plan.header;
      h.gammaVersion = GAMMA_VERSION;
      h.method = method;
      h.specRows = specRows;
      codegen::TargetDesc desc = codegen::describeTarget(target);
      h.target = desc.name;
      // A host plan runs only where this CPU's vector features are present.
      h.requiredFeatures = target == "host" ? codegen::hostVectorFeatures() : codegen::requiredFeatures(desc.name);
      h.modelPath = model == "demo" ? model : std::filesystem::absolute(model).string();
      h.modelHash = model == "demo" ? "" : fileHash(model);
      h.arenaBytes = std::max<std::int64_t>(arenaBytes, 0);
      h.inputs = netInputs;
      h.outputs = netOutputs;
      compilePlanKernels(plan, graph, desc);
      plan.boundIr = printGraph(graph);
      writePlan(output, plan);
      return tools::kExitOk;
    }
    tools::writeOutput(output, printGraph(graph));
    return tools::kExitOk;
  });
}
