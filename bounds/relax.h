// Linear relaxations of elementwise functions over an interval, for CROWN.
//
// For each element i with input interval [l_i, u_i] two lines such that
//   kl_i * x + bl_i  <=  f(x)  <=  ku_i * x + bu_i   for every real x in [l_i, u_i].
// The lines are chosen as auto_LiRPA chooses them (docs/SOUNDNESS.md derives
// each); their validity in floating point is then *proven* by a check that
// only uses outward-rounded evaluations, and the intercept moved outward by
// whatever the check could not prove. So the lines are sound however the
// slopes were computed.
#pragma once

#include "ir/op.h"

#include <vector>

namespace gm::bounds {

struct Lines {
  std::vector<double> kl, bl, ku, bu;
};

// Ops with a relaxation: relu, sigmoid, tanh, exp, log, erf, sqrt, abs, and
// pow with a constant exponent 2 (Op::Pow, exponent passed separately).
bool hasRelaxation(Op op);
Lines relax(Op op, const std::vector<double> &lower, const std::vector<double> &upper, double exponent = 2);

// Lower/upper line of a bilinear product x*y over a box (McCormick planes, the
// ones auto_LiRPA uses):  x*y >= ly*x + lx*y - lx*ly,   x*y <= ly*x + ux*y - ux*ly.
// The constants are rounded outward; the planes are exact otherwise.
struct Planes {
  double ax, ay, c; // a_x * x + a_y * y + c
};
Planes mulLowerPlane(double lx, double ux, double ly, double uy);
Planes mulUpperPlane(double lx, double ux, double ly, double uy);

} // namespace gm::bounds
