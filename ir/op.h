// The Op enum and its static properties, expanded from ir/ops.def.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace gm {

constexpr int kVariadic = -1;

namespace OpTrait {
enum : std::uint32_t {
  Unary = 1u << 0,
  Binary = 1u << 1,
  Linear = 1u << 2,
  Weights = 1u << 3,
  Movement = 1u << 4,
  Bound = 1u << 5,
};
} // namespace OpTrait

enum class Op : std::uint16_t {
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits) Id,
#include "ir/ops.def"
};

struct OpInfo {
  std::string_view keyword;
  int minOperands;
  int maxOperands; // kVariadic: unbounded
  int numResults;
  std::uint32_t traits;
};

const OpInfo &opInfo(Op op);
inline std::string_view opKeyword(Op op) { return opInfo(op).keyword; }
inline bool hasTrait(Op op, std::uint32_t trait) { return (opInfo(op).traits & trait) != 0; }
std::optional<Op> opFromKeyword(std::string_view keyword);
int numOps();

} // namespace gm
