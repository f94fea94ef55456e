#include "test/fuzz/isolate.h"

#include "ir/error.h"

#include <csignal>
#include <cstdio>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace gm::fuzz {

namespace {

// The child's stderr and its result share one pipe; the result comes last,
// after this line.
constexpr std::string_view kMarker = "\n\x1egamma-fuzz result\x1e\n";

void writeAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = write(fd, s.data(), s.size());
    if (n <= 0)
      return;
    s.remove_prefix(std::size_t(n));
  }
}

} // namespace

ChildResult runIsolated(const std::function<std::string()> &body) {
  int fds[2];
  GAMMA_ASSERT(pipe(fds) == 0, "pipe failed");
  std::fflush(nullptr); // buffered output would otherwise be written twice
  pid_t pid = fork();
  GAMMA_ASSERT(pid >= 0, "fork failed");
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    rlimit none{0, 0}; // a crash is expected here; no core file for it
    setrlimit(RLIMIT_CORE, &none);
    for (int sig : {SIGABRT, SIGSEGV, SIGFPE, SIGBUS, SIGILL}) // the parent reports, not an inherited handler
      std::signal(sig, SIG_DFL);
    std::string out;
    try {
      out = body();
    } catch (...) {
    }
    writeAll(fds[1], kMarker);
    writeAll(fds[1], out);
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;)
    if (n > 0)
      text.append(buf, std::size_t(n));
    else
      break;
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  ChildResult result;
  if (WIFSIGNALED(status))
    result.signal = WTERMSIG(status);
  else if (WIFEXITED(status))
    result.exitCode = WEXITSTATUS(status); // sanitizers report and exit(1)
  std::size_t marker = text.rfind(kMarker);
  if (!result.crashed() && marker != std::string::npos) {
    result.output = text.substr(marker + kMarker.size());
    text.resize(marker);
  }
  result.errorText = std::move(text);
  return result;
}

} // namespace gm::fuzz
