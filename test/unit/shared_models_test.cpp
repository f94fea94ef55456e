// Acceptance over the shared VNN-COMP material: every network imports, its IR
// round-trips to identical text, lowers to bound programs, and the reference
// interpreter reproduces the ONNX Runtime outputs in shared/reference/concrete.
// Skips where absent.
#include "bounds/bounds.h"
#include "frontend/onnx/onnx_import.h"
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "ir/text.h"
#include "passes/pass.h"

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

// Acceptance of the compiler: every network lowers to a bound program for
// every method the direct path bounds it with (and is refused with the direct
// path's message otherwise); the program prints and parses back to the same
// text and, run on a small box around zero, gives the direct bounds. The
// reference suite compares every reference case; this adds the ViTs and runs
// CROWN only on the networks with fewer than 1000 inputs (oval21's CROWN takes
// seconds per run and the reference suite covers it).
TEST_CASE("every shared network lowers to a bound program that round-trips and gives the direct bounds") {
  if (!haveShared())
    return;
  bounds::registerProgramRules();
  int lowered = 0, refused = 0, compared = 0;
  double worst = 0;
  for (const fs::path &file : sharedNetworks()) {
    CAPTURE(file);
    Graph net = onnx_import::importFile(file.string());
    std::int64_t n = net.type(net.inputs()[0]).numElements();
    std::int64_t outs = net.type(net.outputs()[0]).numElements();
    for (bounds::Method m : {bounds::Method::Ibp, bounds::Method::Crown, bounds::Method::CrownIbp}) {
      CAPTURE(bounds::methodName(m));
      PassOptions options;
      options.boundMethod = std::string(bounds::methodName(m));
      options.specRows = outs;
      Graph program = net;
      std::string direct;
      try {
        bounds::checkSupported(net, m);
      } catch (const InputError &e) {
        direct = e.what();
      }
      if (!direct.empty()) {
        CHECK_THROWS_WITH_AS(runPasses(program, boundPipeline(), options, file.string()),
                             doctest::Contains(direct.c_str()), InputError);
        ++refused;
        continue;
      }
      runPasses(program, boundPipeline(), options, file.string());
      std::string once = printGraph(program);
      CHECK(printGraph(parseGraph(once, (fs::temp_directory_path() / "x.gir").string())) == once);
      ++lowered;
      if (m != bounds::Method::Ibp && n >= 1000)
        continue;
      bounds::Box box{std::vector<double>(static_cast<std::size_t>(n), -0.01),
                      std::vector<double>(static_cast<std::size_t>(n), 0.01)};
      bounds::Options o;
      o.method = m;
      bounds::Result d = bounds::computeBounds(net, box, nullptr, o);
      ref::Tensor C{{outs, outs}, std::vector<double>(static_cast<std::size_t>(outs * outs), 0.0)};
      ref::Tensor zero{{outs}, std::vector<double>(static_cast<std::size_t>(outs), 0.0)};
      std::vector<ref::Tensor> inputs{{{n}, box.lower}, {{n}, box.upper}, C, zero};
      std::vector<ref::Tensor> out = ref::evaluate(program, inputs);
      for (std::size_t k = 0; k < d.lower.size(); ++k)
        for (auto [mine, theirs] : {std::pair(out[0].data[k], d.lower[k]), std::pair(out[1].data[k], d.upper[k])}) {
          double diff = std::fabs(mine - theirs) / (1 + std::fabs(theirs));
          worst = std::max(worst, diff);
          CHECK(diff <= 1e-9);
          ++compared;
        }
    }
  }
  MESSAGE(lowered << " (network, method) programs, " << refused << " refused as the direct path refuses, "
                  << compared << " bounds compared, worst relative difference " << worst);
  CHECK(lowered >= 55);
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
