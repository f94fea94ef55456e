// NumPy .npy arrays: inputs for gamma-run, outputs for users' scripts.
#pragma once

#include "ir/shape.h"

#include <string>
#include <string_view>
#include <vector>

namespace gm::npy {

struct Array {
  Shape shape;
  std::vector<double> data; // row-major
};

// Versions 1-3, little-endian f2/f4/f8/i4/i8/u1/b1, C order.
// Throws InputError "path: message" for anything else or a truncated file.
Array parse(std::string_view bytes, const std::string &path);
Array readFile(const std::string &path);

// Writes float64 ('<f8'), version 1.
std::string serialize(const Array &array);

} // namespace gm::npy
