#include "frontend/demo/demo_model.h"

#include "ir/interp/interpreter.h"
#include "ir/verifier.h"

#include <cmath>
#include <fmt/format.h>

namespace gm::demo {

namespace {

// splitmix64: fixed arithmetic, so the weights are the same on every machine
// and compiler (std:: distributions are not).
struct Rng {
  std::uint64_t state;
  double uniform() { // in [-1, 1)
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
  }
};

ValueId dense(Graph &g, Rng &rng, ValueId x, std::int64_t in, std::int64_t out, const std::string &name) {
  std::vector<double> w(static_cast<std::size_t>(in * out)), b(static_cast<std::size_t>(out));
  double scale = std::sqrt(6.0 / static_cast<double>(in + out)); // Glorot-uniform
  for (double &v : w)
    v = scale * rng.uniform();
  for (double &v : b)
    v = 0.1 * rng.uniform();
  ValueId wv = g.addConst(Constant::fromDoubles({DType::F32, {in, out}}, w), name + ".weight");
  ValueId bv = g.addConst(Constant::fromDoubles({DType::F32, {out}}, b), name + ".bias");
  ValueId y = g.add1(Op::MatMul, {x, wv}, {}, name + ".matmul");
  return g.add1(Op::Add, {y, bv}, {}, name + ".add");
}

} // namespace

Graph buildModel() {
  Graph g;
  g.name = kModelName;
  Rng rng{20261124};
  ValueId x = g.addInput("X", {DType::F32, {1, 5}}, "X");
  ValueId h = g.add1(Op::Relu, {dense(g, rng, x, 5, 16, "fc1")}, {}, "relu1");
  h = g.add1(Op::Relu, {dense(g, rng, h, 16, 16, "fc2")}, {}, "relu2");
  g.setOutputs({dense(g, rng, h, 16, 5, "fc3")});
  verify(g, kModelName);
  return g;
}

std::string propertyText() {
  Graph g = buildModel();
  ref::Tensor origin{{1, 5}, std::vector<double>(5, 0.0)};
  std::vector<double> y = ref::evaluate(g, std::span(&origin, 1))[0].data;
  std::size_t label = 0;
  for (std::size_t j = 1; j < y.size(); ++j)
    if (y[j] > y[label])
      label = j;
  std::string text = fmt::format("; gamma demo: is output {} the largest everywhere in the box?\n", label);
  for (int i = 0; i < 5; ++i)
    text += fmt::format("(declare-const X_{} Real)\n", i);
  for (std::size_t j = 0; j < y.size(); ++j)
    text += fmt::format("(declare-const Y_{} Real)\n", j);
  for (int i = 0; i < 5; ++i)
    text += fmt::format("(assert (<= X_{0} {1}))\n(assert (>= X_{0} -{1}))\n", i, kEpsilon);
  text += "(assert (or\n";
  for (std::size_t j = 0; j < y.size(); ++j)
    if (j != label)
      text += fmt::format("  (and (>= Y_{} Y_{}))\n", j, label);
  return text + "))\n";
}

} // namespace gm::demo
