#include "tools/tool_main.h"

#include "codegen/cpu_features.h"
#include "ir/error.h"

#include <cstdio>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>

#ifndef GAMMA_VERSION
#define GAMMA_VERSION "0.0.0"
#endif
#ifndef GAMMA_GIT_DESCRIBE
#define GAMMA_GIT_DESCRIBE "unknown"
#endif
#ifndef GAMMA_LLVM_VERSION
#define GAMMA_LLVM_VERSION "unknown"
#endif

namespace gm::tools {

std::string versionText(const std::string &tool, const std::string &cpu) {
  return fmt::format("{} {} ({})\nLLVM {}, host CPU {} [{}]", tool, GAMMA_VERSION, GAMMA_GIT_DESCRIBE,
                     GAMMA_LLVM_VERSION, cpu.empty() ? codegen::hostCpuBrand() : cpu,
                     fmt::join(codegen::hostVectorFeatures(), " "));
}

int runTool(CLI::App &app, int argc, char **argv, const std::function<int()> &body) {
  const std::string name = app.get_name();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::fprintf(stderr, "%s: error: %s (see %s --help)\n", name.c_str(), e.what(), name.c_str());
    return kExitInputError;
  }
  try {
    return body();
  } catch (const InputError &e) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "%s: error: out of memory\n", name.c_str());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
  }
  return kExitInputError;
}

void writeOutput(const std::string &path, const std::string &text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  if (!out)
    fail(path, "cannot open for writing");
  out << text;
  if (!out)
    fail(path, "write failed");
}

} // namespace gm::tools
