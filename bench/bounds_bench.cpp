// Bound-method speed on the reference networks: computeBounds with IBP, CROWN
// and CROWN ∩ IBP, with and without the spec matrix C, on one representative
// case of shared/reference per network (all 45 ACAS Xu networks, the 3
// mnist_fc, 2 eran and 3 oval21 networks). The benchmark names are
//   <reference file>/<profile>/<noC|C>
// with the profile named as in shared/reference (ibp, pure, pure_ibp), so
// bench/compare_reference.sh can set each against auto_LiRPA's time for the
// same case. Model loading and reading the graph for bounding (bounds::Network)
// are not timed, as auto_LiRPA's BoundedModule construction is not in the
// reference timings.
//
// The shared material is found through GAMMA_SHARED_DIR, else the directory
// the build was configured with, else ../shared; without it nothing runs.
#include "bounds/bounds.h"
#include "frontend/model_loader.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path sharedDir() {
  if (const char *dir = std::getenv("GAMMA_SHARED_DIR"); dir && *dir)
    return dir;
#ifdef GAMMA_DEFAULT_SHARED_DIR
  if (fs::is_directory(fs::path(GAMMA_DEFAULT_SHARED_DIR) / "reference"))
    return GAMMA_DEFAULT_SHARED_DIR;
#endif
  return "../shared";
}

struct Case {
  std::string file; // relative to shared/reference
  std::shared_ptr<const gm::Graph> graph;
  gm::bounds::Box box;
  std::optional<gm::bounds::Spec> spec;
};

struct Profile {
  const char *name;
  gm::bounds::Method method;
  bool intersectIbp;
};
constexpr Profile kProfiles[] = {
    {"ibp", gm::bounds::Method::Ibp, false},
    {"pure", gm::bounds::Method::Crown, false},
    {"pure_ibp", gm::bounds::Method::Crown, true},
};

// The first reference file (in name order) of every network of the four benchmarks.
std::vector<std::shared_ptr<Case>> loadCases(const fs::path &root) {
  std::vector<std::shared_ptr<Case>> cases;
  std::map<std::string, std::shared_ptr<const gm::Graph>> graphs;
  for (const char *bench : {"acasxu", "mnist_fc", "eran", "oval21"}) {
    std::vector<fs::path> files;
    for (const auto &entry : fs::directory_iterator(root / bench))
      if (entry.path().extension() == ".json")
        files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    std::set<std::string> seen;
    for (const fs::path &path : files) {
      json ref = json::parse(std::ifstream(path));
      std::string model = ref["model"].get<std::string>();
      if (!seen.insert(model).second)
        continue;
      auto c = std::make_shared<Case>();
      c->file = fs::relative(path, root).generic_string();
      auto &graph = graphs[model];
      if (!graph)
        graph = std::make_shared<const gm::Graph>(gm::loadModel((root.parent_path() / model).string()));
      c->graph = graph;
      c->box.lower = ref["input_lower"].get<std::vector<double>>();
      c->box.upper = ref["input_upper"].get<std::vector<double>>();
      if (!ref["C"].is_null()) {
        gm::bounds::Spec spec;
        spec.numOutputs = ref["num_outputs"].get<std::size_t>();
        spec.numInputs = c->box.lower.size();
        for (const auto &row : ref["C"]) {
          std::vector<double> r = row.get<std::vector<double>>();
          spec.outputCoeffs.insert(spec.outputCoeffs.end(), r.begin(), r.end());
          spec.constants.push_back(0.0);
        }
        c->spec = std::move(spec);
      }
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

void runBounds(benchmark::State &state, std::shared_ptr<Case> c, Profile profile, bool withC) {
  gm::bounds::Options options;
  options.method = profile.method;
  options.intersectIbp = profile.intersectIbp;
  const gm::bounds::Spec *spec = withC ? &*c->spec : nullptr;
  // Reading the graph (folding constants) is done once per network, as
  // auto_LiRPA's BoundedModule construction is outside its timed call.
  std::optional<gm::bounds::Network> network;
  try {
    network.emplace(*c->graph);
    gm::bounds::computeBounds(*network, c->box, spec, options); // warm-up, and errors out of the loop
  } catch (const std::exception &e) {
    state.SkipWithError(e.what());
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(gm::bounds::computeBounds(*network, c->box, spec, options));
}

} // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  fs::path root = sharedDir() / "reference";
  if (!fs::is_directory(root / "acasxu")) {
    std::fprintf(stderr, "bounds-bench: skipped: shared reference material not found at %s (set GAMMA_SHARED_DIR)\n",
                 root.string().c_str());
    return 0;
  }
  std::vector<std::shared_ptr<Case>> cases;
  try {
    cases = loadCases(root);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "bounds-bench: error: %s\n", e.what());
    return 2;
  }
  for (const auto &c : cases)
    for (const Profile &profile : kProfiles)
      for (bool withC : {false, true}) {
        if (withC && !c->spec)
          continue;
        std::string name = fmt::format("{}/{}/{}", c->file, profile.name, withC ? "C" : "noC");
        benchmark::RegisterBenchmark(name.c_str(), runBounds, c, profile, withC)->Unit(benchmark::kMillisecond);
      }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
