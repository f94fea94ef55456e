// IR building blocks shared by the kernel emitters (codegen-internal).
//
// Every value helper works on a double or on a vector of doubles alike, so
// one generator writes both a kernel's vector body and its scalar tail.
#pragma once

#include "codegen/kernel_spec.h"
#include "codegen/target_desc.h"

#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace gm::codegen {

using Builder = llvm::IRBuilder<>;
using Values = std::vector<llvm::Value *>;

// The next double above x; NaN and +inf give +inf (a NaN upper bound reads
// as "no bound"). The same as fp::upperOrInf(fp::nextUp(x)).
llvm::Value *nextUpOrInf(Builder &b, llvm::Value *x);
// The next double below x; NaN and -inf give -inf.
llvm::Value *nextDownOrInf(Builder &b, llvm::Value *x);

llvm::Value *splat(llvm::Type *type, double value);
llvm::Value *fma(Builder &b, llvm::Value *x, llvm::Value *y, llvm::Value *acc);
llvm::Value *fabs(Builder &b, llvm::Value *x);
// Element `index` of a double array (a vector of them for a vector type).
llvm::Value *loadAt(Builder &b, llvm::Type *type, llvm::Value *base, llvm::Value *index);
void storeAt(Builder &b, llvm::Value *value, llvm::Value *base, llvm::Value *index);

enum class LoopKind {
  Plain,
  ScalarTail, // fewer iterations than a vector has lanes: not vectorised or unrolled
};

// `for (i = begin; i < end; i += step)` carrying `carried` through the
// iterations; returns the carried values after the loop (the initial ones when
// it runs zero times).
Values emitLoop(Builder &b, const char *name, llvm::Value *begin, llvm::Value *end, std::int64_t step,
                const Values &carried, const std::function<Values(llvm::Value *, const Values &)> &body,
                LoopKind kind = LoopKind::Plain);

// An external function with the target's attributes; `names` catches a name
// used twice in one module.
llvm::Function *declareKernel(llvm::Module &module, const std::string &name, llvm::FunctionType *type,
                              const TargetDesc &target, std::set<std::string> &names);

// The kernel families (emit_chain.cpp, emit_product.cpp).
void emitChain(llvm::Module &module, const IntervalChain &chain, const TargetDesc &target,
               std::set<std::string> &names);
void emitProduct(llvm::Module &module, const PosNegProduct &product, const TargetDesc &target,
                 std::set<std::string> &names);

} // namespace gm::codegen
