#include "runtime/verify.h"

#include "bounds/bounds.h"
#include "ir/error.h"
#include "runtime/attack.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace gm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kInf = std::numeric_limits<double>::infinity();

// The box as the bound methods see it: a VNNLIB bound is the nearest double
// of a decimal, which may lie half an ulp inside it, so widen by one ulp
// (docs/SOUNDNESS.md, "Input boxes").
bounds::Box widened(const vnnlib::Disjunct &d) {
  bounds::Box box{d.lower, d.upper};
  for (std::size_t i = 0; i < box.lower.size(); ++i) {
    box.lower[i] = std::nextafter(box.lower[i], -kInf);
    box.upper[i] = std::nextafter(box.upper[i], kInf);
  }
  return box;
}

} // namespace

VerifyReport verifyProperty(const Graph &graph, const vnnlib::Property &property, const VerifyOptions &options) {
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> deadline;
  if (options.timeoutSeconds > 0)
    deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeoutSeconds));
  checkPropertyFits(graph, property);
  for (const vnnlib::Disjunct &d : property.disjuncts)
    for (std::size_t i = 0; i < d.lower.size(); ++i)
      if (!std::isfinite(d.lower[i]) || !std::isfinite(d.upper[i]))
        fail(property.path, "input X_{} is unbounded; gamma needs a box", i);

  VerifyReport report = openReport(property, std::string(bounds::methodName(options.method)));
  bounds::Options bopts;
  bopts.method = options.method;
  bopts.intersectIbp = options.intersectIbp;
  bopts.deadline = deadline;
  bool timedOut = false;
  bounds::Network network(graph);
  try {
    boundDisjuncts(report, property, std::numeric_limits<std::size_t>::max(),
                   [&](const bounds::Box &box, const bounds::Spec &spec) {
                     return bounds::computeBounds(network, box, &spec, bopts);
                   });
  } catch (const bounds::Timeout &) {
    timedOut = true;
  }

  return decideAfterBounds(std::move(report), property, [&]() -> const Graph & { return graph; }, options, start,
                           deadline, timedOut);
}

VerifyReport openReport(const vnnlib::Property &property, std::string method) {
  VerifyReport report;
  report.method = std::move(method);
  report.outputLower.assign(property.num_outputs, kInf);
  report.outputUpper.assign(property.num_outputs, -kInf);
  report.disjuncts.resize(property.disjuncts.size());
  for (std::size_t k = 0; k < property.disjuncts.size(); ++k)
    for (const vnnlib::Row &row : property.disjuncts[k].rows)
      report.disjuncts[k].rows.push_back({row.y, row.x, row.constant, row.strict, -kInf, kInf});
  return report;
}

void boundDisjuncts(VerifyReport &report, const vnnlib::Property &property, std::size_t maxRows,
                    const DisjunctBound &bound) {
  std::size_t nOut = property.num_outputs, nIn = property.num_inputs;
  std::vector<bool> done(property.disjuncts.size(), false);
  for (std::size_t k = 0; k < property.disjuncts.size(); ++k) {
    if (done[k])
      continue;
    // Every disjunct with the same box joins this call, as many as fit.
    const vnnlib::Disjunct &d = property.disjuncts[k];
    std::vector<std::size_t> group;
    std::size_t groupRows = 0;
    for (std::size_t j = k; j < property.disjuncts.size(); ++j) {
      const vnnlib::Disjunct &e = property.disjuncts[j];
      if (done[j] || e.lower != d.lower || e.upper != d.upper)
        continue;
      if (!group.empty() && groupRows + e.rows.size() > maxRows)
        continue; // the next call for this box takes it
      group.push_back(j);
      groupRows += e.rows.size();
    }
    bounds::Spec spec;
    spec.numOutputs = nOut;
    spec.numInputs = nIn;
    bool anyX = false;
    for (std::size_t j : group)
      for (const vnnlib::Row &row : property.disjuncts[j].rows)
        anyX = anyX || !row.x.empty();
    for (std::size_t j : group)
      for (const vnnlib::Row &row : property.disjuncts[j].rows) {
        std::size_t r = spec.constants.size();
        spec.constants.push_back(row.constant);
        spec.outputCoeffs.resize((r + 1) * nOut, 0.0);
        for (auto [i, c] : row.y)
          spec.outputCoeffs[r * nOut + i] += c;
        if (anyX) {
          spec.inputCoeffs.resize((r + 1) * nIn, 0.0);
          for (auto [i, c] : row.x)
            spec.inputCoeffs[r * nIn + i] += c;
        }
      }
    bool empty = false;
    for (std::size_t i = 0; i < nIn; ++i)
      empty = empty || d.lower[i] > d.upper[i];
    bounds::Result res;
    if (!empty)
      res = bound(widened(d), spec);
    std::size_t r = 0;
    for (std::size_t j : group) {
      DisjunctReport &dr = report.disjuncts[j];
      bool refuted = empty;
      for (RowReport &row : dr.rows) {
        if (!empty) {
          row.lower = res.rowLower[r];
          row.upper = res.rowUpper[r];
        }
        ++r;
        refuted = refuted || row.lower > 0;
      }
      dr.status = refuted ? "refuted" : "open";
      if (!empty) {
        dr.outputLower = res.lower;
        dr.outputUpper = res.upper;
        for (std::size_t i = 0; i < nOut; ++i) {
          report.outputLower[i] = std::min(report.outputLower[i], res.lower[i]);
          report.outputUpper[i] = std::max(report.outputUpper[i], res.upper[i]);
        }
      }
      done[j] = true;
    }
  }
}

VerifyReport decideAfterBounds(VerifyReport report, const vnnlib::Property &property,
                               const std::function<const Graph &()> &graph, const VerifyOptions &options,
                               Clock::time_point start, std::optional<Clock::time_point> deadline, bool timedOut) {
  auto finish = [&](std::string verdict) {
    report.verdict = std::move(verdict);
    report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return report;
  };
  bool allRefuted = !timedOut;
  for (const DisjunctReport &d : report.disjuncts)
    allRefuted = allRefuted && d.status == "refuted";
  if (allRefuted)
    return finish("unsat");

  // Search only the disjuncts the bounds could not refute.
  vnnlib::Property open = property;
  std::vector<std::size_t> openIndex;
  open.disjuncts.clear();
  for (std::size_t k = 0; k < property.disjuncts.size(); ++k)
    if (report.disjuncts[k].status != "refuted") {
      open.disjuncts.push_back(property.disjuncts[k]);
      openIndex.push_back(k);
    }
  Clock::time_point searchEnd =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.searchSeconds));
  if (deadline && *deadline < searchEnd)
    searchEnd = *deadline;
  const Graph &network = graph();
  FalsifyOptions sampling;
  sampling.samples = options.samples;
  sampling.seed = options.seed;
  sampling.deadline = searchEnd;
  std::optional<Counterexample> cex = falsifyBySampling(network, open, sampling);
  if (!cex && options.attack && Clock::now() < searchEnd) {
    AttackOptions attack;
    attack.seed = options.seed;
    attack.restarts = 1000; // cheap per restart; the search budget ends it
    attack.deadline = searchEnd;
    cex = attackProperty(network, open, attack);
  }
  if (cex) {
    cex->disjunct = openIndex[cex->disjunct];
    report.disjuncts[cex->disjunct].status = "violated";
    report.counterexample = cex;
    return finish("sat");
  }
  if (timedOut || (deadline && Clock::now() > *deadline))
    return finish("timeout");
  return finish("unknown");
}

vnnlib::Property robustnessProperty(const std::vector<double> &input, double epsilon, std::size_t label,
                                    std::size_t numOutputs, double clipLower, double clipUpper) {
  if (!(epsilon >= 0) || !std::isfinite(epsilon))
    fail("--epsilon", "must be a finite number >= 0, got {}", epsilon);
  if (label >= numOutputs)
    fail("--label", "{} is not an output index (the model has {} outputs)", label, numOutputs);
  if (!(clipLower <= clipUpper))
    fail("--clip", "lower {} is above upper {}", clipLower, clipUpper);
  vnnlib::Property p;
  p.path = "<epsilon ball>";
  p.num_inputs = input.size();
  p.num_outputs = numOutputs;
  vnnlib::Disjunct base;
  for (double x : input) {
    // Outward: the ball's real bounds x - eps, x + eps rounded away from x.
    base.lower.push_back(std::max(clipLower, std::nextafter(x - epsilon, -kInf)));
    base.upper.push_back(std::min(clipUpper, std::nextafter(x + epsilon, kInf)));
  }
  for (std::size_t j = 0; j < numOutputs; ++j) {
    if (j == label)
      continue;
    vnnlib::Disjunct d = base;
    vnnlib::Row row;
    // Y_label - Y_j <= 0: class j scores at least as high as the label.
    if (label < j)
      row.y = {{static_cast<std::uint32_t>(label), 1.0}, {static_cast<std::uint32_t>(j), -1.0}};
    else
      row.y = {{static_cast<std::uint32_t>(j), -1.0}, {static_cast<std::uint32_t>(label), 1.0}};
    d.rows.push_back(row);
    p.disjuncts.push_back(std::move(d));
  }
  return p;
}

std::string vnncompResult(const VerifyReport &report) {
  if (report.verdict != "sat" || !report.counterexample)
    return report.verdict + "\n";
  std::string s = "sat\n(";
  const Counterexample &c = *report.counterexample;
  bool first = true;
  auto item = [&](char var, std::size_t i, double v) {
    s += fmt::format("{}({}_{} {:.17g})", first ? "" : "\n ", var, i, v);
    first = false;
  };
  for (std::size_t i = 0; i < c.input.size(); ++i)
    item('X', i, c.input[i]);
  for (std::size_t i = 0; i < c.output.size(); ++i)
    item('Y', i, c.output[i]);
  return s + ")\n";
}

} // namespace gm
