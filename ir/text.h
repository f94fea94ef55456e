// The textual IR (.gir): printer and parser. docs/IR.md describes the syntax.
#pragma once

#include "ir/graph.h"

#include <string>
#include <string_view>

namespace gm {

// Deterministic: values renumbered in order of definition, attributes sorted.
std::string printGraph(const Graph &graph);

// Parses and verifies. Throws InputError "path:line:col: message".
// Weight references are resolved as absolute paths, or relative to the
// directory of `path`.
Graph parseGraph(std::string_view text, const std::string &path);
Graph parseGraphFile(const std::string &path);

// Constants with at most this many elements always print inline.
constexpr std::int64_t kInlineConstantLimit = 16;

} // namespace gm
