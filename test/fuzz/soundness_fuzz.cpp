// Runs (generate, check, shrink, count) and their reports.
#include "test/fuzz/soundness_fuzz.h"

#include "ir/error.h"
#include "ir/text.h"
#include "test/fuzz/isolate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ostream>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

namespace gm::fuzz {

namespace {

using bounds::Method;
using Clock = std::chrono::steady_clock;

std::string numbers(const std::vector<double> &v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i)
    s += fmt::format("{}{:.17g}", i ? ", " : "", v[i]);
  return s + "]";
}

void count(Counts &c, Outcome o) {
  ++c.generated;
  switch (o) {
  case Outcome::Checked: ++c.checked; break;
  case Outcome::Unsupported: ++c.unsupported; break;
  case Outcome::Rejected: ++c.rejected; break;
  case Outcome::Timeout: ++c.timeout; break;
  case Outcome::Failed: ++c.failed; break;
  }
}

// Rejection messages name nodes by number ("node #12 (div)"); counting them by
// kind needs the numbers gone.
std::string withoutNodeNumbers(const std::string &s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == '#' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += 'N';
      while (i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))
        ++i;
    }
  }
  return out;
}

} // namespace

std::optional<Violation> crashes(const Case &c, Method method, const CheckOptions &options) {
  ChildResult child = runIsolated([&] {
    Method methods[] = {method};
    check(c, methods, options);
    return std::string();
  });
  if (!child.crashed())
    return std::nullopt;
  Violation v;
  v.kind = Violation::Kind::Crash;
  // The line that says what happened: a sanitizer's or gamma's own report if
  // there is one (a sanitizer report starts with a line of '=').
  std::string first;
  for (std::size_t pos = 0; pos < child.errorText.size();) {
    std::size_t eol = std::min(child.errorText.find('\n', pos), child.errorText.size());
    std::string line = child.errorText.substr(pos, eol - pos);
    pos = eol + 1;
    bool telling = line.find("ERROR") != std::string::npos || line.find("runtime error") != std::string::npos ||
                   line.find("internal error") != std::string::npos;
    if (telling || (first.empty() && line.find_first_not_of("= ") != std::string::npos))
      first = line;
    if (telling)
      break;
  }
  v.what = child.signal ? fmt::format("the check died of signal {} ({})", child.signal, strsignal(child.signal))
                        : fmt::format("the check exited with status {}", child.exitCode);
  if (!first.empty())
    v.what += ": " + first;
  v.detail = child.errorText.substr(0, 6000);
  return v;
}

std::string formatCase(const Case &c, const Violation *violation) {
  std::string s = printGraph(c.graph);
  if (c.box.lower == c.box.upper)
    s += fmt::format("box ({} coordinates, a point):\n  lower = upper = {}\n", c.box.lower.size(),
                     numbers(c.box.lower));
  else
    s += fmt::format("box ({} coordinates):\n  lower = {}\n  upper = {}\n", c.box.lower.size(),
                     numbers(c.box.lower), numbers(c.box.upper));
  if (c.spec) {
    const bounds::Spec &sp = *c.spec;
    s += fmt::format("spec: {} rows over {} outputs{}\n", sp.numRows(), sp.numOutputs,
                     sp.inputCoeffs.empty() ? "" : fmt::format(" and {} inputs", sp.numInputs));
    for (std::size_t r = 0; r < sp.numRows(); ++r) {
      std::vector<double> c(sp.outputCoeffs.begin() + r * sp.numOutputs,
                            sp.outputCoeffs.begin() + (r + 1) * sp.numOutputs);
      s += fmt::format("  row {}: C = {}", r, numbers(c));
      if (!sp.inputCoeffs.empty()) {
        std::vector<double> x(sp.inputCoeffs.begin() + r * sp.numInputs,
                              sp.inputCoeffs.begin() + (r + 1) * sp.numInputs);
        s += fmt::format(", X = {}", numbers(x));
      }
      s += fmt::format(", d = {:.17g}\n", sp.constants[r]);
    }
  }
  if (c.intersectIbp)
    s += "options: intersectIbp (CROWN bounds intersected with IBP)\n";
  if (violation) {
    s += fmt::format("violation: {}\n", violation->what);
    if (!violation->point.empty())
      s += fmt::format("  at x = {}\n", numbers(violation->point));
    if (!violation->detail.empty())
      s += "  its stderr:\n" + violation->detail + (violation->detail.back() == '\n' ? "" : "\n");
  }
  return s;
}

std::string formatFailure(const Failure &f) {
  std::string s = fmt::format("FAIL case {:#x}, method {}: {}\n  reproduce: gamma-fuzz {}\n", f.caseSeed,
                              bounds::methodName(f.method), f.violation.what, f.replay);
  if (!f.shrunk.empty())
    s += "--- shrunk ---\n" + f.shrunk;
  else
    s += "--- case ---\n" + f.original;
  return s;
}

namespace {

// Checks one case. With `isolateEach` (the case is in a batch that crashed),
// each method is first checked in a forked child, and one that crashes becomes
// a Crash failure instead of taking the run down.
CheckReport checkCase(const Case &c, const RunOptions &options, bool isolateEach) {
  CheckReport report;
  std::vector<Method> methods;
  for (Method m : options.methods)
    if (!isolateEach)
      methods.push_back(m);
    else if (std::optional<Violation> v = crashes(c, m, options.check)) {
      MethodResult r;
      r.method = m;
      r.outcome = Outcome::Failed;
      r.violation = std::move(v);
      report.methods.push_back(std::move(r));
    } else
      methods.push_back(m);
  CheckReport rest = check(c, methods, options.check);
  report.points = rest.points;
  report.methods.insert(report.methods.end(), rest.methods.begin(), rest.methods.end());
  return report;
}

std::string replayArgs(const RunOptions &options, std::uint64_t seed) {
  // The same method list as the run: the sample and attack points are shared
  // by the methods checked together.
  std::vector<std::string_view> names;
  for (Method m : options.methods)
    names.push_back(bounds::methodName(m));
  std::string s = fmt::format("--case {:#x} --method {}", seed, fmt::join(names, ","));
  if (!options.gen.patterns.empty())
    s += fmt::format(" --ops {}", fmt::join(options.gen.patterns, ","));
  GenOptions defaults;
  if (options.gen.maxSteps != defaults.maxSteps)
    s += fmt::format(" --max-steps {}", options.gen.maxSteps);
  if (options.gen.maxInputElements != defaults.maxInputElements)
    s += fmt::format(" --max-input-elements {}", options.gen.maxInputElements);
  if (options.gen.maxElements != defaults.maxElements)
    s += fmt::format(" --max-elements {}", options.gen.maxElements);
  return s;
}

// The shrunk case as text. A point violation is shrunk in a forked child when
// isolating: a candidate may crash the bound code, which must not end the run.
std::string shrunkText(const Case &c, const MethodResult &m, const RunOptions &options,
                       const ShrinkOptions &shrinkOptions) {
  auto body = [&] {
    auto [small, v] = shrink(c, m.method, *m.violation, options.check, shrinkOptions);
    return formatCase(small, &v);
  };
  if (!options.isolate || m.violation->kind == Violation::Kind::Crash)
    return body(); // crash shrinking forks for every candidate already
  ChildResult child = runIsolated(body);
  if (!child.crashed())
    return child.output;
  return fmt::format("(a candidate crashed the shrinker (signal {}, exit status {}): a second bug; the case as "
                     "generated:)\n{}",
                     child.signal, child.exitCode, formatCase(c, &*m.violation));
}

} // namespace

RunReport run(const RunOptions &options) {
  RunReport report;
  Clock::time_point start = Clock::now();
  auto timeLeft = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(start + options.timeLimit - Clock::now());
  };
  std::uint64_t n = options.onlyCase ? 1 : options.iterations;
  auto seedOf = [&](std::uint64_t i) { return options.onlyCase ? *options.onlyCase : caseSeed(options.seed, i); };
  // Cases run in batches; with isolation a forked child checks each batch
  // first, and only a batch that crashed is checked case by case in children
  // (a fork per case costs more than the check itself).
  constexpr std::uint64_t kBatch = 32;
  bool stop = false;
  for (std::uint64_t batch = 0; batch < n && !stop; batch += kBatch) {
    std::uint64_t batchEnd = std::min(n, batch + kBatch);
    bool crashed = options.isolate && runIsolated([&] {
                                        for (std::uint64_t i = batch; i < batchEnd; ++i)
                                          check(generate(seedOf(i), options.gen), options.methods, options.check);
                                        return std::string();
                                      }).crashed();
    for (std::uint64_t i = batch; i < batchEnd; ++i) {
      if (options.timeLimit.count() > 0 && timeLeft().count() <= 0) {
        report.timedOut = stop = true;
        break;
      }
      std::uint64_t seed = seedOf(i);
      if (options.onCase)
        options.onCase(seed);
      Case c;
      CheckReport checked;
      try {
        c = generate(seed, options.gen);
        checked = checkCase(c, options, crashed);
      } catch (const std::exception &e) {
        // The generator built something the interpreter refuses: a fuzzer bug.
        report.fuzzerErrors.push_back(fmt::format("case {:#x}: {}", seed, e.what()));
        if (options.log)
          *options.log << "fuzzer error: " << report.fuzzerErrors.back() << "\n" << std::flush;
        continue;
      }
      ++report.cases;
      report.points += checked.points;

      std::set<std::string> ops;
      for (const Node &node : c.graph.nodes())
        if (node.op != Op::Input && node.op != Op::Const)
          ops.insert(std::string(opKeyword(node.op)));

      for (const MethodResult &m : checked.methods) {
        count(report.perMethod[m.method], m.outcome);
        for (const std::string &op : ops)
          count(report.perOp[m.method][op], m.outcome);
        for (const std::string &tag : c.tags)
          count(report.perTag[m.method][tag], m.outcome);
        report.infiniteBounds[m.method] += m.infiniteBounds;
        report.boundsCount[m.method] += m.boundsCount;
        if (m.outcome == Outcome::Rejected || m.outcome == Outcome::Unsupported)
          ++report.rejections[m.method][withoutNodeNumbers(m.message)];
        if (m.outcome != Outcome::Failed)
          continue;
        Failure f;
        f.caseSeed = seed;
        f.method = m.method;
        f.violation = *m.violation;
        f.original = formatCase(c, &f.violation);
        f.replay = replayArgs(options, seed);
        // Shrinking stays inside the run's time limit; past it, or past
        // maxShrunk, a failure is reported as generated.
        ShrinkOptions shrinkOptions = options.shrinkOptions;
        if (options.timeLimit.count() > 0)
          shrinkOptions.timeLimit = std::min(shrinkOptions.timeLimit, timeLeft());
        if (options.shrink && report.failures.size() < options.maxShrunk && shrinkOptions.timeLimit.count() > 0)
          f.shrunk = shrunkText(c, m, options, shrinkOptions);
        if (options.log)
          *options.log << formatFailure(f) << std::flush;
        report.failures.push_back(std::move(f));
      }
      if (options.log && options.progressEvery && (i + 1) % options.progressEvery == 0)
        *options.log << fmt::format("{} cases, {} points, {} failures, {:.1f} s\n", report.cases, report.points,
                                    report.failures.size(),
                                    std::chrono::duration<double>(Clock::now() - start).count())
                     << std::flush;
    }
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

std::string formatReport(const RunReport &r) {
  std::string s = fmt::format("{} cases, {} points evaluated, {:.1f} s{}\n", r.cases, r.points, r.seconds,
                              r.timedOut ? " (stopped by the time limit)" : "");
  for (const auto &[m, c] : r.perMethod)
    s += fmt::format("  {:<9} checked {}, unsupported {}, rejected late {}, timeouts {}, failed {}; "
                     "infinite bounds {} of {}\n",
                     bounds::methodName(m), c.checked, c.unsupported, c.rejected, c.timeout, c.failed,
                     r.infiniteBounds.count(m) ? r.infiniteBounds.at(m) : 0,
                     r.boundsCount.count(m) ? r.boundsCount.at(m) : 0);

  auto table = [&](const char *title, const std::map<Method, std::map<std::string, Counts>> &per) {
    std::set<std::string> keys;
    for (const auto &[m, byKey] : per)
      for (const auto &[k, c] : byKey)
        keys.insert(k);
    s += fmt::format("\n{:<32}", title);
    for (const auto &[m, byKey] : per)
      s += fmt::format(" {:>16}", fmt::format("{} chk/gen", bounds::methodName(m)));
    s += "\n";
    for (const std::string &k : keys) {
      s += fmt::format("{:<32}", k);
      for (const auto &[m, byKey] : per) {
        auto it = byKey.find(k);
        Counts c = it == byKey.end() ? Counts{} : it->second;
        s += fmt::format(" {:>16}", fmt::format("{}/{}{}", c.checked, c.generated, c.failed ? "!" : ""));
      }
      s += "\n";
    }
  };
  table("op (graphs containing it)", r.perOp);
  table("feature", r.perTag);

  for (const auto &[m, messages] : r.rejections) {
    s += fmt::format("\n{} did not bound:\n", bounds::methodName(m));
    std::size_t shown = 0;
    for (const auto &[msg, n] : messages)
      if (shown++ < 20)
        s += fmt::format("  {:>5}x {}\n", n, msg);
  }
  for (const std::string &e : r.fuzzerErrors)
    s += fmt::format("fuzzer error: {}\n", e);
  s += fmt::format("\n{} failure{}\n", r.failures.size(), r.failures.size() == 1 ? "" : "s");
  return s;
}

} // namespace gm::fuzz
