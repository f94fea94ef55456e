// The namespace is gm, not gamma: glibc declares a global function gamma().
// One error type for everything a user can get wrong: a bad file, a bad
// option, an op gamma cannot bound. Tools print what() on one line and exit 2.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace gm {

class InputError : public std::runtime_error {
public:
  explicit InputError(const std::string &message) : std::runtime_error(message) {}
};

// "where: message", where `where` names the file and the place in it
// (file:line:col, file: node 'Conv_3', file: tensor 'w1').
template <typename... Args>
[[noreturn]] void fail(std::string_view where, fmt::format_string<Args...> format, Args &&...args) {
  std::string message = fmt::format(format, std::forward<Args>(args)...);
  if (where.empty())
    throw InputError(message);
  throw InputError(fmt::format("{}: {}", where, message));
}

// A broken internal invariant: a bug in gamma, not in the input.
[[noreturn]] void internalError(const char *file, int line, const std::string &message);

#define GAMMA_ASSERT(cond, msg)                                                \
  do {                                                                         \
    if (!(cond))                                                               \
      ::gm::internalError(__FILE__, __LINE__, (msg));                       \
  } while (0)

} // namespace gm
