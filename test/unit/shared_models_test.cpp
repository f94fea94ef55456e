// Acceptance over the shared VNN-COMP material: every network imports, its IR
// round-trips to identical text, and the reference interpreter reproduces the
// ONNX Runtime outputs in shared/reference/concrete. Skips where absent.
#include "frontend/onnx/onnx_import.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace gm;
namespace fs = std::filesystem;

namespace {

fs::path sharedDir() {
  const char *dir = std::getenv("GAMMA_SHARED_DIR");
  return dir ? fs::path(dir) : fs::path();
}

bool haveShared() {
  if (fs::is_directory(sharedDir() / "vnncomp"))
    return true;
  MESSAGE("skipped: shared material not found (set GAMMA_SHARED_DIR)");
  return false;
}

std::vector<fs::path> sharedNetworks() {
  std::vector<fs::path> files;
  for (const auto &entry : fs::recursive_directory_iterator(sharedDir() / "vnncomp"))
    if (entry.path().extension() == ".onnx")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

TEST_SUITE("shared") {

TEST_CASE("every shared network imports and its IR round-trips to identical text") {
  if (!haveShared())
    return;
  std::vector<fs::path> files = sharedNetworks();
  CHECK(files.size() >= 53);
  int roundTrips = 0;
  for (const fs::path &file : files) {
    CAPTURE(file);
    Graph g = onnx_import::importFile(file.string());
    std::string once = printGraph(g);
    std::string twice = printGraph(parseGraph(once, (fs::temp_directory_path() / "x.gir").string()));
    CHECK(once == twice);
    roundTrips += once == twice;
  }
  MESSAGE(roundTrips << " of " << files.size() << " networks round-trip");
}

TEST_CASE("the reference interpreter reproduces ONNX Runtime on shared/reference/concrete") {
  if (!haveShared())
    return;
  fs::path dir = sharedDir() / "reference" / "concrete";
  REQUIRE(fs::is_directory(dir));
  int files = 0, points = 0;
  double worst = 0;
  for (const auto &entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json")
      continue;
    CAPTURE(entry.path());
    nlohmann::json ref = nlohmann::json::parse(std::ifstream(entry.path()));
    Graph g = onnx_import::importFile((sharedDir() / "vnncomp" / ref["model"].get<std::string>()).string());
    Shape inputShape = g.type(g.inputs().at(0)).shape;
    for (const auto &point : ref["points"]) {
      ref::Tensor x{inputShape, point["input"].get<std::vector<double>>()};
      REQUIRE(static_cast<std::int64_t>(x.data.size()) == numElements(inputShape));
      std::vector<double> got = ref::evaluate(g, std::span(&x, 1)).at(0).data;
      std::vector<double> want = point["output"].get<std::vector<double>>();
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        double err = std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i]));
        worst = std::max(worst, err);
        CHECK(err <= 1e-5);
      }
      ++points;
    }
    ++files;
  }
  CHECK(files >= 50);
  MESSAGE(files << " networks, " << points << " points; worst relative error " << worst);
}

} // TEST_SUITE
