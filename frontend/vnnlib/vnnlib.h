// VNNLIB properties, the VNN-COMP dialect of SMT-LIB.
//
// A property is a conjunction of top-level asserts over inputs X_i and outputs
// Y_j. It is normalised to disjunctive form: the counterexample region is the
// union of disjuncts, each an input box plus linear rows that must all hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gm::vnnlib {

// One linear atom, normalised to   sum_j y[j]*Y_j + sum_i x[i]*X_i + constant <= 0.
// Coefficients are sparse (index, value) pairs sorted by index, no zeros.
struct Row {
  std::vector<std::pair<std::uint32_t, double>> y;
  std::vector<std::pair<std::uint32_t, double>> x;
  double constant = 0.0;
  // From `<` or `>`: bound methods treat the row as `<= 0` (the closure, the
  // sound direction for proofs); a counterexample must satisfy `< 0`.
  bool strict = false;
};

// One disjunct: the box the inputs range over and the rows that must all hold
// for a point to be a counterexample. Box bounds are the decimal values of the
// file parsed to the nearest double; a single-variable atom over X becomes a
// box bound, anything else over X alone stays a row with empty y. The box is a
// closed superset of the written region: a bound -d/c that is not exact in
// double is rounded outward, and such an atom (or a strict one) is also kept
// as an x-only row, so a counterexample is checked against what was written.
struct Disjunct {
  std::vector<double> lower; // size = num_inputs; -inf where unbounded
  std::vector<double> upper; // +inf where unbounded
  std::vector<Row> rows;
};

struct Property {
  std::string path;
  std::size_t num_inputs = 0;  // declared X_ count (X_0 .. X_{n-1})
  std::size_t num_outputs = 0; // declared Y_ count
  std::vector<Disjunct> disjuncts;
};

// Throws gm::InputError "path:line:col: message" on any malformed input.
Property parse(std::string_view text, const std::string &path);
Property parseFile(const std::string &path);

} // namespace gm::vnnlib
