#include "codegen/emit_ir.h"

#include "ir/error.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>

namespace gm::codegen {

// Outward rounding on the integer view, which vectorises. Adding +0 turns -0
// into +0 (the one value whose bits would step the wrong way); then the bits
// of a non-negative x step up and those of a negative one down (towards
// zero), which is one ulp up either way.
llvm::Value *nextUpOrInf(Builder &b, llvm::Value *x) {
  llvm::Type *type = x->getType();
  llvm::Type *bitsType = type->getWithNewType(b.getInt64Ty());
  llvm::Value *noNegativeZero = b.CreateFAdd(x, llvm::ConstantFP::get(type, 0.0));
  llvm::Value *bits = b.CreateBitCast(noNegativeZero, bitsType);
  llvm::Value *step = b.CreateOr(b.CreateAShr(bits, 63), llvm::ConstantInt::get(bitsType, 1)); // +1 or -1
  llvm::Value *next = b.CreateBitCast(b.CreateAdd(bits, step), type);
  llvm::Value *infinity = llvm::ConstantFP::getInfinity(type);
  return b.CreateSelect(b.CreateFCmpUGE(x, infinity), infinity, next); // unordered: NaN
}

llvm::Value *nextDownOrInf(Builder &b, llvm::Value *x) { return b.CreateFNeg(nextUpOrInf(b, b.CreateFNeg(x))); }

llvm::Value *splat(llvm::Type *type, double value) { return llvm::ConstantFP::get(type, value); }

llvm::Value *fma(Builder &b, llvm::Value *x, llvm::Value *y, llvm::Value *acc) {
  return b.CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {x, y, acc});
}
llvm::Value *fabs(Builder &b, llvm::Value *x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x); }

llvm::Value *loadAt(Builder &b, llvm::Type *type, llvm::Value *base, llvm::Value *index) {
  llvm::Value *address = b.CreateInBoundsGEP(b.getDoubleTy(), base, index);
  return b.CreateAlignedLoad(type, address, llvm::Align(8));
}
void storeAt(Builder &b, llvm::Value *value, llvm::Value *base, llvm::Value *index) {
  llvm::Value *address = b.CreateInBoundsGEP(b.getDoubleTy(), base, index);
  b.CreateAlignedStore(value, address, llvm::Align(8));
}

namespace {

// A tail runs fewer iterations than a vector has lanes: vectorising or
// unrolling it would only add code and run-time checks.
void markScalarTail(Builder &b, llvm::Instruction *latchBranch) {
  llvm::LLVMContext &context = b.getContext();
  llvm::Metadata *noVectorize[] = {llvm::MDString::get(context, "llvm.loop.vectorize.enable"),
                                   llvm::ConstantAsMetadata::get(b.getFalse())};
  llvm::Metadata *noUnroll[] = {llvm::MDString::get(context, "llvm.loop.unroll.disable")};
  llvm::Metadata *hints[] = {nullptr, llvm::MDNode::get(context, noVectorize), llvm::MDNode::get(context, noUnroll)};
  llvm::MDNode *loopId = llvm::MDNode::getDistinct(context, hints);
  loopId->replaceOperandWith(0, loopId); // a loop id names itself
  latchBranch->setMetadata(llvm::LLVMContext::MD_loop, loopId);
}

void addKernelAttributes(llvm::Function &function, const TargetDesc &target) {
  function.addFnAttr(llvm::Attribute::NoUnwind);
  function.addFnAttr("target-cpu", target.cpu);
  if (!target.features.empty())
    function.addFnAttr("target-features", target.features);
  // Without these, x86 tuning for AVX-512 machines splits 512-bit vectors.
  function.addFnAttr("prefer-vector-width", std::to_string(target.vectorBits));
  function.addFnAttr("min-legal-vector-width", std::to_string(target.vectorBits));
}

} // namespace

Values emitLoop(Builder &b, const char *name, llvm::Value *begin, llvm::Value *end, std::int64_t step,
                const Values &carried, const std::function<Values(llvm::Value *, const Values &)> &body,
                LoopKind kind) {
  llvm::Function *function = b.GetInsertBlock()->getParent();
  llvm::LLVMContext &context = b.getContext();
  llvm::BasicBlock *before = b.GetInsertBlock();
  llvm::BasicBlock *loop = llvm::BasicBlock::Create(context, name, function);
  llvm::BasicBlock *after = llvm::BasicBlock::Create(context, std::string(name) + ".end", function);
  b.CreateCondBr(b.CreateICmpSLT(begin, end), loop, after);

  b.SetInsertPoint(loop);
  llvm::PHINode *index = b.CreatePHI(b.getInt64Ty(), 2);
  index->addIncoming(begin, before);
  std::vector<llvm::PHINode *> phis;
  Values current;
  for (llvm::Value *value : carried) {
    phis.push_back(b.CreatePHI(value->getType(), 2));
    phis.back()->addIncoming(value, before);
    current.push_back(phis.back());
  }
  Values next = body(index, current);
  llvm::BasicBlock *latch = b.GetInsertBlock();
  llvm::Value *nextIndex = b.CreateAdd(index, b.getInt64(step), "", /*HasNUW=*/true, /*HasNSW=*/true);
  index->addIncoming(nextIndex, latch);
  for (std::size_t i = 0; i < phis.size(); ++i)
    phis[i]->addIncoming(next[i], latch);
  llvm::Instruction *latchBranch = b.CreateCondBr(b.CreateICmpSLT(nextIndex, end), loop, after);
  if (kind == LoopKind::ScalarTail)
    markScalarTail(b, latchBranch);

  b.SetInsertPoint(after);
  Values out;
  for (std::size_t i = 0; i < carried.size(); ++i) {
    llvm::PHINode *merged = b.CreatePHI(carried[i]->getType(), 2);
    merged->addIncoming(carried[i], before);
    merged->addIncoming(next[i], latch);
    out.push_back(merged);
  }
  return out;
}

llvm::Function *declareKernel(llvm::Module &module, const std::string &name, llvm::FunctionType *type,
                              const TargetDesc &target, std::set<std::string> &names) {
  if (name.empty() || !names.insert(name).second)
    fail("codegen", "kernel name '{}' is empty or used twice", name);
  llvm::Function *function = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, module);
  addKernelAttributes(*function, target);
  for (llvm::Argument &arg : function->args())
    if (arg.getType()->isPointerTy())
      arg.addAttr(llvm::Attribute::NoCapture);
  return function;
}

} // namespace gm::codegen
