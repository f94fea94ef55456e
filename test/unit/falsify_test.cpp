#include "frontend/demo/demo_model.h"
#include "frontend/vnnlib/vnnlib.h"
#include "runtime/falsify.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace gm;

TEST_SUITE("falsify") {

TEST_CASE("a point on the boundary of a strict row is not a counterexample") {
  vnnlib::Property p = vnnlib::parse("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
                                     "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (< Y_0 2))\n",
                                     "s.vnnlib");
  const vnnlib::Disjunct &d = p.disjuncts.at(0);
  CHECK(violates(d, {0.5}, {1.0}));
  CHECK_FALSE(violates(d, {0.5}, {2.0})); // Y_0 = 2 is outside `Y_0 < 2`
  CHECK_FALSE(violates(d, {1.5}, {1.0})); // outside the box
}

TEST_CASE("an exactly written bound is checked exactly, not against the widened box") {
  vnnlib::Property p = vnnlib::parse("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
                                     "(assert (>= X_0 0))\n(assert (<= (* 3 X_0) 1))\n(assert (<= Y_0 5))\n",
                                     "w.vnnlib");
  const vnnlib::Disjunct &d = p.disjuncts.at(0);
  double corner = d.upper[0]; // just above 1/3: inside the box, outside 3*X_0 <= 1
  CHECK_FALSE(violates(d, {corner}, {0.0}));
  CHECK(violates(d, {0.25}, {0.0}));
}

TEST_CASE("sampling finds a counterexample the demo network really has, and checks it") {
  Graph g = demo::buildModel();
  std::vector<double> y0 = evaluateFlat(g, std::vector<double>(5, 0.0));
  // Counterexample region: Y_0 >= its value at the origin minus 1, which the origin satisfies.
  std::string text;
  for (int i = 0; i < 5; ++i)
    text += fmt::format("(declare-const X_{0} Real)\n(assert (>= X_{0} -0.01))\n(assert (<= X_{0} 0.01))\n", i);
  for (int j = 0; j < 5; ++j)
    text += fmt::format("(declare-const Y_{} Real)\n", j);
  text += fmt::format("(assert (>= Y_0 {}))\n", y0[0] - 1.0);
  auto cex = falsifyBySampling(g, vnnlib::parse(text, "d.vnnlib"), {});
  REQUIRE(cex.has_value());
  CHECK(cex->output.at(0) >= y0[0] - 1.0);
  CHECK(evaluateFlat(g, cex->input) == cex->output);
}

} // TEST_SUITE
