// Running a plan: the bound program of a plan file in the reference
// interpreter, and the verdict of a property from its bounds, with the same
// rules and report as runtime/verify.h's direct path.
#pragma once

#include "frontend/vnnlib/vnnlib.h"
#include "ir/graph.h"
#include "runtime/plan_file.h"
#include "runtime/verify.h"

#include <string>
#include <vector>

namespace gm {

struct LoadedPlan {
  std::string path;
  PlanHeader header;
  Graph program;
};

// Reads the plan, refuses a changed model file (its hash) and parses the
// bound program (which re-checks every weight reference's hash). The CPU
// features are the caller's to check (checkPlanFeatures, with
// codegen/cpu_features.h, LLVM-free): the runtime does not depend on codegen.
LoadedPlan loadPlan(const std::string &path);

// Refuses a plan whose code needs features this CPU lacks; `missing` is
// what codegen::missingHostFeatures (cpu_features.h) reports for the plan's
// target.
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
