// What gammac and gamma-run share: the version text and the one rule for
// errors — one line on stderr, exit code 2, never a crash or a stack trace.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace gm::tools {

constexpr int kExitOk = 0;
constexpr int kExitFails = 1; // the property does not hold (sat)
constexpr int kExitInputError = 2;

// "tool 0.1.0 (git describe)\nLLVM 19.1.7, host CPU cpu [avx2 fma avx512f]": the
// LLVM gamma's code generator was built with (a build setting: only gammac
// links it), the CPU, and the vector features gamma uses that it has. `cpu`
// is LLVM's name for it where the tool links LLVM anyway (gammac: "znver4"),
// else empty for the CPU's own brand string. Tools pass it to CLI11 as a
// callback: nothing of it is computed on a run without --version.
std::string versionText(const std::string &tool, const std::string &cpu = "");

// Parses the command line and runs `body`, mapping InputError, CLI11 errors and
// any std::exception to "tool: error: message" and exit code 2.
int runTool(CLI::App &app, int argc, char **argv, const std::function<int()> &body);

// Writes `text` to `path`, or stdout when path is empty or "-".
void writeOutput(const std::string &path, const std::string &text);

} // namespace gm::tools
