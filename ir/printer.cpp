#include "ir/error.h"
#include "ir/text.h"

#include <charconv>
#include <cctype>
#include <cmath>
#include <fmt/format.h>

namespace gm {

namespace {

// Shortest text that parses back to the same double, always recognisable as a
// float (never "1", which would read back as an integer attribute).
std::string floatText(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eninf") == std::string::npos)
    s += ".0";
  return s;
}

std::string elementText(const Constant &c, std::int64_t i) {
  double v = c.at(i);
  switch (c.type().dtype) {
  case DType::F32:
    return fmt::format("{}", static_cast<float>(v)); // shortest float32 round trip
  case DType::F64:
  case DType::F16:
  case DType::BF16:
    return fmt::format("{}", v); // f16/bf16 widen exactly; narrowing back is exact
  case DType::I64:
    return fmt::format("{}", static_cast<std::int64_t>(v));
  case DType::I32:
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return fmt::format("{}", static_cast<std::int64_t>(v));
  }
  return {};
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\')
      out += fmt::format("\\{}", ch);
    else if (c < 0x20 || c >= 0x7f)
      out += fmt::format("\\{:02x}", c);
    else
      out += ch;
  }
  return out + "\"";
}

bool isIdentifier(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

std::string attrText(const AttrValue &value) {
  struct Visitor {
    std::string operator()(std::int64_t v) const { return fmt::format("{}", v); }
    std::string operator()(double v) const { return floatText(v); }
    std::string operator()(const std::string &v) const { return quoted(v); }
    std::string operator()(const std::vector<std::int64_t> &v) const { return fmt::format("[{}]", fmt::join(v, ", ")); }
    std::string operator()(const std::vector<double> &v) const {
      std::string s = "[";
      for (std::size_t i = 0; i < v.size(); ++i)
        s += (i ? ", " : "") + floatText(v[i]);
      return s + "]";
    }
  };
  return std::visit(Visitor{}, value);
}

std::string constantText(const Constant &c) {
  std::int64_t n = c.type().numElements();
  if (c.source() && n > kInlineConstantLimit)
    return fmt::format("@{}[{}] {}xxh3:{:016x}", quoted(c.source()->path), c.source()->offset,
                       c.format() ? fmt::format("{} ", c.format()->name) : std::string(), c.hash());
  std::string s = "dense<[";
  for (std::int64_t i = 0; i < n; ++i) {
    if (i)
      s += ", ";
    s += elementText(c, i);
  }
  return s + "]>";
}

} // namespace

std::string printGraph(const Graph &graph) {
  std::vector<std::int64_t> number(graph.numValues(), -1);
  std::int64_t next = 0;
  auto ref = [&](ValueId v) {
    GAMMA_ASSERT(v < number.size() && number[v] >= 0, "printing a value before its definition");
    return fmt::format("%{}", number[v]);
  };
  std::string out = fmt::format("graph @{} {{\n", isIdentifier(graph.name) ? graph.name : quoted(graph.name));
  for (const Node &node : graph.nodes()) {
    std::string line = "  ";
    std::vector<std::string> results, types, operands;
    for (ValueId v : node.results) {
      number[v] = next++;
      results.push_back(ref(v));
      types.push_back(typeString(graph.type(v)));
    }
    for (ValueId v : node.operands)
      operands.push_back(ref(v));
    line += fmt::format("{} = {}", fmt::join(results, ", "), opKeyword(node.op));
    if (!operands.empty())
      line += fmt::format(" {}", fmt::join(operands, ", "));
    if (node.constant)
      line += " " + constantText(*node.constant);
    if (!node.attrs.empty()) {
      std::vector<std::string> attrs;
      for (const auto &[name, value] : node.attrs.entries())
        attrs.push_back(fmt::format("{} = {}", name, attrText(value)));
      line += fmt::format(" {{{}}}", fmt::join(attrs, ", "));
    }
    line += fmt::format(" : {}", fmt::join(types, ", "));
    if (!node.name.empty())
      line += fmt::format(" loc({})", quoted(node.name));
    out += line + "\n";
  }
  std::vector<std::string> outputs;
  for (ValueId v : graph.outputs())
    outputs.push_back(ref(v));
  out += fmt::format("  return {}\n}}\n", fmt::join(outputs, ", "));
  return out;
}

} // namespace gm
