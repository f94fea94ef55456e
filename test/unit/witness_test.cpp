// The known counterexamples of shared/vnncomp/sat_witnesses.json (one per sat
// instance, checked upstream with onnxruntime in float32): gamma's float64
// check accepts each of them (13 lie up to one float32 ulp outside the written
// decimal box, since upstream rounded the box to float32; they are moved onto
// the box first), and no bound method refutes one — every bound
// computed on the witness's disjunct contains the witness's output, and with
// the disjunct's rows as a spec no row's lower bound is above the row's value
// at the witness (which is <= 0). Skips where the shared material is absent.
#include "bounds/bounds.h"
#include "frontend/model_loader.h"
#include "frontend/vnnlib/vnnlib.h"
#include "runtime/falsify.h"

#include "test/shared_material.h"
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

using namespace gm;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using gm::test::sharedDir;

bool haveWitnesses() {
  if (fs::is_regular_file(sharedDir() / "vnncomp" / "sat_witnesses.json"))
    return true;
  MESSAGE("skipped: shared/vnncomp/sat_witnesses.json not found (set GAMMA_SHARED_DIR)");
  return false;
}

// The benchmark folder of each witness's onnx/vnnlib paths.
fs::path benchmarkDir(const std::string &benchmark) { return sharedDir() / "vnncomp" / benchmark; }

// The disjunct's rows as a bounds::Spec: row_r = C[r]·y + X[r]·x + d[r] <= 0.
bounds::Spec specOf(const vnnlib::Disjunct &d, std::size_t numInputs, std::size_t numOutputs) {
  bounds::Spec spec;
  spec.numInputs = numInputs;
  spec.numOutputs = numOutputs;
  bool readsInput = false;
  for (const vnnlib::Row &row : d.rows)
    readsInput |= !row.x.empty();
  for (const vnnlib::Row &row : d.rows) {
    std::vector<double> c(numOutputs, 0.0);
    for (auto [j, v] : row.y)
      c[j] = v;
    spec.outputCoeffs.insert(spec.outputCoeffs.end(), c.begin(), c.end());
    if (readsInput) {
      std::vector<double> a(numInputs, 0.0);
      for (auto [i, v] : row.x)
        a[i] = v;
      spec.inputCoeffs.insert(spec.inputCoeffs.end(), a.begin(), a.end());
    }
    spec.constants.push_back(row.constant);
  }
  return spec;
}

double rowValue(const vnnlib::Row &row, const std::vector<double> &x, const std::vector<double> &y) {
  double sum = row.constant;
  for (auto [j, c] : row.y)
    sum += c * y[j];
  for (auto [i, c] : row.x)
    sum += c * x[i];
  return sum;
}

struct Config {
  bounds::Method method;
  bool intersectIbp;
  std::string name() const {
    std::string n(bounds::methodName(method));
    return intersectIbp ? n + "+ibp" : n;
  }
};
const Config kConfigs[] = {{bounds::Method::Ibp, false},
                           {bounds::Method::Crown, false},
                           {bounds::Method::Crown, true},
                           {bounds::Method::CrownIbp, false}};

} // namespace

TEST_SUITE("reference") {

TEST_CASE("every known sat witness is accepted and no bound method refutes it") {
  if (!haveWitnesses())
    return;
  json witnesses = json::parse(std::ifstream(sharedDir() / "vnncomp" / "sat_witnesses.json"));
  REQUIRE(witnesses.is_array());
  CHECK(witnesses.size() >= 69);

  std::map<std::string, std::shared_ptr<const Graph>> graphs;
  std::map<std::string, std::shared_ptr<const bounds::Network>> networks; // refer to graphs
  std::map<std::string, vnnlib::Property> properties;
  std::map<std::string, std::pair<int, int>> perBenchmark; // accepted, total
  long rejected = 0, clamped = 0, boundChecks = 0, refuted = 0, errors = 0;
  double closestRow = INFINITY; // smallest (value at witness - row lower bound) over all checks
  std::string closestWhere;
  std::vector<std::string> failures, notes;

  for (const json &w : witnesses) {
    std::string bench = w["benchmark"].get<std::string>();
    std::string onnx = (benchmarkDir(bench) / w["onnx"].get<std::string>()).string();
    std::string vnn = (benchmarkDir(bench) / w["vnnlib"].get<std::string>()).string();
    std::string where = fmt::format("{} {} {}", bench, w["onnx"].get<std::string>(), w["vnnlib"].get<std::string>());
    CAPTURE(where);
    auto &graph = graphs[onnx];
    auto &network = networks[onnx];
    if (!graph) {
      graph = std::make_shared<const Graph>(loadModel(onnx));
      network = std::make_shared<const bounds::Network>(*graph);
    }
    auto it = properties.find(vnn);
    if (it == properties.end())
      it = properties.emplace(vnn, vnnlib::parseFile(vnn)).first;
    const vnnlib::Property &prop = it->second;
    checkPropertyFits(*graph, prop);

    std::vector<double> x = w["x"].get<std::vector<double>>();
    REQUIRE(x.size() == prop.num_inputs);
    std::vector<double> y = evaluateFlat(*graph, x);
    ++perBenchmark[bench].second;

    // A witness is a float32 point of the float32-rounded box; the written
    // (decimal) box can be narrower by up to one float32 ulp at each bound. A
    // witness outside the box is moved onto it when it is that close, and the
    // moved point must then be a counterexample.
    std::vector<std::size_t> accepting;
    for (std::size_t k = 0; k < prop.disjuncts.size(); ++k)
      if (violates(prop.disjuncts[k], x, y))
        accepting.push_back(k);
    if (accepting.empty()) {
      for (std::size_t k = 0; k < prop.disjuncts.size() && accepting.empty(); ++k) {
        const vnnlib::Disjunct &d = prop.disjuncts[k];
        std::vector<double> xc(x.size());
        bool close = true;
        for (std::size_t i = 0; i < x.size(); ++i) {
          xc[i] = std::clamp(x[i], d.lower[i], d.upper[i]);
          float f = static_cast<float>(x[i]);
          close &= std::abs(xc[i] - x[i]) <= std::abs(double(std::nextafter(f, INFINITY)) - double(f));
        }
        if (!close)
          continue;
        std::vector<double> yc = evaluateFlat(*graph, xc);
        if (violates(d, xc, yc)) {
          accepting.push_back(k);
          x = std::move(xc);
          y = std::move(yc);
          ++clamped;
          notes.push_back(fmt::format("{}: moved onto the box of disjunct {} (within one float32 ulp) and accepted",
                                      where, k));
        }
      }
    }
    if (accepting.empty()) {
      ++rejected;
      // Say why: outside every box, or which rows fail.
      std::string why;
      for (std::size_t k = 0; k < prop.disjuncts.size(); ++k) {
        const vnnlib::Disjunct &d = prop.disjuncts[k];
        std::size_t out = 0;
        for (std::size_t i = 0; i < x.size(); ++i)
          out += !(x[i] >= d.lower[i] && x[i] <= d.upper[i]);
        double worst = -INFINITY;
        for (const vnnlib::Row &row : d.rows)
          worst = std::max(worst, rowValue(row, x, y));
        why += fmt::format(" [disjunct {}: {} inputs outside the box, largest row value {:.3g}]", k, out, worst);
      }
      failures.push_back(fmt::format("{}: witness rejected by gamma's float64 check (property value {:.3g}):{}", where,
                                     w["property_value"].get<double>(), why));
      continue;
    }
    ++perBenchmark[bench].first;

    for (std::size_t k : accepting) {
      const vnnlib::Disjunct &d = prop.disjuncts[k];
      bounds::Box box{d.lower, d.upper};
      bounds::Spec spec = specOf(d, prop.num_inputs, prop.num_outputs);
      for (const Config &config : kConfigs) {
        std::string at = fmt::format("{} disjunct {} {}", where, k, config.name());
        bounds::Options options;
        options.method = config.method;
        options.intersectIbp = config.intersectIbp;
        bounds::Result r;
        try {
          r = bounds::computeBounds(*network, box, &spec, options);
        } catch (const std::exception &e) {
          ++errors;
          failures.push_back(fmt::format("{}: computeBounds threw: {}", at, e.what()));
          continue;
        }
        if (r.lower.size() != y.size() || r.upper.size() != y.size() || r.rowLower.size() != d.rows.size() ||
            r.rowUpper.size() != d.rows.size()) {
          ++errors;
          failures.push_back(fmt::format("{}: result sizes {}/{} outputs, {}/{} rows", at, r.lower.size(),
                                         r.upper.size(), r.rowLower.size(), r.rowUpper.size()));
          continue;
        }
        for (std::size_t j = 0; j < y.size(); ++j) {
          ++boundChecks;
          double slack = 1e-9 * (1 + std::abs(y[j]));
          if (!(y[j] >= r.lower[j] - slack && y[j] <= r.upper[j] + slack)) {
            ++refuted;
            failures.push_back(
                fmt::format("{}: output {} = {:.12g} not in [{:.12g}, {:.12g}]", at, j, y[j], r.lower[j], r.upper[j]));
          }
        }
        for (std::size_t q = 0; q < d.rows.size(); ++q) {
          ++boundChecks;
          double v = rowValue(d.rows[q], x, y);
          double slack = 1e-9 * (1 + std::abs(v));
          if (v - r.rowLower[q] < closestRow) {
            closestRow = v - r.rowLower[q];
            closestWhere = fmt::format("{} row {}", at, q);
          }
          if (!(r.rowLower[q] <= v + slack && r.rowLower[q] <= 0 && r.rowUpper[q] >= v - slack)) {
            ++refuted;
            failures.push_back(fmt::format("{}: row {} = {:.12g} at the witness, bounds [{:.12g}, {:.12g}]", at, q, v,
                                           r.rowLower[q], r.rowUpper[q]));
          }
        }
      }
    }
  }

  std::string summary = fmt::format("{} witnesses:", witnesses.size());
  for (const auto &[bench, counts] : perBenchmark)
    summary += fmt::format(" {} {}/{} accepted,", bench, counts.first, counts.second);
  summary += fmt::format(" {} of them after moving onto the box;", clamped);
  summary += fmt::format(" {} bound checks, {} refuted, {} errors; smallest margin row value - row lower bound {:.3g} "
                         "({})",
                         boundChecks, refuted, errors, closestRow, closestWhere);
  MESSAGE(summary);
  if (!notes.empty()) {
    std::string list;
    for (const auto &n : notes)
      list += "  " + n + "\n";
    MESSAGE(list);
  }
  if (!failures.empty()) {
    std::string list;
    for (const auto &f : failures)
      list += "  " + f + "\n";
    MESSAGE(list);
  }
  CHECK(rejected == 0);
  CHECK(refuted == 0);
  CHECK(errors == 0);
}

} // TEST_SUITE
