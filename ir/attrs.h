// Node attributes: a small record of named values, kept sorted by name so the
// printed form is deterministic. Which attributes an op needs is checked by its
// type rule (ir/type_rules.cpp); a missing one is a verifier error naming the node.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gm {

using AttrValue = std::variant<std::int64_t, double, std::string, std::vector<std::int64_t>, std::vector<double>>;

class Attrs {
public:
  void set(std::string_view name, AttrValue value);
  bool has(std::string_view name) const { return find(name) != nullptr; }
  const AttrValue *find(std::string_view name) const;

  // Typed getters throw InputError("attribute 'name' missing or not <type>").
  std::int64_t getInt(std::string_view name) const;
  double getFloat(std::string_view name) const; // accepts an integer value too
  const std::string &getString(std::string_view name) const;
  const std::vector<std::int64_t> &getInts(std::string_view name) const;
  std::vector<double> getFloats(std::string_view name) const;

  std::int64_t getInt(std::string_view name, std::int64_t fallback) const;
  double getFloat(std::string_view name, double fallback) const;
  std::vector<std::int64_t> getInts(std::string_view name, std::vector<std::int64_t> fallback) const;

  const std::vector<std::pair<std::string, AttrValue>> &entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  bool operator==(const Attrs &) const = default;

private:
  std::vector<std::pair<std::string, AttrValue>> entries_;
};

} // namespace gm
