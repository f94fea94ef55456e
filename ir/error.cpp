#include "ir/error.h"

#include <cstdio>
#include <cstdlib>

namespace gm {

void internalError(const char *file, int line, const std::string &message) {
  std::fprintf(stderr, "gamma: internal error at %s:%d: %s\n", file, line, message.c_str());
  std::abort();
}

} // namespace gm
