// ReLU's relaxation lines, header-only so the bound program's interpreter
// kernels (ir/interp/kernels_bound.cpp, which cannot link bounds/) use the
// very same code as bounds/relax.cpp.
#pragma once

#include "bounds/fp.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gm::bounds {

// auto_LiRPA's adaptive choice: upper line through (l, 0) and (u, u), lower
// slope 1 if u > -l else 0. The upper intercept is raised until the line
// provably lies above relu at both ends (relu is convex: that suffices).
inline void reluLines(double l, double u, double &kl, double &bl, double &ku, double &bu) {
  double lr = std::min(l, 0.0), ur = std::max(std::max(u, 0.0), lr + 1e-8);
  double s = ur / (ur - lr);
  kl = s > 0.5 ? 1.0 : 0.0;
  bl = 0;
  if (l >= 0) {
    ku = 1;
    bu = 0;
    return;
  }
  if (u <= 0) {
    ku = 0;
    bu = 0;
    kl = 0;
    return;
  }
  ku = s;
  bu = fp::mulUp(-lr, s);
  // at x = u the line must reach u: s*u + bu >= u
  double atU = fp::addDown(fp::mulDown(s, u), bu);
  if (atU < u)
    bu = fp::addUp(bu, fp::subUp(u, atU));
  if (!std::isfinite(bu)) { // unbounded input: no linear upper bound
    ku = 0;
    bu = std::numeric_limits<double>::infinity();
  }
}

} // namespace gm::bounds
