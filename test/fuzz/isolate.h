// Crash isolation: runs a function in a forked child, so an abort or a
// segfault in the bound code becomes a result the fuzzer can report and shrink
// instead of the end of the run.
#pragma once

#include <functional>
#include <string>

namespace gm::fuzz {

struct ChildResult {
  int signal = 0;        // the signal that killed the child, 0 if it exited
  int exitCode = 0;      // its exit code: nonzero when a sanitizer stopped it
  bool crashed() const { return signal != 0 || exitCode != 0; }
  std::string errorText; // what it wrote to stderr (the internal error message)
  std::string output;    // what the body returned, if it returned
};

ChildResult runIsolated(const std::function<std::string()> &body);

} // namespace gm::fuzz
