// Where tests find the shared material (reference bounds, VNN-COMP networks,
// transformer files): $GAMMA_SHARED_DIR, else ../shared from the working
// directory. Tests that need it skip with a message when it is absent.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace gm::test {

inline std::filesystem::path sharedDir() {
  const char *dir = std::getenv("GAMMA_SHARED_DIR");
  return dir ? std::filesystem::path(dir) : std::filesystem::path("../shared");
}

inline std::filesystem::path transformersDir() { return sharedDir() / "reference" / "transformers"; }

// The numbers of a nested JSON array, in row-major order.
inline void flattenJsonInto(const nlohmann::json &nested, std::vector<double> &out) {
  if (!nested.is_array()) {
    out.push_back(nested.get<double>());
    return;
  }
  for (const nlohmann::json &item : nested)
    flattenJsonInto(item, out);
}
inline std::vector<double> flattenJson(const nlohmann::json &nested) {
  std::vector<double> out;
  flattenJsonInto(nested, out);
  return out;
}

} // namespace gm::test
