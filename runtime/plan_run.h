// Running a plan: the bound program of a plan file, its fused ops by the
// plan's object code (runtime/object_code.h, runtime/program_runner.h) and
// the rest by the reference interpreter's ops, and the verdict of a property
// from its bounds, with the same rules and report as runtime/verify.h's
// direct path.
#pragma once

#include "frontend/vnnlib/vnnlib.h"
#include "ir/graph.h"
#include "runtime/object_code.h"
#include "runtime/plan_file.h"
#include "runtime/program_runner.h"
#include "runtime/verify.h"

#include <memory>

#include <string>
#include <vector>

namespace gm {

struct LoadedPlan {
  std::string path;
  PlanHeader header;
  // Held by pointer: the runner refers to the program and the code.
  std::shared_ptr<const Graph> program;
  std::shared_ptr<const ObjectCode> code; // null when the program is interpreted
  std::shared_ptr<const ProgramRunner> runner;
  // "compiled" when the object code runs, else why not ("interpreted: ...").
  std::string execution;
};

// Reads the plan, refuses a changed model file (its hash), parses the bound
// program (which re-checks every weight reference's hash) and links the
// object code when this CPU can run it. A CPU lacking the target's features
// is not refused here (the program is then interpreted); gamma-run refuses
// it with checkPlanFeatures.
// `interpret` leaves the object code unlinked (the oracle tests compare).
LoadedPlan loadPlan(const std::string &path, bool interpret = false);

// The features of the plan's target this CPU lacks. A pinned target names
// its features; a host plan recorded the vector features of the CPU it was
// compiled on.
std::vector<std::string> missingPlanFeatures(const PlanHeader &header);

// Refuses a plan whose code needs features this CPU lacks; `missing` is
// what missingPlanFeatures reports.
void checkPlanFeatures(const LoadedPlan &plan, const std::vector<std::string> &missing);

// One run of the program over `box` (as given: no widening here) with the
// spec's rows padded to the plan's row count. A spec with more rows than the
// plan takes, or with rows over the input, is an InputError saying the fix.
// Outputs, and the spec's rows (spec.numRows() of them).
bounds::Result runPlan(const LoadedPlan &plan, const bounds::Box &box, const bounds::Spec *spec);

// verifyProperty with the plan's bounds. options.method must be the plan's
// (the caller names the method in the report from the plan). The
// counterexample search, when the bounds leave a disjunct open, needs the
// network: it is loaded from the plan's model path only then.
VerifyReport verifyWithPlan(const LoadedPlan &plan, const vnnlib::Property &property, const VerifyOptions &options);

} // namespace gm
