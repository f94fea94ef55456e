// Projected signed-gradient descent on the margin  max_r row_r(x, y(x))  of
// each disjunct. The max makes one row active at a time: its gradient is the
// only one that can lower the margin at this point, so one backward pass per
// step suffices. Signed steps (an L-infinity steepest descent) scale with the
// box width per coordinate, so coordinates of very different ranges (ACAS Xu)
// move at the same relative pace.
#include "runtime/attack.h"

#include "ir/interp/gradient.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>

namespace gm {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Rng {
  std::uint64_t state;
  double unit() { // [0, 1)
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
};

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

struct Shared {
  const Graph &graph;
  const AttackOptions &options;
  ref::GradientEvaluator gradient;
  Shape shape;
  std::size_t numOutputs = 0;
  std::optional<Counterexample> found;

  bool expired() const { return options.deadline && Clock::now() >= *options.deadline; }
};

// The search state of one disjunct, kept across the rounds of restarts.
class DisjunctAttack {
public:
  DisjunctAttack(Shared &shared, const vnnlib::Disjunct &disjunct, std::size_t index, Region region)
      : s_(shared), d_(disjunct), index_(index), region_(std::move(region)),
        rng_{shared.options.seed ^ (0x632be59bd9b4e019ull * (index + 1))} {}

  double bestMargin() const { return bestMargin_; }
  void debug() const { fprintf(stderr, "disjunct %zu best %g at", index_, bestMargin_); for (double v : best_) fprintf(stderr, " %.5f", v); fprintf(stderr, "\n"); }

  // Restart 0 starts at the box centre, the others at seeded uniform points.
  Outcome restart(int r) {
    std::vector<double> x(region_.lo.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      double t = r == 0 ? 0.5 : rng_.unit();
      if (r > 0 && std::getenv("GM_MIX") && (r % 2 == 1 || atoi(std::getenv("GM_MIX")) == 2)) {
        double c = rng_.unit();
        t = c < 0.25 ? 0.0 : c < 0.5 ? 1.0 : c < 0.75 ? 0.5 : t;
      }
      x[i] = std::clamp(region_.lo[i] + t * (region_.hi[i] - region_.lo[i]), region_.lo[i], region_.hi[i]);
    }
    double scale = std::getenv("GM_MS") ? std::pow(atof(std::getenv("GM_MS")), r % 4) : 1.0;
    return descend(x, 0.25 * scale);
  }

  // The best point of all restarts is where the margin came closest to zero;
  // a last descent with finer steps from there catches regions narrower than
  // the restarts' final steps.
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
      std::vector<double> w = rowWeights(active_);
      if (std::getenv("GM_OBJ") && !lastOut_.empty()) {
        std::fill(w.begin(), w.end(), 0.0);
        for (std::size_t r = 0; r < d_.rows.size(); ++r)
          if (rowValue(d_.rows[r], x, lastOut_) > -1e-3 * atof(std::getenv("GM_OBJ")))
            for (auto [j, c] : d_.rows[r].y) w[j] += c;
      }
      ref::GradientResult g = s_.gradient(ref::Tensor{s_.shape, x}, w);
      lastOut_ = g.outputs;
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

  // A point whose margin says "counterexample" is confirmed on a fresh
  // evaluation by the interpreter, the check every returned point passes.
  bool confirm(const std::vector<double> &x, const Point &p) {
    if (!violates(d_, x, p.outputs))
      return false;
    std::vector<double> y = evaluateFlat(s_.graph, x);
    if (!violates(d_, x, y))
      return false;
    s_.found = Counterexample{index_, x, std::move(y)};
    return true;
  }

  // Signed-gradient descent from x. Each coordinate has its own step, a
  // fraction of its width: it grows while the gradient's sign holds and halves
  // when the sign flips (Rprop), and all steps also shrink geometrically to
  // 1/1000 over the run. A coordinate that overshoots a thin violating slab
  // (ACAS Xu's regions are thin in one angle) thus settles into it instead of
  // jumping across it at a fixed pace.
  Outcome descend(std::vector<double> &x, double firstStep) {
    if (std::getenv("GM_BT")) return descendBt(x, firstStep);
    int steps = std::max(s_.options.steps, 1);
    double decay = std::pow(1e-3, 1.0 / std::max(steps - 1, 1));
    std::size_t n = x.size();
    std::vector<double> step(n), lastSign(n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      step[i] = firstStep * (region_.hi[i] - region_.lo[i]);
    for (int k = 0; k <= steps; ++k) {
      if (s_.expired())
        return Outcome::OutOfTime;
      Point p = evaluate(x);
      if (p.margin <= 0 && confirm(x, p))
        return Outcome::Found;
      if (p.margin < bestMargin_) {
        bestMargin_ = p.margin;
        best_ = x;
      }
      if (k == steps || !std::isfinite(p.margin))
        break;
      for (std::size_t i = 0; i < n; ++i) {
        double g = p.gradient[i];
        if (g == 0 || std::isnan(g))
          continue;
        double sign = g > 0 ? 1.0 : -1.0;
        if (sign * lastSign[i] < 0)
          step[i] *= 0.5;
        else if (sign * lastSign[i] > 0)
          step[i] = std::min(step[i] * 1.2, 0.5 * (region_.hi[i] - region_.lo[i]));
        lastSign[i] = sign;
        x[i] = std::clamp(x[i] - sign * step[i], region_.lo[i], region_.hi[i]);
        step[i] *= decay;
      }
    }
    return Outcome::NotFound;
  }


  Outcome descendBt(std::vector<double> &x, double firstStep) {
    int steps = std::max(s_.options.steps, 1);
    std::size_t n = x.size();
    std::vector<double> step(n), width(n);
    for (std::size_t i = 0; i < n; ++i) {
      width[i] = region_.hi[i] - region_.lo[i];
      step[i] = firstStep * width[i];
    }
    if (s_.expired())
      return Outcome::OutOfTime;
    Point current = evaluate(x);
    if (current.margin <= 0 && confirm(x, current))
      return Outcome::Found;
    if (current.margin < bestMargin_) { bestMargin_ = current.margin; best_ = x; }
    std::vector<double> candidate(n);
    double grow = atof(std::getenv("GM_BT"));
    for (int k = 0; k < steps; ++k) {
      if (s_.expired())
        return Outcome::OutOfTime;
      if (!std::isfinite(current.margin)) break;
      bool moved = false;
      for (std::size_t i = 0; i < n; ++i) {
        double g = current.gradient[i];
        candidate[i] = x[i];
        if (g == 0 || std::isnan(g)) continue;
        candidate[i] = std::clamp(g > 0 ? x[i] - step[i] : x[i] + step[i], region_.lo[i], region_.hi[i]);
        moved = moved || candidate[i] != x[i];
      }
      if (!moved) break;
      Point p = evaluate(candidate);
      if (p.margin <= 0 && confirm(candidate, p))
        return Outcome::Found;
      if (p.margin < bestMargin_) { bestMargin_ = p.margin; best_ = candidate; }
      if (p.margin < current.margin) {
        for (std::size_t i = 0; i < n; ++i) {
          double a = current.gradient[i], b = p.gradient[i];
          if ((a > 0 && b < 0) || (a < 0 && b > 0)) step[i] *= 0.5;
          else step[i] = std::min(step[i] * grow, 0.5 * width[i]);
        }
        x = candidate;
        current = std::move(p);
      } else {
        for (double &v : step) v *= 0.5;
      }
    }
    return Outcome::NotFound;
  }

  Shared &s_;
  const vnnlib::Disjunct &d_;
  std::size_t index_;
  Region region_;
  Rng rng_;
  std::size_t active_ = 0;
  double bestMargin_ = kInf;
  std::vector<double> best_;
  std::vector<double> lastOut_;
};

} // namespace

std::optional<Counterexample> attackProperty(const Graph &graph, const vnnlib::Property &property,
                                             const AttackOptions &options) {
  checkPropertyFits(graph, property);
  Shared shared{graph, options, ref::GradientEvaluator(graph), graph.type(graph.inputs().at(0)).shape, 0, {}};
  for (ValueId v : graph.outputs())
    shared.numOutputs += static_cast<std::size_t>(graph.type(v).numElements());

  std::vector<DisjunctAttack> attacks;
  for (std::size_t k = 0; k < property.disjuncts.size(); ++k)
    if (std::optional<Region> region = searchRegion(property.disjuncts[k]))
      attacks.emplace_back(shared, property.disjuncts[k], k, std::move(*region));

  // Rounds over the disjuncts rather than one disjunct at a time: a property
  // such as "some other class wins" is usually violated through one disjunct
  // only, and its descent from the centre should not wait behind full budgets
  // spent on the others. After the centre round, the disjuncts that came
  // closest go first.
  std::vector<std::size_t> order(attacks.size());
  std::iota(order.begin(), order.end(), 0);
  auto run = [&](auto &&attempt) -> std::optional<Outcome> {
    for (std::size_t a : order)
      if (Outcome o = attempt(attacks[a]); o != Outcome::NotFound)
        return o;
    return std::nullopt;
  };
  std::optional<Outcome> outcome;
  for (int r = 0; r < std::max(options.restarts, 1) && !outcome; ++r) {
    outcome = run([r](DisjunctAttack &a) { return a.restart(r); });
    if (r == 0)
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return attacks[a].bestMargin() < attacks[b].bestMargin(); });
  }
  if (!outcome)
    outcome = run([](DisjunctAttack &a) { return a.refine(); });
  if (std::getenv("GM_DEBUG"))
    for (auto &a : attacks) a.debug();
  if (outcome == Outcome::Found)
    return shared.found;
  return std::nullopt;
}

} // namespace gm
