// The VNN-COMP 2023 ViT networks (shared/vnncomp/vit: pgd_2_3_16 and
// ibp_3_3_8) end to end: they import; the reference interpreter reproduces
// ONNX Runtime (shared/reference/concrete) and auto_LiRPA's float64 model at
// the box centres (shared/reference/vit); IBP bounds, with and without the
// property's rows, contain the network at the centre, random points and
// corners of a few vnnlib boxes; and IBP (and CROWN, where it runs) is set
// against auto_LiRPA's bounds on all 20 instances, reporting the widths. The
// reference folder's README explains its records: auto_LiRPA's own IBP record
// ("ibp") has an underflowing softmax on pgd_2_3_16 and is not a sound bound
// there, so gamma is held to "ibp_logspace_softmax" (a sound, patched IBP)
// where it exists and compared with "ibp" for information only.
//
// A first test without shared material checks the softmax·V product rule the
// ViT attention relies on, against the plain interval product and sampling.
// The rest skips with a message where shared/ is absent.
#include "bounds/bounds.h"
#include "frontend/model_loader.h"
#include "frontend/vnnlib/vnnlib.h"
#include "ir/error.h"
#include "runtime/falsify.h"

#include "test/shared_material.h"
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

using namespace gm;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using gm::test::sharedDir;
using Ints = std::vector<std::int64_t>;

constexpr const char *kNetworks[] = {"pgd_2_3_16", "ibp_3_3_8"};

bool haveVit() {
  if (fs::is_directory(sharedDir() / "vnncomp" / "vit" / "onnx") && fs::is_directory(sharedDir() / "reference" / "vit"))
    return true;
  MESSAGE("skipped: shared ViT material (vnncomp/vit, reference/vit) not found (set GAMMA_SHARED_DIR)");
  return false;
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Each network is imported and read for bounding once.
struct Model {
  std::shared_ptr<const Graph> graph;
  std::shared_ptr<const bounds::Network> network;
};
const Model &model(const std::string &name) {
  static std::map<std::string, Model> cache;
  Model &m = cache[name];
  if (!m.graph) {
    m.graph = std::make_shared<const Graph>(loadModel((sharedDir() / "vnncomp/vit/onnx" / (name + ".onnx")).string()));
    m.network = std::make_shared<const bounds::Network>(*m.graph);
  }
  return m;
}

// The reference files of one network (<network>__<vnnlib stem>.json), sorted.
std::vector<fs::path> referenceFiles(const std::string &network) {
  std::vector<fs::path> files;
  for (const auto &entry : fs::directory_iterator(sharedDir() / "reference" / "vit"))
    if (entry.path().extension() == ".json" && entry.path().filename().string().starts_with(network + "__"))
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

const json *findRecord(const json &ref, const std::string &profile, bool usesC) {
  for (const json &r : ref["results"])
    if (r["bound_opts_profile"] == profile && r["uses_C"].get<bool>() == usesC)
      return &r;
  return nullptr;
}

bounds::Spec specFromC(const json &ref) {
  bounds::Spec spec;
  spec.numOutputs = ref["num_outputs"].get<std::size_t>();
  spec.numInputs = ref["input_lower"].size();
  for (const json &row : ref["C"]) {
    std::vector<double> r = row.get<std::vector<double>>();
    REQUIRE(r.size() == spec.numOutputs);
    spec.outputCoeffs.insert(spec.outputCoeffs.end(), r.begin(), r.end());
    spec.constants.push_back(0.0);
  }
  return spec;
}

std::vector<double> applySpec(const bounds::Spec &spec, const std::vector<double> &y) {
  std::vector<double> v(spec.constants);
  for (std::size_t r = 0; r < spec.numRows(); ++r)
    for (std::size_t j = 0; j < spec.numOutputs; ++j)
      v[r] += spec.outputCoeffs[r * spec.numOutputs + j] * y[j];
  return v;
}

double meanWidth(const std::vector<double> &lo, const std::vector<double> &hi) {
  double s = 0;
  for (std::size_t i = 0; i < lo.size(); ++i)
    s += hi[i] - lo[i];
  return lo.empty() ? 0 : s / static_cast<double>(lo.size());
}

// Never looser than a sound reference bound by more than the README's tolerance.
long looserThan(const std::vector<double> &lo, const std::vector<double> &hi, const json &rec) {
  std::vector<double> rl = rec["lower"].get<std::vector<double>>(), ru = rec["upper"].get<std::vector<double>>();
  if (rl.size() != lo.size())
    return static_cast<long>(std::max(rl.size(), lo.size()));
  long n = 0;
  for (std::size_t k = 0; k < rl.size(); ++k) {
    double tol = 1e-4 * std::max(std::abs(rl[k]), std::abs(ru[k])) + 1e-6;
    n += !(lo[k] >= rl[k] - tol) + !(hi[k] <= ru[k] + tol);
  }
  return n;
}

} // namespace

TEST_SUITE("vit") {

TEST_CASE("IBP of softmax·V uses that softmax rows sum to 1: inside the interval product, around every sample") {
  // y = softmax(s)·V with s and V both read from the input x = [s (2×4) | V (4×3)],
  // against the same graph with a reshape between the softmax and the product
  // (which hides the softmax and leaves the plain interval product).
  std::mt19937_64 rng(2023);
  std::uniform_real_distribution<double> unit(0, 1);
  long points = 0, tighter = 0, cases = 0;
  for (int c = 0; c < 200; ++c) {
    Graph plain, rule;
    for (Graph *g : {&plain, &rule}) {
      ValueId x = g->addInput("x", {DType::F32, {20}});
      Attrs first, second, axis, shapeS, shapeV;
      first.set("starts", Ints{0});
      first.set("ends", Ints{8});
      first.set("steps", Ints{1});
      second.set("starts", Ints{8});
      second.set("ends", Ints{20});
      second.set("steps", Ints{1});
      shapeS.set("shape", Ints{2, 4});
      shapeV.set("shape", Ints{4, 3});
      axis.set("axis", std::int64_t(1));
      ValueId s = g->add1(Op::Reshape, {g->add1(Op::Slice, {x}, first)}, shapeS);
      ValueId v = g->add1(Op::Reshape, {g->add1(Op::Slice, {x}, second)}, shapeV);
      ValueId p = g->add1(Op::Softmax, {s}, axis);
      if (g == &plain)
        p = g->add1(Op::Reshape, {p}, shapeS);
      g->setOutputs({g->add1(Op::MatMul, {p, v})});
    }
    // Scores of spread 0..6 (so some rows are nearly one-hot), values of either sign.
    double spread = 6 * unit(rng), width = 3 * unit(rng);
    bounds::Box box;
    for (int i = 0; i < 20; ++i) {
      double centre = (i < 8 ? spread : 2) * (2 * unit(rng) - 1), w = width * unit(rng);
      box.lower.push_back(centre - w);
      box.upper.push_back(centre + w);
    }
    bounds::Options options;
    options.method = bounds::Method::Ibp;
    bounds::Result a = bounds::computeBounds(rule, box, nullptr, options);
    bounds::Result b = bounds::computeBounds(plain, box, nullptr, options);
    ++cases;
    for (std::size_t k = 0; k < a.lower.size(); ++k) {
      CHECK(a.lower[k] >= b.lower[k]);
      CHECK(a.upper[k] <= b.upper[k]);
      tighter += a.upper[k] - a.lower[k] < 0.99 * (b.upper[k] - b.lower[k]);
    }
    // Uniform points and corners (the extremes of a product lie at corners).
    for (int s = 0; s < 200; ++s) {
      std::vector<double> x(20);
      for (int i = 0; i < 20; ++i)
        x[i] = s < 100 ? box.lower[i] + unit(rng) * (box.upper[i] - box.lower[i])
                       : (unit(rng) < 0.5 ? box.lower[i] : box.upper[i]);
      std::vector<double> y = evaluateFlat(rule, x);
      ++points;
      for (std::size_t k = 0; k < y.size(); ++k) {
        CHECK(y[k] >= a.lower[k] - 1e-12 * (1 + std::abs(y[k])));
        CHECK(y[k] <= a.upper[k] + 1e-12 * (1 + std::abs(y[k])));
      }
    }
  }
  MESSAGE(fmt::format("{} boxes, {} points inside; {} of {} outputs at least 1% narrower than the interval product",
                      cases, points, tighter, cases * 6));
  CHECK(tighter > cases); // the rule does something
}

TEST_CASE("the ViT networks import and evaluate as ONNX Runtime and auto_LiRPA's float64 model do") {
  if (!haveVit())
    return;
  auto start = std::chrono::steady_clock::now();
  for (std::string name : kNetworks) {
    CAPTURE(name);
    const Graph &g = *model(name).graph;
    REQUIRE(g.inputs().size() == 1);
    REQUIRE(g.outputs().size() == 1);
    CHECK(g.type(g.inputs()[0]).shape == Shape{1, 3, 32, 32});
    CHECK(g.type(g.outputs()[0]).numElements() == 10);

    // ONNX Runtime (float32) at the centre of the first property's box and 3 samples.
    double worstOrt = 0;
    int ortPoints = 0;
    fs::path concrete = sharedDir() / "reference" / "concrete" / fmt::format("vit_{}.json", name);
    if (fs::exists(concrete)) {
      json ref = json::parse(std::ifstream(concrete));
      for (const json &point : ref["points"]) {
        std::vector<double> got = evaluateFlat(g, point["input"].get<std::vector<double>>());
        std::vector<double> want = point["output"].get<std::vector<double>>();
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
          double err = std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i]));
          worstOrt = std::max(worstOrt, err);
          CHECK(err <= 1e-5); // ORT is float32 (shared/reference/concrete/README.md)
        }
        ++ortPoints;
      }
    } else {
      MESSAGE("no ONNX Runtime reference for " << name);
    }

    // auto_LiRPA's float64 torch model at the float64 midpoint of each float32 box.
    double worstF64 = 0;
    int centres = 0;
    for (const fs::path &file : referenceFiles(name)) {
      json ref = json::parse(std::ifstream(file));
      std::vector<double> lo = ref["input_lower"].get<std::vector<double>>();
      std::vector<double> hi = ref["input_upper"].get<std::vector<double>>();
      std::vector<double> centre(lo.size());
      for (std::size_t i = 0; i < lo.size(); ++i)
        centre[i] = (lo[i] + hi[i]) / 2; // exact: float32 ends
      std::vector<double> got = evaluateFlat(g, centre);
      std::vector<double> want = ref["center_output_f64"].get<std::vector<double>>();
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        double err = std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i]));
        worstF64 = std::max(worstF64, err);
        CHECK(err <= 1e-9); // both float64 over the same float32 weights: rounding only
      }
      std::size_t argmax = std::max_element(got.begin(), got.end()) - got.begin();
      CHECK(argmax == ref["label"].get<std::size_t>());
      ++centres;
    }
    CHECK(centres == 10);
    MESSAGE(fmt::format("{}: {} ONNX Runtime points, worst relative error {:.2g} (tolerance 1e-5); {} box centres "
                        "against auto_LiRPA's float64 model, worst {:.2g} (tolerance 1e-9); every centre classified "
                        "as its label",
                        name, ortPoints, worstOrt, centres, worstF64));
  }
  MESSAGE(fmt::format("{:.2f} s", seconds(start)));
}

TEST_CASE("ViT IBP bounds contain the network at the centre, random points and corners of vnnlib boxes") {
  if (!haveVit())
    return;
  auto start = std::chrono::steady_clock::now();
  // Three properties per network (the first three of instances.csv's order is
  // arbitrary; these are spread over the label range).
  const std::map<std::string, std::vector<std::string>> properties = {
      {"pgd_2_3_16", {"pgd_2_3_16_4021", "pgd_2_3_16_9907", "pgd_2_3_16_7732"}},
      {"ibp_3_3_8", {"ibp_3_3_8_9119", "ibp_3_3_8_2351", "ibp_3_3_8_6948"}},
  };
  std::mt19937_64 rng(20231);
  long points = 0, checks = 0, outside = 0;
  std::string margins;
  for (const auto &[name, stems] : properties) {
    const Model &m = model(name);
    for (const std::string &stem : stems) {
      CAPTURE(stem);
      vnnlib::Property prop = vnnlib::parseFile((sharedDir() / "vnncomp/vit/vnnlib" / (stem + ".vnnlib")).string());
      checkPropertyFits(*m.graph, prop);
      REQUIRE(prop.disjuncts.size() == 9);
      // One box; each disjunct one row Y_label - Y_j <= 0: stack them as the spec.
      const std::vector<double> &lo = prop.disjuncts[0].lower, &hi = prop.disjuncts[0].upper;
      bounds::Spec spec;
      spec.numOutputs = 10;
      spec.numInputs = lo.size();
      for (const vnnlib::Disjunct &d : prop.disjuncts) {
        REQUIRE(d.lower == lo);
        REQUIRE(d.upper == hi);
        REQUIRE(d.rows.size() == 1);
        REQUIRE(d.rows[0].x.empty());
        std::vector<double> row(10, 0.0);
        for (auto [j, c] : d.rows[0].y)
          row[j] = c;
        spec.outputCoeffs.insert(spec.outputCoeffs.end(), row.begin(), row.end());
        spec.constants.push_back(d.rows[0].constant);
      }
      // The vnnlib box is the reference box before rounding to float32.
      json ref = json::parse(std::ifstream(sharedDir() / "reference/vit" / (name + "__" + stem + ".json")));
      std::vector<double> refLo = ref["input_lower"].get<std::vector<double>>();
      std::vector<double> refHi = ref["input_upper"].get<std::vector<double>>();
      REQUIRE(refLo.size() == lo.size());
      for (std::size_t i = 0; i < lo.size(); ++i) {
        CHECK(static_cast<float>(lo[i]) == refLo[i]);
        CHECK(static_cast<float>(hi[i]) == refHi[i]);
      }
      CHECK(spec.outputCoeffs == specFromC(ref).outputCoeffs); // rows e_label - e_j, ascending j

      bounds::Options options;
      options.method = bounds::Method::Ibp;
      bounds::Box box{lo, hi};
      bounds::Result r = bounds::computeBounds(*m.network, box, &spec, options);
      REQUIRE(r.lower.size() == 10);
      REQUIRE(r.rowLower.size() == 9);

      std::size_t n = lo.size();
      std::vector<std::vector<double>> xs;
      std::vector<double> centre(n);
      for (std::size_t i = 0; i < n; ++i)
        centre[i] = lo[i] + 0.5 * (hi[i] - lo[i]);
      xs.push_back(centre);
      xs.push_back(lo);
      xs.push_back(hi);
      std::uniform_real_distribution<double> unit(0, 1);
      for (int s = 0; s < 40; ++s) { // 24 uniform points, 16 random corners
        std::vector<double> x(n);
        for (std::size_t i = 0; i < n; ++i)
          x[i] = s < 24 ? lo[i] + unit(rng) * (hi[i] - lo[i]) : (unit(rng) < 0.5 ? lo[i] : hi[i]);
        xs.push_back(std::move(x));
      }
      double minMargin = INFINITY;
      for (const auto &x : xs) {
        std::vector<double> y = evaluateFlat(*m.graph, x), v = applySpec(spec, y);
        ++points;
        auto inside = [&](double value, double l, double u) {
          ++checks;
          double slack = 1e-9 * (1 + std::abs(value));
          bool ok = value >= l - slack && value <= u + slack;
          outside += !ok;
          return ok;
        };
        for (std::size_t k = 0; k < y.size(); ++k)
          CHECK(inside(y[k], r.lower[k], r.upper[k]));
        for (std::size_t k = 0; k < v.size(); ++k) {
          CHECK(inside(v[k], r.rowLower[k], r.rowUpper[k]));
          minMargin = std::min(minMargin, v[k]);
        }
      }
      // Row k is the margin Y_label - Y_j (a counterexample makes it <= 0);
      // every instance is unsat (VNN-COMP 2023).
      CHECK(minMargin > 0);
      margins += fmt::format(" {} {:.4f};", stem, minMargin);
    }
  }
  MESSAGE(fmt::format("6 properties, {} points (centre, 2 extreme corners, 24 uniform, 16 random corners each), {} "
                      "point-bound checks, {} outside ({:.2f} s). Smallest sampled margin:{}",
                      points, checks, outside, seconds(start), margins));
  CHECK(outside == 0);
}

TEST_CASE("ViT IBP and CROWN against auto_LiRPA on every instance (widths reported)") {
  if (!haveVit())
    return;
  auto start = std::chrono::steady_clock::now();
  auto crownDeadline = start + std::chrono::seconds(20); // CROWN on these graphs may be slow once it runs
  for (const char *name : kNetworks) {
    const Model &m = model(name);
    std::string table = fmt::format(
        "{}: per instance, margin rows (C): min lower bound and mean width, gamma / auto_LiRPA\n"
        "  {:<18} {:>12} {:>12} {:>12} {:>9} {:>9} {:>12} {:>12}\n",
        name, "vnnlib", "gamma IBP", "ref sound", "ref 'ibp'", "w/sound", "w/'ibp'", "gamma CROWN", "ref CROWN");
    double sumRatioSound = 0, sumRatioIbp = 0, sumRatioCrown = 0;
    int instances = 0, crownRuns = 0;
    long looser = 0;
    std::string crownError;
    bool layersReported = false;
    for (const fs::path &file : referenceFiles(name)) {
      json ref = json::parse(std::ifstream(file));
      std::string stem = fs::path(ref["vnnlib"].get<std::string>()).stem().string();
      CAPTURE(stem);
      bounds::Box box{ref["input_lower"].get<std::vector<double>>(), ref["input_upper"].get<std::vector<double>>()};
      bounds::Spec spec = specFromC(ref);
      // The sound IBP reference: the patched softmax where auto_LiRPA's underflows.
      std::string sound = findRecord(ref, "ibp_logspace_softmax", true) ? "ibp_logspace_softmax" : "ibp";
      const json *soundC = findRecord(ref, sound, true), *soundNoC = findRecord(ref, sound, false);
      const json *ibpC = findRecord(ref, "ibp", true), *crownC = findRecord(ref, "pure", true);
      REQUIRE(soundC);
      REQUIRE(soundNoC);
      REQUIRE(ibpC);
      REQUIRE(crownC);

      bounds::Options options;
      options.method = bounds::Method::Ibp;
      options.keepWidths = !layersReported;
      bounds::Result noC = bounds::computeBounds(*m.network, box, nullptr, options);
      options.keepWidths = false;
      bounds::Result withC = bounds::computeBounds(*m.network, box, &spec, options);
      long l = looserThan(noC.lower, noC.upper, *soundNoC) + looserThan(withC.rowLower, withC.rowUpper, *soundC);
      CHECK(l == 0);
      looser += l;

      // Widths per layer once per network: gamma's values that auto_LiRPA
      // records (attention operands, probabilities, FFN pre-activations).
      if (!layersReported) {
        layersReported = true;
        std::map<std::string, bounds::ValueWidth> byName;
        for (const bounds::ValueWidth &w : noC.widths)
          byName[m.graph->node(w.node).name] = w;
        // The patched record keeps intermediate bounds on pgd_2_3_16 only; on
        // ibp_3_3_8 it equals 'ibp' (the reference README).
        const json &ibpLayers = (*findRecord(ref, "ibp", false))["intermediate_bounds"];
        bool patchedLayers = soundNoC->contains("intermediate_bounds");
        const json &soundLayers = patchedLayers ? (*soundNoC)["intermediate_bounds"] : ibpLayers;
        std::string layers = fmt::format("{} {}: mean width per recorded tensor, gamma IBP / auto_LiRPA ({} and "
                                         "'ibp')\n",
                                         name, stem, patchedLayers ? sound : "ibp");
        for (std::size_t i = 0; i < soundLayers.size(); ++i) {
          const json &e = soundLayers[i];
          std::string tensor = e["onnx_tensor"].get<std::string>();
          std::string node = tensor.substr(0, tensor.rfind("_output_0"));
          auto it = byName.find(node);
          if (it == byName.end()) {
            layers += fmt::format("  {:<40} no gamma value named {}\n", e["role"].get<std::string>(), node);
            continue;
          }
          double refSound = meanWidth(e["lower"].get<std::vector<double>>(), e["upper"].get<std::vector<double>>());
          double refIbp = meanWidth(ibpLayers[i]["lower"].get<std::vector<double>>(),
                                    ibpLayers[i]["upper"].get<std::vector<double>>());
          double mine = it->second.meanWidth;
          CHECK(mine <= refSound * (1 + 1e-4) + 1e-6);
          layers += fmt::format("  {:<40} {:>11.5g} {:>11.5g} {:>11.5g}  ratio {:.3f} / {:.3f}\n",
                                e["role"].get<std::string>(), mine, refSound, refIbp, mine / refSound, mine / refIbp);
        }
        MESSAGE(layers);
      }

      // CROWN, where gamma can run it on these graphs.
      std::string crownText = "-";
      if (crownError.empty() && std::chrono::steady_clock::now() < crownDeadline) {
        bounds::Options crown;
        crown.method = bounds::Method::Crown;
        crown.deadline = crownDeadline;
        try {
          bounds::Result c = bounds::computeBounds(*m.network, box, &spec, crown);
          double w = meanWidth(c.rowLower, c.rowUpper);
          double rw = meanWidth((*crownC)["lower"].get<std::vector<double>>(), (*crownC)["upper"].get<std::vector<double>>());
          crownText = fmt::format("{:.4g} ({:.3f})", *std::min_element(c.rowLower.begin(), c.rowLower.end()), w / rw);
          sumRatioCrown += w / rw;
          ++crownRuns;
          std::vector<double> centre(box.lower.size());
          for (std::size_t i = 0; i < centre.size(); ++i)
            centre[i] = (box.lower[i] + box.upper[i]) / 2;
          std::vector<double> v = applySpec(spec, evaluateFlat(*m.graph, centre));
          for (std::size_t k = 0; k < v.size(); ++k)
            CHECK((v[k] >= c.rowLower[k] && v[k] <= c.rowUpper[k]));
        } catch (const InputError &e) {
          crownError = e.what(); // an op CROWN cannot bound: the same for every instance
        } catch (const bounds::Timeout &) {
          crownText = "timeout";
        }
      }

      auto minOf = [](const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); };
      double w = meanWidth(withC.rowLower, withC.rowUpper);
      double ws = meanWidth((*soundC)["lower"].get<std::vector<double>>(), (*soundC)["upper"].get<std::vector<double>>());
      double wi = meanWidth((*ibpC)["lower"].get<std::vector<double>>(), (*ibpC)["upper"].get<std::vector<double>>());
      sumRatioSound += w / ws;
      sumRatioIbp += w / wi;
      ++instances;
      table += fmt::format("  {:<18} {:>12.4g} {:>12.4g} {:>12.4g} {:>9.3f} {:>9.3f} {:>12} {:>12.4g}\n", stem,
                           minOf(withC.rowLower), minOf((*soundC)["lower"].get<std::vector<double>>()),
                           minOf((*ibpC)["lower"].get<std::vector<double>>()), w / ws, w / wi, crownText,
                           minOf((*crownC)["lower"].get<std::vector<double>>()));
    }
    CHECK(instances == 10);
    table += fmt::format("  mean width ratio gamma IBP / auto_LiRPA: {:.3f} against the sound reference, {:.3f} "
                         "against 'ibp'; bounds looser than the sound reference beyond tolerance: {}\n",
                         sumRatioSound / instances, sumRatioIbp / instances, looser);
    if (crownRuns)
      table += fmt::format("  CROWN mean width ratio gamma / auto_LiRPA 'pure': {:.3f} over {} instances\n",
                           sumRatioCrown / crownRuns, crownRuns);
    if (!crownError.empty())
      table += "  CROWN does not run: " + crownError + "\n";
    MESSAGE(table);
  }
  MESSAGE(fmt::format("{:.2f} s", seconds(start)));
}

} // TEST_SUITE
