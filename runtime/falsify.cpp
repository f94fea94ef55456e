#include "runtime/falsify.h"

#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "runtime/rng.h"

#include <chrono>
#include <cmath>

namespace gm {

void checkPropertyFits(const Graph &graph, const vnnlib::Property &property) {
  std::vector<ValueId> inputs = graph.inputs();
  if (inputs.size() != 1)
    fail(property.path, "the model has {} inputs; properties need exactly one", inputs.size());
  std::int64_t in = graph.type(inputs[0]).numElements();
  std::int64_t out = 0;
  for (ValueId v : graph.outputs())
    out += graph.type(v).numElements();
  if (static_cast<std::int64_t>(property.num_inputs) != in)
    fail(property.path, "declares {} inputs X_i but the model input {} has {} elements", property.num_inputs,
         typeString(graph.type(inputs[0])), in);
  if (static_cast<std::int64_t>(property.num_outputs) != out)
    fail(property.path, "declares {} outputs Y_j but the model has {} output elements", property.num_outputs, out);
}

std::vector<double> evaluateFlat(const Graph &graph, const std::vector<double> &input) {
  ref::Tensor x{graph.type(graph.inputs().at(0)).shape, input};
  std::vector<double> flat;
  for (const ref::Tensor &t : ref::evaluate(graph, std::span(&x, 1)))
    flat.insert(flat.end(), t.data.begin(), t.data.end());
  return flat;
}

bool violates(const vnnlib::Disjunct &d, const std::vector<double> &x, const std::vector<double> &y) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!(x[i] >= d.lower[i] && x[i] <= d.upper[i]))
      return false;
  for (const vnnlib::Row &row : d.rows) {
    // fma keeps each step correctly rounded, so a one-term row (a written
    // bound such as 3*X_0 <= 1) gets the exact sign; longer rows are checked
    // in float64, the standard the witness check is held to.
    double sum = row.constant;
    for (auto [j, c] : row.y)
      sum = std::fma(c, y[j], sum);
    for (auto [i, c] : row.x)
      sum = std::fma(c, x[i], sum);
    if (!(row.strict ? sum < 0.0 : sum <= 0.0))
      return false;
  }
  return true;
}

std::optional<Counterexample> falsifyBySampling(const Graph &graph, const vnnlib::Property &property,
                                                const FalsifyOptions &options) {
  checkPropertyFits(graph, property);
  Rng rng{options.seed};
  // Disjuncts over the same box (robustness properties: one per class) share
  // every evaluated point.
  std::vector<bool> done(property.disjuncts.size(), false);
  for (std::size_t k = 0; k < property.disjuncts.size(); ++k) {
    if (done[k])
      continue;
    const vnnlib::Disjunct &d = property.disjuncts[k];
    std::vector<std::size_t> group;
    for (std::size_t j = k; j < property.disjuncts.size(); ++j)
      if (!done[j] && property.disjuncts[j].lower == d.lower && property.disjuncts[j].upper == d.upper) {
        group.push_back(j);
        done[j] = true;
      }
    std::size_t n = d.lower.size();
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isfinite(d.lower[i]) || !std::isfinite(d.upper[i]))
        fail(property.path, "input X_{} is unbounded; gamma needs a box", i);
    auto tryPoint = [&](const std::vector<double> &x) -> std::optional<Counterexample> {
      std::vector<double> y = evaluateFlat(graph, x);
      for (std::size_t j : group)
        if (violates(property.disjuncts[j], x, y))
          return Counterexample{j, x, y};
      return std::nullopt;
    };
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i)
      x[i] = d.lower[i] + 0.5 * (d.upper[i] - d.lower[i]);
    if (auto c = tryPoint(x))
      return c;
    if (n <= 12)
      for (std::uint64_t mask = 0; mask < (std::uint64_t(1) << n); ++mask) {
        for (std::size_t i = 0; i < n; ++i)
          x[i] = (mask >> i) & 1 ? d.upper[i] : d.lower[i];
        if (auto c = tryPoint(x))
          return c;
      }
    for (std::size_t s = 0; s < options.samples; ++s) {
      if (options.deadline && std::chrono::steady_clock::now() > *options.deadline)
        return std::nullopt;
      for (std::size_t i = 0; i < n; ++i)
        x[i] = std::min(d.upper[i], d.lower[i] + rng.unit() * (d.upper[i] - d.lower[i]));
      if (auto c = tryPoint(x))
        return c;
    }
  }
  return std::nullopt;
}

} // namespace gm
