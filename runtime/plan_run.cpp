#include "runtime/plan_run.h"

#include "codegen/cpu_features.h"
#include "frontend/demo/demo_model.h"
#include "frontend/model_loader.h"
#include "ir/error.h"
#include "ir/text.h"
#include "runtime/attack.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace gm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string recompileHint(const LoadedPlan &plan, std::size_t rows) {
  return fmt::format("recompile with gammac {} --method {} --emit plan --spec-rows {}", plan.header.modelPath,
                     plan.header.method, rows);
}

} // namespace

std::vector<std::string> missingPlanFeatures(const PlanHeader &h) {
  if (h.target != "host")
    return codegen::missingHostFeatures(h.target);
  std::vector<std::string> missing;
  for (const std::string &f : h.requiredFeatures)
    if (!codegen::hostHasFeature(f))
      missing.push_back(f);
  return missing;
}

LoadedPlan loadPlan(const std::string &path, bool interpret) {
  bounds::registerProgramRules();
  PlanFile file = readPlan(path);
  LoadedPlan plan{path, file.header, {}, {}, {}, {}};
  const PlanHeader &h = plan.header;
  if (h.modelPath != demo::kModelName) {
    std::string now = fileHash(h.modelPath);
    if (now != h.modelHash)
      fail(path, "the model file {} changed since the plan was compiled (xxh3 {}, plan has {}): recompile with "
                 "gammac --emit plan",
           h.modelPath, now, h.modelHash);
  }
  auto program = std::make_shared<Graph>(parseGraph(file.boundIr, path + ":ir"));
  plan.program = program;
  std::size_t wantInputs = h.specRows > 0 ? 4 : 2, wantOutputs = h.specRows > 0 ? 4 : 2;
  if (program->inputs().size() != wantInputs || program->outputs().size() != wantOutputs)
    fail(path, "the bound program has {} inputs and {} outputs, a plan with {} spec rows needs {} and {}",
         program->inputs().size(), program->outputs().size(), h.specRows, wantInputs, wantOutputs);

  if (h.kernels != "object" || file.object.empty())
    plan.execution = "interpreted: the plan holds no object code";
  else if (interpret)
    plan.execution = "interpreted: asked for";
  else if (!ObjectCode::supportedHost())
    plan.execution = "interpreted: object code runs on x86-64 hosts only";
  else if (std::vector<std::string> missing = missingPlanFeatures(h); !missing.empty())
    plan.execution = fmt::format("interpreted: this CPU lacks {}", fmt::join(missing, ", "));
  else {
    plan.code = std::make_shared<ObjectCode>(ObjectCode::link(file.object, path + ":object"));
    plan.execution = "compiled";
  }
  plan.runner = std::make_shared<ProgramRunner>(*program, plan.code.get(), path, h.arenaBytes);
  return plan;
}

void checkPlanFeatures(const LoadedPlan &plan, const std::vector<std::string> &missing) {
  if (!missing.empty())
    fail(plan.path, "compiled for {}, this CPU lacks {}: recompile with gammac --emit plan --target host",
         plan.header.target, fmt::join(missing, ", "));
}

bounds::Result runPlan(const LoadedPlan &plan, const bounds::Box &box, const bounds::Spec *spec) {
  const PlanHeader &h = plan.header;
  std::int64_t n = static_cast<std::int64_t>(box.lower.size());
  if (n != h.inputs)
    fail(plan.path, "the box has {} inputs, the plan's network {}", n, h.inputs);
  std::vector<std::span<const double>> inputs{box.lower, box.upper};
  std::size_t rows = spec ? spec->numRows() : 0;
  if (spec && !spec->inputCoeffs.empty())
    fail(plan.path, "the property has rows over the input (X_i); plans take rows over the outputs only");
  if (static_cast<std::int64_t>(rows) > h.specRows)
    fail(plan.path, "{} spec rows needed, the plan takes {}: {}", rows, h.specRows, recompileHint(plan, rows));
  std::vector<double> C, d;
  if (h.specRows > 0) {
    std::size_t outs = static_cast<std::size_t>(h.outputs), cap = static_cast<std::size_t>(h.specRows);
    C.assign(cap * outs, 0.0);
    d.assign(cap, 0.0);
    if (spec) {
      std::copy(spec->outputCoeffs.begin(), spec->outputCoeffs.end(), C.begin());
      std::copy(spec->constants.begin(), spec->constants.end(), d.begin());
    }
    inputs.push_back(C);
    inputs.push_back(d);
  }
  std::vector<std::vector<double>> out;
  try {
    out = plan.runner->run(inputs);
  } catch (const InputError &e) {
    fail(plan.path, "{}", e.what());
  }
  bounds::Result r;
  r.lower = std::move(out[0]);
  r.upper = std::move(out[1]);
  if (rows > 0) {
    r.rowLower.assign(out[2].begin(), out[2].begin() + static_cast<std::ptrdiff_t>(rows));
    r.rowUpper.assign(out[3].begin(), out[3].begin() + static_cast<std::ptrdiff_t>(rows));
  }
  return r;
}

VerifyReport verifyWithPlan(const LoadedPlan &plan, const vnnlib::Property &property, const VerifyOptions &options) {
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> deadline;
  if (options.timeoutSeconds > 0)
    deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeoutSeconds));
  const PlanHeader &h = plan.header;
  if (static_cast<std::int64_t>(property.num_inputs) != h.inputs ||
      static_cast<std::int64_t>(property.num_outputs) != h.outputs)
    fail(property.path, "declares {} inputs and {} outputs, the plan's network has {} and {}", property.num_inputs,
         property.num_outputs, h.inputs, h.outputs);
  for (const vnnlib::Disjunct &d : property.disjuncts) {
    for (std::size_t i = 0; i < d.lower.size(); ++i)
      if (!std::isfinite(d.lower[i]) || !std::isfinite(d.upper[i]))
        fail(property.path, "input X_{} is unbounded; gamma needs a box", i);
    for (const vnnlib::Row &row : d.rows)
      if (!row.x.empty())
        fail(property.path, "a row over the input (X_i): plans take rows over the outputs only");
    if (static_cast<std::int64_t>(d.rows.size()) > h.specRows)
      fail(property.path, "a disjunct has {} rows, the plan {} takes {}: {}", d.rows.size(), plan.path, h.specRows,
           recompileHint(plan, d.rows.size()));
  }

  VerifyReport report = openReport(property, h.method);
  boundDisjuncts(report, property, static_cast<std::size_t>(h.specRows),
                 [&](const bounds::Box &box, const bounds::Spec &spec) { return runPlan(plan, box, &spec); });

  // The direct path's search over the open disjuncts; it runs the network
  // itself, so the model is loaded only if a search happens.
  std::optional<Graph> network;
  auto graph = [&]() -> const Graph & {
    if (!network)
      network = h.modelPath == demo::kModelName ? demo::buildModel() : loadModel(h.modelPath);
    return *network;
  };
  return decideAfterBounds(std::move(report), property, graph, options, start, deadline, false);
}

} // namespace gm
