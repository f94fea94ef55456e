// gamma-fuzz: the soundness fuzzer's driver. Generates cases from a seed,
// checks every method on each, shrinks and prints every violation as IR, and
// exits 1 if there was any (2 for a usage error).
//
//   gamma-fuzz --seed 7 --iterations 5000 --time-limit 600 --method all
//   gamma-fuzz --case 0x1234abcd --method crown      # replay one printed case
#include "test/fuzz/soundness_fuzz.h"

#include "ir/error.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>
#include <unistd.h>

namespace {

using namespace gm;

// An abort in the bound code (GAMMA_ASSERT) or a crash cannot be caught; the
// handler at least says which case it was, so it can be replayed.
std::atomic<std::uint64_t> currentCase{0};
char crashArgs[512] = "";

void onCrash(int sig) {
  char buf[256];
  int n = std::snprintf(buf, sizeof buf,
                        "\ngamma-fuzz: signal %d during case 0x%llx; reproduce: gamma-fuzz --case 0x%llx %s\n", sig,
                        (unsigned long long)currentCase.load(), (unsigned long long)currentCase.load(), crashArgs);
  if (n > 0)
    (void)!write(2, buf, std::size_t(n));
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::uint64_t parseSeed(const std::string &text) {
  try {
    std::size_t used = 0;
    std::uint64_t v = std::stoull(text, &used, 0); // decimal or 0x-hex
    if (used == text.size())
      return v;
  } catch (const std::exception &) {
  }
  fail("--case", "'{}' is not a case seed (decimal or 0x-hex)", text);
}

std::vector<std::string> splitList(const std::string &text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty())
      items.push_back(item);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return items;
}

int body(fuzz::RunOptions &options, const std::string &method, const std::string &ops, const std::string &only,
         double timeLimit, bool quiet) {
  if (method != "all") {
    options.methods.clear();
    for (const std::string &name : splitList(method)) {
      std::optional<bounds::Method> m = bounds::parseMethod(name);
      if (!m)
        fail("--method", "unknown method '{}' (ibp, crown, crown-ibp or all)", name);
      options.methods.push_back(*m);
    }
  }
  std::snprintf(crashArgs, sizeof crashArgs, "--method %s%s%s --max-steps %d --max-input-elements %lld --max-elements %lld",
                method.c_str(), ops.empty() ? "" : " --ops ", ops.c_str(), options.gen.maxSteps,
                (long long)options.gen.maxInputElements, (long long)options.gen.maxElements);
  for (const std::string &p : splitList(ops)) {
    auto names = fuzz::patternNames();
    if (std::find(names.begin(), names.end(), p) == names.end())
      fail("--ops", "unknown pattern '{}'; known: {}", p, fmt::join(names, ","));
    options.gen.patterns.push_back(p);
  }
  if (options.gen.maxSteps < 1 || options.gen.maxInputElements < 1 || options.gen.maxElements < 1)
    fail("", "--max-steps, --max-input-elements and --max-elements must be at least 1");
  if (!only.empty())
    options.onlyCase = parseSeed(only);
  options.timeLimit = std::chrono::milliseconds(std::int64_t(timeLimit * 1000));
  options.log = &std::cout;
  if (quiet)
    options.progressEvery = 0;
  options.onCase = [](std::uint64_t seed) { currentCase = seed; };
  std::signal(SIGABRT, onCrash);
  std::signal(SIGSEGV, onCrash);
  std::signal(SIGFPE, onCrash);

  std::cout << fmt::format("gamma-fuzz: seed {}, {} iterations, time limit {} s, methods {}, max steps {}, "
                           "sizes {}/{}, ops {}\n",
                           options.seed, options.onlyCase ? 1 : options.iterations, timeLimit, method,
                           options.gen.maxSteps, options.gen.maxInputElements, options.gen.maxElements,
                           ops.empty() ? "all" : ops)
            << std::flush;
  fuzz::RunReport report = fuzz::run(options);
  std::cout << "\n" << fuzz::formatReport(report) << std::flush;
  return report.failures.empty() && report.fuzzerErrors.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Soundness fuzzer: random graphs, boxes and specs; every sampled or attacked point must lie "
               "inside the bounds of every method.",
               "gamma-fuzz"};
  fuzz::RunOptions options;
  options.progressEvery = 100;
  std::string method = "all", ops, only;
  double timeLimit = 0;
  bool quiet = false, noShrink = false;
  app.add_option("--seed", options.seed, "run seed (case i uses a seed derived from it)")->capture_default_str();
  app.add_option("--iterations", options.iterations, "cases to generate")->capture_default_str();
  app.add_option("--time-limit", timeLimit, "stop after this many seconds (0: no limit)")->capture_default_str();
  app.add_option("--method", method, "ibp, crown, crown-ibp, a comma list, or all")->capture_default_str();
  app.add_option("--ops", ops,
                 "comma list of generator patterns (op keywords, residual, dense_chain, qwen3_block, "
                 "whisper_block); default all");
  app.add_option("--case", only, "replay one case by its printed seed");
  app.add_option("--max-steps", options.gen.maxSteps, "patterns per graph, at most")->capture_default_str();
  app.add_option("--max-input-elements", options.gen.maxInputElements, "input size, at most")->capture_default_str();
  app.add_option("--max-elements", options.gen.maxElements, "size of any value, at most")->capture_default_str();
  app.add_option("--progress", options.progressEvery, "print progress every N cases (0: never)")
      ->capture_default_str();
  app.add_flag("--no-shrink", noShrink, "print failing cases as generated");
  options.maxShrunk = 20;
  app.add_option("--max-shrunk", options.maxShrunk, "shrink at most this many failures; print the rest as generated")
      ->capture_default_str();
  app.add_flag("--quiet", quiet, "no progress lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  options.shrink = !noShrink;
  try {
    return body(options, method, ops, only, timeLimit, quiet);
  } catch (const InputError &e) {
    std::fprintf(stderr, "gamma-fuzz: error: %s\n", e.what());
    return 2;
  }
}
