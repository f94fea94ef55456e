#include "ir/op.h"

#include <array>

namespace gm {

namespace {
using namespace OpTrait;
constexpr std::array kOpInfo = {
#define GAMMA_OP(Id, keyword, min_operands, max_operands, num_results, traits)                     \
  OpInfo{keyword, min_operands, max_operands, num_results, std::uint32_t(traits)},
#include "ir/ops.def"
};
} // namespace

const OpInfo &opInfo(Op op) { return kOpInfo[static_cast<std::size_t>(op)]; }

int numOps() { return static_cast<int>(kOpInfo.size()); }

std::optional<Op> opFromKeyword(std::string_view keyword) {
  for (std::size_t i = 0; i < kOpInfo.size(); ++i)
    if (kOpInfo[i].keyword == keyword)
      return static_cast<Op>(i);
  return std::nullopt;
}

} // namespace gm
