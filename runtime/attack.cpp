// Projected signed-gradient descent on the margin  max_r row_r(x, y(x))  of
// each disjunct; the margin is <= 0 exactly where every row holds.
//
// Why this shape of search (tried on the VNN-COMP ACAS Xu and MNIST sat
// instances):
// - The max makes one row active at a time; its gradient is the only one that
//   can lower the margin there, so a step costs one forward and one backward
//   pass.
// - Steps are signed (L-infinity steepest descent) and sized per coordinate as
//   a fraction of the box width, so inputs of very different ranges move at the
//   same relative pace.
// - A step is kept only if it lowers the margin; otherwise all steps halve and
//   the descent retries from the same point. Kept steps grow per coordinate
//   while the gradient's sign holds and halve where it flips (Rprop). ACAS Xu's
//   violating regions are thin slabs in one angle (a few hundredths of its range)
//   surrounded by plateaus where that coordinate's gradient is 0; fixed-pace
//   signed steps jump over them, adaptive ones settle in.
// - Starts alternate between random vertices of the box (where L-infinity
//   attacks on image classifiers end up) and points whose coordinates are each
//   a bound, the centre or uniform (ACAS Xu witnesses mix all three).
#include "runtime/attack.h"

#include "ir/interp/gradient.h"
#include "runtime/rng.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace gm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kInf = std::numeric_limits<double>::infinity();

// The finite box the search moves in. VNNLIB may leave a side open; the only
// scale hint then is the finite side's magnitude, so the range reaches
// max(1, |side|) beyond it, and [-1, 1] when both sides are open.
struct Region {
  std::vector<double> lo, hi;
};

std::optional<Region> searchRegion(const vnnlib::Disjunct &d) {
  Region r{d.lower, d.upper};
  for (std::size_t i = 0; i < r.lo.size(); ++i) {
    double &l = r.lo[i], &u = r.hi[i];
    if (!(l <= u))
      return std::nullopt; // empty box: no counterexample in this disjunct
    bool finiteL = std::isfinite(l), finiteU = std::isfinite(u);
    if (finiteL && !finiteU)
      u = l + std::max(1.0, std::fabs(l));
    else if (!finiteL && finiteU)
      l = u - std::max(1.0, std::fabs(u));
    else if (!finiteL && !finiteU) {
      l = -1.0;
      u = 1.0;
    }
  }
  return r;
}

// The same arithmetic as violates(), so the margin's sign agrees with it.
double rowValue(const vnnlib::Row &row, const std::vector<double> &x, const std::vector<double> &y) {
  double sum = row.constant;
  for (auto [j, c] : row.y)
    sum = std::fma(c, y[j], sum);
  for (auto [i, c] : row.x)
    sum = std::fma(c, x[i], sum);
  return sum;
}

enum class Outcome { Found, NotFound, OutOfTime };

struct Search {
  const Graph &graph;
  const AttackOptions &options;
  ref::GradientEvaluator gradient;
  Shape shape;
  std::size_t numOutputs = 0;
  std::optional<Counterexample> found = {};

  bool expired() const { return options.deadline && Clock::now() >= *options.deadline; }
};

// The search state of one disjunct, kept across the rounds of restarts.
class DisjunctAttack {
public:
  DisjunctAttack(Search &search, const vnnlib::Disjunct &disjunct, std::size_t index, Region region)
      : s_(search), d_(disjunct), index_(index), region_(std::move(region)),
        rng_{search.options.seed ^ (0x632be59bd9b4e019ull * (index + 1))} {}

  double bestMargin() const { return bestMargin_; }

  // Restart 0 starts at the box centre; odd restarts at a random vertex; even
  // ones with each coordinate at a bound, the centre or uniform. Every fourth
  // takes a much finer first step: a coordinate at the centre may sit at the
  // edge of a thin slab that a quarter-width jump would leave for good.
  Outcome restart(int r) {
    std::vector<double> x(region_.lo.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      double t = 0.5;
      if (r > 0) {
        double kind = rng_.unit(), u = rng_.unit();
        if (r % 2 == 1)
          t = kind < 0.5 ? 0.0 : 1.0;
        else
          t = kind < 0.25 ? 0.0 : kind < 0.5 ? 1.0 : kind < 0.75 ? 0.5 : u;
      }
      x[i] = std::clamp(region_.lo[i] + t * (region_.hi[i] - region_.lo[i]), region_.lo[i], region_.hi[i]);
    }
    return descend(x, r % 4 == 2 ? 1.0 / 64 : 1.0 / 4);
  }

  // The best point over all restarts, once more with fine steps.
  Outcome refine() {
    if (best_.empty() || !std::isfinite(bestMargin_))
      return Outcome::NotFound;
    std::vector<double> x = best_;
    return descend(x, 1.0 / 64);
  }

private:
  struct Point {
    double margin = kInf;
    std::vector<double> gradient;
    std::vector<double> outputs;
  };

  std::vector<double> rowWeights(std::size_t r) const {
    std::vector<double> weights(s_.numOutputs, 0.0);
    if (r < d_.rows.size())
      for (auto [j, c] : d_.rows[r].y)
        weights[j] += c;
    return weights;
  }

  // Margin, its gradient (that of the active row) and the outputs at x.
  // `active_` carries over from the previous point as the guess of which row
  // is the maximum; a wrong guess costs one more pass.
  Point evaluate(const std::vector<double> &x) {
    Point p;
    for (int attempt = 0; attempt < 2; ++attempt) {
      ref::GradientResult g = s_.gradient(ref::Tensor{s_.shape, x}, rowWeights(active_));
      double margin = -kInf;
      std::size_t argmax = active_;
      for (std::size_t r = 0; r < d_.rows.size(); ++r) {
        double value = rowValue(d_.rows[r], x, g.outputs);
        if (std::isnan(value))
          value = kInf;
        if (value > margin) {
          margin = value;
          argmax = r;
        }
      }
      p.margin = margin;
      p.gradient = std::move(g.gradient);
      p.outputs = std::move(g.outputs);
      if (argmax == active_)
        break;
      active_ = argmax;
    }
    if (active_ < d_.rows.size())
      for (auto [i, c] : d_.rows[active_].x)
        p.gradient[i] += c;
    return p;
  }

  // Evaluates x and keeps the best point. A point whose margin says
  // "counterexample" is confirmed on a fresh evaluation by the interpreter,
  // the check every returned point passes, and recorded in s_.found.
  Point visit(const std::vector<double> &x) {
    Point p = evaluate(x);
    if (p.margin < bestMargin_) {
      bestMargin_ = p.margin;
      best_ = x;
    }
    if (p.margin <= 0 && violates(d_, x, p.outputs)) {
      std::vector<double> y = evaluateFlat(s_.graph, x);
      if (violates(d_, x, y))
        s_.found = Counterexample{index_, x, std::move(y)};
    }
    return p;
  }

  // Descent from x with first steps of `firstStep` times each width; the
  // budget is options.steps evaluations after the first.
  Outcome descend(std::vector<double> &x, double firstStep) {
    std::size_t n = x.size();
    std::vector<double> step(n), width(n), candidate(n);
    for (std::size_t i = 0; i < n; ++i) {
      width[i] = region_.hi[i] - region_.lo[i];
      step[i] = firstStep * width[i];
    }
    if (s_.expired())
      return Outcome::OutOfTime;
    Point current = visit(x);
    if (s_.found)
      return Outcome::Found;
    for (int k = 0; k < s_.options.steps && std::isfinite(current.margin); ++k) {
      bool moved = false;
      for (std::size_t i = 0; i < n; ++i) {
        double g = current.gradient[i];
        candidate[i] = x[i];
        // Steps below 1e-12 of the width change nothing that f64 outputs resolve.
        if (g == 0 || std::isnan(g) || step[i] < 1e-12 * width[i])
          continue;
        candidate[i] = std::clamp(g > 0 ? x[i] - step[i] : x[i] + step[i], region_.lo[i], region_.hi[i]);
        moved = moved || candidate[i] != x[i];
      }
      if (!moved)
        break; // a stationary point of the signed step: a restart does better
      if (s_.expired())
        return Outcome::OutOfTime;
      Point next = visit(candidate);
      if (s_.found)
        return Outcome::Found;
      if (next.margin < current.margin) {
        for (std::size_t i = 0; i < n; ++i) {
          double before = current.gradient[i], after = next.gradient[i];
          bool flipped = (before > 0 && after < 0) || (before < 0 && after > 0);
          step[i] = flipped ? 0.5 * step[i] : std::min(2.0 * step[i], 0.5 * width[i]);
        }
        x = candidate;
        current = std::move(next);
      } else {
        for (double &s : step)
          s *= 0.5;
      }
    }
    return Outcome::NotFound;
  }

  Search &s_;
  const vnnlib::Disjunct &d_;
  std::size_t index_;
  Region region_;
  Rng rng_;
  std::size_t active_ = 0;
  double bestMargin_ = kInf;
  std::vector<double> best_;
};

} // namespace

std::optional<Counterexample> attackProperty(const Graph &graph, const vnnlib::Property &property,
                                             const AttackOptions &options) {
  checkPropertyFits(graph, property);
  Search search{graph, options, ref::GradientEvaluator(graph), graph.type(graph.inputs().at(0)).shape};
  for (ValueId v : graph.outputs())
    search.numOutputs += static_cast<std::size_t>(graph.type(v).numElements());

  std::vector<DisjunctAttack> attacks;
  for (std::size_t k = 0; k < property.disjuncts.size(); ++k)
    if (std::optional<Region> region = searchRegion(property.disjuncts[k]))
      attacks.emplace_back(search, property.disjuncts[k], k, std::move(*region));

  // Rounds over the disjuncts rather than one disjunct at a time: a property
  // such as "some other class wins" is usually violated through one disjunct
  // only, and its descent should not wait behind full budgets spent on the
  // others. After the centre round, the disjuncts that came closest go first.
  std::vector<std::size_t> order(attacks.size());
  std::iota(order.begin(), order.end(), 0);
  auto round = [&](auto &&attempt) {
    for (std::size_t a : order)
      if (Outcome o = attempt(attacks[a]); o != Outcome::NotFound)
        return o;
    return Outcome::NotFound;
  };
  Outcome outcome = Outcome::NotFound;
  for (int r = 0; r < options.restarts && outcome == Outcome::NotFound; ++r) {
    outcome = round([r](DisjunctAttack &a) { return a.restart(r); });
    if (r == 0)
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return attacks[a].bestMargin() < attacks[b].bestMargin(); });
  }
  if (outcome == Outcome::NotFound)
    outcome = round([](DisjunctAttack &a) { return a.refine(); });
  if (outcome == Outcome::Found)
    return search.found;
  return std::nullopt;
}

} // namespace gm
