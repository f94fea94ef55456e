// The checker: bounds by each method, then points inside the box evaluated by
// the reference interpreter, each output and row compared with its bounds.
//
// The points are shared by all methods (an evaluation does not depend on the
// method): the failing point the shrinker passes, the centre, the corners,
// uniform samples (some coordinates snapped to a face), and per method a
// gradient-sign attack on the outputs and rows whose sampled extremes came
// closest to their bounds. Every point the attack evaluates, finite-difference
// probes included, is checked too.
#include "ir/error.h"
#include "ir/interp/interpreter.h"
#include "test/fuzz/random.h"
#include "test/fuzz/soundness_fuzz.h"

#include <algorithm>
#include <cmath>
#include <typeinfo>

namespace gm::fuzz {

namespace {

using bounds::Method;

struct MethodState {
  MethodResult result;
  bounds::Result bounds;
  bool active = false; // bounds computed, still looking for a violation
};

class Checker {
public:
  Checker(const Case &c, const CheckOptions &options)
      : c_(c), options_(options), rng_(c.seed ^ 0x636865636b6572ull), nIn_(c.box.lower.size()),
        nRows_(c.spec ? c.spec->numRows() : 0) {
    inputShape_ = c.graph.type(c.graph.inputs().at(0)).shape;
    nOut_ = static_cast<std::size_t>(c.graph.type(c.graph.outputs().at(0)).numElements());
    std::size_t targets = nOut_ + nRows_;
    maxValue_.assign(targets, -INFINITY);
    minValue_.assign(targets, INFINITY);
    maxPoint_.resize(targets);
    minPoint_.resize(targets);
    nanSeen_.assign(targets, false);
  }

  CheckReport run(std::span<const Method> methods);

private:
  const Case &c_;
  const CheckOptions &options_;
  Rng rng_;
  Shape inputShape_;
  std::size_t nIn_, nOut_ = 0, nRows_;
  std::vector<MethodState> states_;
  std::size_t points_ = 0;
  // Per target (outputs, then rows): the extremes seen so far and where.
  std::vector<double> maxValue_, minValue_;
  std::vector<std::vector<double>> maxPoint_, minPoint_;
  std::vector<bool> nanSeen_;

  void computeBounds(MethodState &s);
  bool anyActive() const {
    return std::any_of(states_.begin(), states_.end(), [](const MethodState &s) { return s.active; });
  }
  // Evaluates x (outputs then rows) and checks it against every active method.
  std::vector<double> visit(const std::vector<double> &x);
  void attack(MethodState &s);
  void attackTarget(std::size_t target, double direction);
};

void fillException(MethodResult &r, std::string what) {
  r.outcome = Outcome::Failed;
  Violation v;
  v.kind = Violation::Kind::Exception;
  v.what = std::move(what);
  r.violation = std::move(v);
}

void Checker::computeBounds(MethodState &s) {
  MethodResult &r = s.result;
  try {
    if (options_.support)
      options_.support(c_.graph, r.method);
    else
      bounds::checkSupported(c_.graph, r.method);
  } catch (const InputError &e) {
    r.outcome = Outcome::Unsupported;
    r.message = e.what();
    return;
  }
  bounds::Options o;
  o.method = r.method;
  o.intersectIbp = c_.intersectIbp;
  o.deadline = std::chrono::steady_clock::now() + options_.boundTimeout;
  const bounds::Spec *spec = c_.spec ? &*c_.spec : nullptr;
  try {
    s.bounds = options_.bound ? options_.bound(c_.graph, c_.box, spec, o)
                              : bounds::computeBounds(c_.graph, c_.box, spec, o);
  } catch (const bounds::Timeout &) {
    r.outcome = Outcome::Timeout;
    return;
  } catch (const InputError &e) {
    r.outcome = Outcome::Rejected;
    r.message = e.what();
    return;
  } catch (const std::exception &e) {
    return fillException(r, fmt::format("computeBounds threw {}: {}", typeid(e).name(), e.what()));
  } catch (...) {
    return fillException(r, "computeBounds threw something that is not a std::exception");
  }
  const bounds::Result &b = s.bounds;
  if (b.lower.size() != nOut_ || b.upper.size() != nOut_ || b.rowLower.size() != nRows_ ||
      b.rowUpper.size() != nRows_)
    return fillException(r, fmt::format("result has {}/{} output bounds and {}/{} row bounds, expected {} and {}",
                                        b.lower.size(), b.upper.size(), b.rowLower.size(), b.rowUpper.size(),
                                        nOut_, nRows_));
  for (std::size_t i = 0; i < nOut_ + nRows_; ++i) {
    double lo = i < nOut_ ? b.lower[i] : b.rowLower[i - nOut_];
    double hi = i < nOut_ ? b.upper[i] : b.rowUpper[i - nOut_];
    r.infiniteBounds += std::isinf(lo) + std::isinf(hi);
    r.boundsCount += 2;
  }
  s.active = true;
}

std::vector<double> Checker::visit(const std::vector<double> &point) {
  std::vector<double> x = point;
  for (std::size_t i = 0; i < nIn_; ++i) // the shrinker's point may lie outside a shrunk box
    x[i] = std::clamp(x[i], c_.box.lower[i], c_.box.upper[i]);
  ref::Tensor in{inputShape_, x};
  std::vector<double> values = ref::evaluate(c_.graph, std::span(&in, 1))[0].data;
  ++points_;

  // Rows in long double; the slack scales with the magnitude of the terms,
  // since each output carries a relative error of its own.
  std::vector<double> scale(nOut_ + nRows_);
  for (std::size_t i = 0; i < nOut_; ++i)
    scale[i] = 1 + std::fabs(values[i]);
  for (std::size_t r = 0; r < nRows_; ++r) {
    const bounds::Spec &spec = *c_.spec;
    long double sum = spec.constants[r], magnitude = 1 + std::fabs(spec.constants[r]);
    for (std::size_t i = 0; i < nOut_; ++i) {
      double coeff = spec.outputCoeffs[r * nOut_ + i];
      if (coeff == 0)
        continue;
      sum += (long double)coeff * values[i];
      magnitude += std::fabs((long double)coeff * values[i]);
    }
    if (!spec.inputCoeffs.empty())
      for (std::size_t j = 0; j < nIn_; ++j) {
        sum += (long double)spec.inputCoeffs[r * nIn_ + j] * x[j];
        magnitude += std::fabs((long double)spec.inputCoeffs[r * nIn_ + j] * x[j]);
      }
    values.push_back(double(sum));
    scale[nOut_ + r] = double(magnitude);
  }

  for (std::size_t t = 0; t < values.size(); ++t) {
    double v = values[t];
    if (std::isnan(v)) {
      nanSeen_[t] = true;
      continue;
    }
    if (v > maxValue_[t]) {
      maxValue_[t] = v;
      maxPoint_[t] = x;
    }
    if (v < minValue_[t]) {
      minValue_[t] = v;
      minPoint_[t] = x;
    }
  }

  for (MethodState &s : states_) {
    if (!s.active)
      continue;
    for (std::size_t t = 0; t < values.size() && s.active; ++t) {
      double v = values[t];
      if (std::isnan(v))
        continue; // the graph really produces NaN here: no bound can hold it
      bool row = t >= nOut_;
      double lo = row ? s.bounds.rowLower[t - nOut_] : s.bounds.lower[t];
      double hi = row ? s.bounds.rowUpper[t - nOut_] : s.bounds.upper[t];
      double slack = std::isfinite(v) ? kRelativeSlack * scale[t] : 0.0;
      bool above = v - slack > hi, below = v + slack < lo;
      if (!above && !below)
        continue;
      Violation viol;
      viol.kind = row ? Violation::Kind::Row : Violation::Kind::Output;
      viol.index = row ? t - nOut_ : t;
      viol.point = x;
      viol.value = v;
      viol.lower = lo;
      viol.upper = hi;
      viol.what = fmt::format("{} {} = {:.17g} is {} its {} bound {:.17g} (by {:.3g}; bounds [{:.17g}, {:.17g}])",
                              row ? "row" : "output", viol.index, v, above ? "above" : "below",
                              above ? "upper" : "lower", above ? hi : lo, above ? v - hi : lo - v, lo, hi);
      s.result.outcome = Outcome::Failed;
      s.result.violation = std::move(viol);
      s.active = false;
    }
  }
  return values;
}

// Gradient-sign ascent of direction*target from the best point seen, projected
// to the box: finite differences over (a sample of) the coordinates of nonzero
// width, then a move to the far side of the box along the sign vector, halved
// until it improves.
void Checker::attackTarget(std::size_t target, double direction) {
  std::vector<double> x = direction > 0 ? maxPoint_[target] : minPoint_[target];
  if (x.empty())
    return;
  double fx = direction * (direction > 0 ? maxValue_[target] : minValue_[target]);
  std::vector<std::size_t> coords;
  for (std::size_t i = 0; i < nIn_; ++i)
    if (c_.box.upper[i] > c_.box.lower[i])
      coords.push_back(i);
  if (coords.empty())
    return;
  for (std::size_t step = 0; step < options_.attackSteps && anyActive(); ++step) {
    std::vector<std::size_t> chosen = coords;
    if (chosen.size() > options_.maxGradientCoords) {
      std::shuffle(chosen.begin(), chosen.end(), std::mt19937_64(rng_.next()));
      chosen.resize(options_.maxGradientCoords);
    }
    std::vector<double> sign(nIn_, 0.0);
    for (std::size_t i : chosen) {
      double width = c_.box.upper[i] - c_.box.lower[i];
      double h = 1e-4 * width;
      std::vector<double> y = x;
      y[i] = x[i] + h <= c_.box.upper[i] ? x[i] + h : x[i] - h;
      double fy = direction * visit(y)[target];
      if (std::isnan(fy) || fy == fx)
        continue;
      sign[i] = ((fy > fx) == (y[i] > x[i])) ? 1.0 : -1.0;
    }
    bool improved = false;
    for (double alpha = 1.0; alpha > 1e-3 && !improved && anyActive(); alpha *= 0.25) {
      std::vector<double> y = x;
      for (std::size_t i : chosen)
        y[i] = std::clamp(x[i] + sign[i] * alpha * (c_.box.upper[i] - c_.box.lower[i]), c_.box.lower[i],
                          c_.box.upper[i]);
      double fy = direction * visit(y)[target];
      if (fy > fx) {
        x = y;
        fx = fy;
        improved = true;
      }
    }
    if (!improved && chosen.size() == coords.size())
      break;
  }
}

void Checker::attack(MethodState &s) {
  struct Target {
    double margin;
    std::size_t target;
    double direction;
  };
  std::vector<Target> targets;
  for (std::size_t t = 0; t < nOut_ + nRows_; ++t) {
    bool row = t >= nOut_;
    double lo = row ? s.bounds.rowLower[t - nOut_] : s.bounds.lower[t];
    double hi = row ? s.bounds.rowUpper[t - nOut_] : s.bounds.upper[t];
    double width = hi - lo;
    if (!std::isfinite(width))
      continue;
    width = std::max(width, 1e-300);
    if (std::isfinite(maxValue_[t]))
      targets.push_back({(hi - maxValue_[t]) / width, t, 1.0});
    if (std::isfinite(minValue_[t]))
      targets.push_back({(minValue_[t] - lo) / width, t, -1.0});
  }
  std::sort(targets.begin(), targets.end(), [](const Target &a, const Target &b) {
    return a.margin < b.margin || (a.margin == b.margin && a.target < b.target);
  });
  for (std::size_t i = 0; i < targets.size() && i < options_.attackTargets && s.active; ++i)
    attackTarget(targets[i].target, targets[i].direction);
}

CheckReport Checker::run(std::span<const Method> methods) {
  for (Method m : methods) {
    MethodState s;
    s.result.method = m;
    states_.push_back(std::move(s));
  }
  for (MethodState &s : states_)
    computeBounds(s);

  const bounds::Box &box = c_.box;
  for (const auto &p : options_.extraPoints)
    if (p.size() == nIn_ && anyActive())
      visit(p);
  std::vector<double> centre(nIn_);
  for (std::size_t i = 0; i < nIn_; ++i)
    centre[i] = 0.5 * box.lower[i] + 0.5 * box.upper[i];
  if (anyActive())
    visit(centre);

  // Corners: all of them over the coordinates of nonzero width when there are
  // at most maxCorners, else random ones.
  std::vector<std::size_t> wide;
  for (std::size_t i = 0; i < nIn_; ++i)
    if (box.upper[i] > box.lower[i])
      wide.push_back(i);
  bool all = wide.size() < 63 && (std::uint64_t(1) << wide.size()) <= options_.maxCorners;
  std::uint64_t corners = all ? std::uint64_t(1) << wide.size() : options_.randomCorners;
  for (std::uint64_t k = 0; k < corners && anyActive(); ++k) {
    std::vector<double> x = centre;
    for (std::size_t j = 0; j < wide.size(); ++j) {
      bool up = all ? ((k >> j) & 1) != 0 : rng_.chance(0.5);
      x[wide[j]] = up ? box.upper[wide[j]] : box.lower[wide[j]];
    }
    visit(x);
  }

  for (std::size_t k = 0; k < options_.samples && anyActive(); ++k) {
    std::vector<double> x(nIn_);
    for (std::size_t i = 0; i < nIn_; ++i) {
      double u = rng_.uniform();
      x[i] = u < 0.1 ? box.lower[i] : u < 0.2 ? box.upper[i] : rng_.uniform(box.lower[i], box.upper[i]);
    }
    visit(x);
  }

  for (MethodState &s : states_)
    if (s.active)
      attack(s);

  // NaN bounds are only right where the graph really produces NaN.
  for (MethodState &s : states_) {
    if (!s.active)
      continue;
    for (std::size_t t = 0; t < nOut_ + nRows_ && s.active; ++t) {
      bool row = t >= nOut_;
      double lo = row ? s.bounds.rowLower[t - nOut_] : s.bounds.lower[t];
      double hi = row ? s.bounds.rowUpper[t - nOut_] : s.bounds.upper[t];
      if ((std::isnan(lo) || std::isnan(hi)) && !nanSeen_[t]) {
        Violation v;
        v.kind = Violation::Kind::NaNBound;
        v.index = row ? t - nOut_ : t;
        v.lower = lo;
        v.upper = hi;
        v.what = fmt::format("{} {} has bounds [{}, {}] but no evaluated point gives NaN", row ? "row" : "output",
                             v.index, lo, hi);
        s.result.outcome = Outcome::Failed;
        s.result.violation = std::move(v);
        s.active = false;
      }
    }
  }

  CheckReport report;
  report.points = points_;
  for (MethodState &s : states_)
    report.methods.push_back(std::move(s.result));
  return report;
}

} // namespace

CheckReport check(const Case &c, std::span<const Method> methods, const CheckOptions &options) {
  return Checker(c, options).run(methods);
}

} // namespace gm::fuzz
