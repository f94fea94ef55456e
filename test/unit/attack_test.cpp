// The gradient attack: finds a counterexample that sampling misses, never
// returns one for a true property, stops at the deadline, and is deterministic.
#include "frontend/vnnlib/vnnlib.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/attack.h"
#include "runtime/falsify.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

using namespace gm;

namespace {

ValueId constant(Graph &g, Shape shape, const std::vector<double> &values) {
  return g.addConst(Constant::fromDoubles(TensorType{DType::F32, std::move(shape)}, values));
}

// y = 1 - 10 * |x - p|_1 as a two-layer ReLU network: hidden units
// relu(x_i - p_i) and relu(p_i - x_i). Its maximum 1 is at p, inside the box
// but neither at the centre nor at a corner.
const std::vector<double> kPeak = {0.3, -0.55, 0.7, 0.1, -0.2};

Graph bumpNetwork() {
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {1, 5}});
  std::vector<double> w(5 * 10, 0.0), b(10);
  for (int i = 0; i < 5; ++i) {
    w[i * 10 + i] = 1.0;
    w[i * 10 + 5 + i] = -1.0;
    b[i] = -kPeak[i];
    b[5 + i] = kPeak[i];
  }
  ValueId h = g.add1(Op::Relu, {g.add1(Op::Add, {g.add1(Op::MatMul, {x, constant(g, {5, 10}, w)}), constant(g, {10}, b)})});
  ValueId y = g.add1(Op::Add, {g.add1(Op::MatMul, {h, constant(g, {10, 1}, std::vector<double>(10, -10.0))}),
                               constant(g, {1}, {1.0})});
  g.setOutputs({y});
  return g;
}

// Counterexample region: the box [-1,1]^5 and each of `outputRows` (a
// disjunction when there are several).
vnnlib::Property bumpProperty(const std::vector<std::string> &outputRows) {
  std::string text;
  for (int i = 0; i < 5; ++i)
    text += fmt::format("(declare-const X_{0} Real)\n(assert (>= X_{0} -1))\n(assert (<= X_{0} 1))\n", i);
  text += "(declare-const Y_0 Real)\n";
  if (outputRows.size() == 1)
    text += fmt::format("(assert {})\n", outputRows[0]);
  else {
    text += "(assert (or";
    for (const std::string &row : outputRows)
      text += " (and " + row + ")";
    text += "))\n";
  }
  return vnnlib::parse(text, "bump.vnnlib");
}

} // namespace

TEST_SUITE("attack") {

TEST_CASE("finds a narrow violating region that sampling misses, and checks it") {
  Graph g = bumpNetwork();
  // Y_0 >= 0.95 holds only where |x - p|_1 <= 0.005: about 1e-12 of the box.
  vnnlib::Property p = bumpProperty({"(>= Y_0 0.95)"});
  CHECK_FALSE(falsifyBySampling(g, p, {}).has_value());

  std::optional<Counterexample> cex = attackProperty(g, p, {});
  REQUIRE(cex.has_value());
  CHECK(cex->disjunct == 0);
  CHECK(cex->output == evaluateFlat(g, cex->input));
  CHECK(cex->output.at(0) >= 0.95);
  CHECK(violates(p.disjuncts[0], cex->input, cex->output));
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(std::fabs(cex->input[i] - kPeak[i]) <= 0.005);
}

TEST_CASE("returns nothing for a property that holds") {
  Graph g = bumpNetwork();
  // y <= 1 everywhere, so Y_0 >= 1.01 has no witness.
  CHECK_FALSE(attackProperty(g, bumpProperty({"(>= Y_0 1.01)"}), {}).has_value());
  // The maximum itself with a strict row: y < 1 would hold, y > 1 never does.
  CHECK_FALSE(attackProperty(g, bumpProperty({"(> Y_0 1)"}), {}).has_value());
}

TEST_CASE("searches every disjunct and reports the one violated") {
  Graph g = bumpNetwork();
  std::optional<Counterexample> cex = attackProperty(g, bumpProperty({"(>= Y_0 2)", "(>= Y_0 0.95)"}), {});
  REQUIRE(cex.has_value());
  CHECK(cex->disjunct == 1);
}

TEST_CASE("stops at a deadline in the past") {
  Graph g = bumpNetwork();
  AttackOptions options;
  options.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  CHECK_FALSE(attackProperty(g, bumpProperty({"(>= Y_0 0.95)"}), options).has_value());
}

TEST_CASE("is deterministic for a seed") {
  Graph g = bumpNetwork();
  vnnlib::Property p = bumpProperty({"(>= Y_0 0.95)"});
  AttackOptions options;
  options.seed = 7;
  std::optional<Counterexample> a = attackProperty(g, p, options), b = attackProperty(g, p, options);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->input == b->input);
}

TEST_CASE("a box open on one side is searched next to its finite side") {
  // y = relu(x - 3): Y_0 >= 1 needs x >= 4, and the box only says x <= 10.
  Graph g;
  ValueId x = g.addInput("x", {DType::F32, {1}});
  g.setOutputs({g.add1(Op::Relu, {g.add1(Op::Sub, {x, constant(g, {1}, {3.0})})})});
  vnnlib::Property p = vnnlib::parse(
      "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 10))\n(assert (>= Y_0 1))\n", "open.vnnlib");
  std::optional<Counterexample> cex = attackProperty(g, p, {});
  REQUIRE(cex.has_value());
  CHECK(cex->input[0] >= 4.0);
  CHECK(cex->input[0] <= 10.0);
}

TEST_CASE("a property that does not fit the model is an input error") {
  Graph g = bumpNetwork();
  vnnlib::Property p = vnnlib::parse("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= Y_0 1))\n",
                                     "small.vnnlib");
  CHECK_THROWS_AS(attackProperty(g, p, {}), InputError);
}

} // TEST_SUITE
