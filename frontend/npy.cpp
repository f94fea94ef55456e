#include "frontend/npy.h"

#include "ir/constant.h"
#include "ir/error.h"

#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace gm::npy {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

// The value of 'key' in the header dict, as raw text up to the next top-level comma.
std::string_view field(std::string_view header, std::string_view key, const std::string &path) {
  std::string quotedKey = fmt::format("'{}'", key);
  std::size_t at = header.find(quotedKey);
  if (at == std::string_view::npos)
    fail(path, "npy header has no '{}'", key);
  std::size_t colon = header.find(':', at + quotedKey.size());
  if (colon == std::string_view::npos)
    fail(path, "npy header is malformed near '{}'", key);
  std::size_t start = header.find_first_not_of(' ', colon + 1);
  std::size_t end = start;
  int depth = 0;
  for (; end < header.size(); ++end) {
    char c = header[end];
    if (c == '(')
      ++depth;
    else if (c == ')')
      --depth;
    else if ((c == ',' || c == '}') && depth == 0)
      break;
  }
  return header.substr(start, end - start);
}

Shape parseShape(std::string_view text, const std::string &path) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    fail(path, "npy shape '{}' is not a tuple", text);
  Shape shape;
  std::string_view inner = text.substr(1, text.size() - 2);
  while (!inner.empty()) {
    std::size_t comma = inner.find(',');
    std::string_view item = inner.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (!item.empty()) {
      std::int64_t d = -1;
      auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), d);
      if (ec != std::errc() || ptr != item.data() + item.size() || d < 0)
        fail(path, "npy shape '{}' has a bad dimension", text);
      shape.push_back(d);
    }
    if (comma == std::string_view::npos)
      break;
    inner.remove_prefix(comma + 1);
  }
  return shape;
}

template <typename T> double load(const char *p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return static_cast<double>(v);
}

} // namespace

Array parse(std::string_view bytes, const std::string &path) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic)
    fail(path, "not a .npy file (bad magic)");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  std::size_t headerLen = 0, headerStart = 0;
  if (major == 1) {
    headerLen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      fail(path, "truncated .npy header");
    std::uint32_t len = 0;
    std::memcpy(&len, bytes.data() + 8, 4);
    headerLen = len;
    headerStart = 12;
  } else {
    fail(path, "unsupported .npy version {}", major);
  }
  if (headerStart + headerLen > bytes.size())
    fail(path, "truncated .npy header");
  std::string_view header = bytes.substr(headerStart, headerLen);
  std::string_view descr = field(header, "descr", path);
  if (field(header, "fortran_order", path) != "False")
    fail(path, "Fortran-ordered .npy arrays are not supported");
  Array array;
  array.shape = parseShape(field(header, "shape", path), path);
  std::int64_t n = 0;
  try {
    n = numElements(array.shape);
  } catch (const InputError &e) {
    fail(path, "{}", e.what());
  }
  struct Kind {
    std::string_view descr;
    std::size_t size;
    double (*load)(const char *);
  };
  static const Kind kinds[] = {
      {"'<f4'", 4, load<float>},         {"'<f8'", 8, load<double>},       {"'<i4'", 4, load<std::int32_t>},
      {"'<i8'", 8, load<std::int64_t>},  {"'|u1'", 1, load<std::uint8_t>}, {"'|b1'", 1, load<std::uint8_t>},
      {"'<f2'", 2, [](const char *p) { return double(halfToFloat(static_cast<std::uint16_t>(load<std::uint16_t>(p)))); }},
  };
  const Kind *kind = nullptr;
  for (const Kind &k : kinds)
    if (k.descr == descr)
      kind = &k;
  if (!kind)
    fail(path, "unsupported .npy dtype {} (expected float16/32/64, int32/64, uint8 or bool, little-endian)",
         descr);
  std::size_t dataStart = headerStart + headerLen;
  std::size_t need = static_cast<std::size_t>(n) * kind->size;
  if (bytes.size() - dataStart != need)
    fail(path, "npy data has {} bytes, shape {} needs {}", bytes.size() - dataStart, shapeString(array.shape),
         need);
  array.data.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    array.data[static_cast<std::size_t>(i)] = kind->load(bytes.data() + dataStart + i * kind->size);
  return array;
}

Array readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, "cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  return parse(bytes, path);
}

std::string serialize(const Array &array) {
  std::string shape = "(";
  for (std::int64_t d : array.shape)
    shape += fmt::format("{},{}", d, array.shape.size() == 1 ? "" : " ");
  if (array.shape.size() > 1)
    shape.pop_back();
  shape += ")";
  std::string header = fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}", shape);
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  std::size_t at = out.size();
  out.resize(at + array.data.size() * 8);
  std::memcpy(out.data() + at, array.data.data(), array.data.size() * 8);
  return out;
}

} // namespace gm::npy
