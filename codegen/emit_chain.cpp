// Elementwise interval chains: one read and one write per element, every
// rounded step moved one ulp outward (docs/SOUNDNESS.md, "JIT kernels").
#include "codegen/emit_ir.h"

#include "ir/error.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>

#include <cmath>

namespace gm::codegen {

namespace {

struct Interval {
  llvm::Value *lo, *hi;
};

Interval emitStep(Builder &b, const ChainStep &step, Interval x, const Values &operands, std::size_t &next,
                  llvm::Value *index) {
  llvm::Type *type = x.lo->getType();
  auto operand = [&] { return loadAt(b, type, operands[next++], index); };
  auto sum = [&](llvm::Value *addLo, llvm::Value *addHi) {
    return Interval{nextDownOrInf(b, b.CreateFAdd(x.lo, addLo)), nextUpOrInf(b, b.CreateFAdd(x.hi, addHi))};
  };
  switch (step.kind) {
  case StepKind::AddInterval: {
    llvm::Value *addLo = operand();
    return sum(addLo, operand());
  }
  case StepKind::AddVector: {
    llvm::Value *bias = operand();
    return sum(bias, bias);
  }
  case StepKind::AddScalar:
    return sum(splat(type, step.scalar), splat(type, step.scalar));
  case StepKind::MulVector: {
    llvm::Value *c = operand();
    llvm::Value *nonNegative = b.CreateFCmpOGE(c, splat(type, 0.0));
    llvm::Value *timesLo = b.CreateFMul(c, x.lo), *timesHi = b.CreateFMul(c, x.hi);
    llvm::Value *lo = nextDownOrInf(b, b.CreateSelect(nonNegative, timesLo, timesHi));
    llvm::Value *hi = nextUpOrInf(b, b.CreateSelect(nonNegative, timesHi, timesLo));
    // c = 0 gives exactly 0, also where a side is infinite (0 * inf is NaN).
    llvm::Value *zero = b.CreateFCmpOEQ(c, splat(type, 0.0));
    return {b.CreateSelect(zero, splat(type, 0.0), lo), b.CreateSelect(zero, splat(type, 0.0), hi)};
  }
  case StepKind::MulScalar: {
    double c = step.scalar;
    if (c == 0)
      return {splat(type, 0.0), splat(type, 0.0)};
    llvm::Value *timesLo = b.CreateFMul(splat(type, c), x.lo), *timesHi = b.CreateFMul(splat(type, c), x.hi);
    if (c > 0)
      return {nextDownOrInf(b, timesLo), nextUpOrInf(b, timesHi)};
    return {nextDownOrInf(b, timesHi), nextUpOrInf(b, timesLo)};
  }
  case StepKind::Relu: {
    // maxnum(NaN, 0) = 0 is right for a lower bound (NaN reads as -inf) but
    // not for an upper one (NaN reads as +inf).
    llvm::Value *zero = splat(type, 0.0);
    llvm::Value *hi = b.CreateMaxNum(x.hi, zero);
    hi = b.CreateSelect(b.CreateFCmpUNO(x.hi, x.hi), llvm::ConstantFP::getInfinity(type), hi);
    return {b.CreateMaxNum(x.lo, zero), hi};
  }
  }
  internalError(__FILE__, __LINE__, "unhandled chain step");
}

} // namespace

void emitChain(llvm::Module &module, const IntervalChain &chain, const TargetDesc &target,
               std::set<std::string> &names) {
  for (const ChainStep &step : chain.steps)
    if ((step.kind == StepKind::AddScalar || step.kind == StepKind::MulScalar) && !std::isfinite(step.scalar))
      fail("codegen", "kernel '{}': a scalar step needs a finite constant, not {}", chain.name, step.scalar);

  llvm::LLVMContext &context = module.getContext();
  Builder b(context);
  llvm::Type *ptr = b.getPtrTy(), *i64 = b.getInt64Ty();
  auto *type = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, ptr, ptr, ptr, i64}, false);
  llvm::Function *function = declareKernel(module, chain.name, type, target, names);
  llvm::Value *inLo = function->getArg(0), *inHi = function->getArg(1);
  llvm::Value *outLo = function->getArg(2), *outHi = function->getArg(3);
  llvm::Value *operandTable = function->getArg(4), *n = function->getArg(5);
  for (int i : {0, 1})
    function->getArg(i)->addAttr(llvm::Attribute::ReadOnly);
  function->getArg(4)->addAttr(llvm::Attribute::ReadOnly);

  b.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", function));
  Values operands;
  for (const ChainStep &step : chain.steps)
    for (int i = 0; i < operandCount(step.kind); ++i) {
      llvm::Value *slot = b.CreateInBoundsGEP(ptr, operandTable, b.getInt64(operands.size()));
      operands.push_back(b.CreateAlignedLoad(ptr, slot, llvm::Align(8)));
    }

  auto element = [&](llvm::Type *type, llvm::Value *index) {
    Interval x{loadAt(b, type, inLo, index), loadAt(b, type, inHi, index)};
    std::size_t next = 0;
    for (const ChainStep &step : chain.steps)
      x = emitStep(b, step, x, operands, next, index);
    storeAt(b, x.lo, outLo, index);
    storeAt(b, x.hi, outHi, index);
  };
  unsigned lanes = target.lanes();
  llvm::Type *vector = llvm::FixedVectorType::get(b.getDoubleTy(), lanes);
  llvm::Value *vectorEnd = b.CreateAnd(n, b.getInt64(-static_cast<std::int64_t>(lanes)));
  emitLoop(b, "vector", b.getInt64(0), vectorEnd, lanes, {}, [&](llvm::Value *i, const Values &) {
    element(vector, i);
    return Values{};
  });
  emitLoop(
      b, "tail", vectorEnd, n, 1, {},
      [&](llvm::Value *i, const Values &) {
        element(b.getDoubleTy(), i);
        return Values{};
      },
      LoopKind::ScalarTail);
  b.CreateRetVoid();
}

} // namespace gm::codegen
