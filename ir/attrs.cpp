#include "ir/attrs.h"

#include "ir/error.h"

#include <algorithm>

namespace gm {

void Attrs::set(std::string_view name, AttrValue value) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto &entry, std::string_view n) { return entry.first < n; });
  if (it != entries_.end() && it->first == name)
    it->second = std::move(value);
  else
    entries_.emplace(it, std::string(name), std::move(value));
}

const AttrValue *Attrs::find(std::string_view name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto &entry, std::string_view n) { return entry.first < n; });
  return it != entries_.end() && it->first == name ? &it->second : nullptr;
}

namespace {
template <typename T>
const T &getAs(const Attrs &attrs, std::string_view name, const char *what) {
  const AttrValue *v = attrs.find(name);
  if (!v)
    fail("", "attribute '{}' missing", name);
  if (const T *p = std::get_if<T>(v))
    return *p;
  fail("", "attribute '{}' is not {}", name, what);
}
} // namespace

std::int64_t Attrs::getInt(std::string_view name) const { return getAs<std::int64_t>(*this, name, "an integer"); }

double Attrs::getFloat(std::string_view name) const {
  if (const AttrValue *v = find(name))
    if (const auto *i = std::get_if<std::int64_t>(v))
      return static_cast<double>(*i);
  return getAs<double>(*this, name, "a float");
}

const std::string &Attrs::getString(std::string_view name) const {
  return getAs<std::string>(*this, name, "a string");
}

const std::vector<std::int64_t> &Attrs::getInts(std::string_view name) const {
  return getAs<std::vector<std::int64_t>>(*this, name, "a list of integers");
}

std::vector<double> Attrs::getFloats(std::string_view name) const {
  if (const AttrValue *v = find(name))
    if (const auto *ints = std::get_if<std::vector<std::int64_t>>(v))
      return {ints->begin(), ints->end()};
  return getAs<std::vector<double>>(*this, name, "a list of floats");
}

std::int64_t Attrs::getInt(std::string_view name, std::int64_t fallback) const {
  return has(name) ? getInt(name) : fallback;
}

double Attrs::getFloat(std::string_view name, double fallback) const {
  return has(name) ? getFloat(name) : fallback;
}

std::vector<std::int64_t> Attrs::getInts(std::string_view name, std::vector<std::int64_t> fallback) const {
  return has(name) ? getInts(name) : fallback;
}

} // namespace gm
