// The fused pos/neg product: W+ l + W- u and W+ u + W- l with the sign split
// in registers, fma accumulation in lanes and fp::sumError's outward term
// (docs/SOUNDNESS.md, "JIT kernels").
#include "codegen/emit_ir.h"

#include "ir/error.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>

namespace gm::codegen {

namespace {

struct ProductArgs {
  llvm::Value *w, *lo, *hi, *yLo, *yHi, *m, *k;
  llvm::Value *errorRel, *errorAbs; // fp::sumErrorRel(k), fp::sumErrorAbs(k)
};

// Outputs rows..rows+count-1 of batch row `row`: `count` rows of W share each
// load of the input interval.
void emitTile(Builder &b, const ProductArgs &p, const TargetDesc &target, llvm::Value *first, unsigned count,
              llvm::Value *row) {
  unsigned lanes = target.lanes();
  llvm::Type *vector = llvm::FixedVectorType::get(b.getDoubleTy(), lanes);
  llvm::Value *inputOffset = b.CreateMul(row, p.k);
  llvm::Value *lo = b.CreateInBoundsGEP(b.getDoubleTy(), p.lo, inputOffset);
  llvm::Value *hi = b.CreateInBoundsGEP(b.getDoubleTy(), p.hi, inputOffset);
  Values weights;
  for (unsigned r = 0; r < count; ++r) {
    llvm::Value *wRow = b.CreateAdd(first, b.getInt64(r));
    weights.push_back(b.CreateInBoundsGEP(b.getDoubleTy(), p.w, b.CreateMul(wRow, p.k)));
  }

  // Accumulators per row of W: sum lo, sum hi, sum |w|*max(|l|,|u|).
  auto step = [&](llvm::Type *type, llvm::Value *j, const Values &acc) {
    llvm::Value *l = loadAt(b, type, lo, j), *u = loadAt(b, type, hi, j);
    // std::max(|l|, |u|) as the C++ path writes it (one vmaxpd on x86).
    llvm::Value *absL = fabs(b, l), *absU = fabs(b, u);
    llvm::Value *magnitude = b.CreateSelect(b.CreateFCmpOLT(absL, absU), absU, absL);
    Values next;
    for (unsigned r = 0; r < count; ++r) {
      llvm::Value *w = loadAt(b, type, weights[r], j);
      llvm::Value *positive = b.CreateFCmpOGE(w, splat(type, 0.0)); // W+ takes l for the lower sum, W- takes u
      next.push_back(fma(b, w, b.CreateSelect(positive, l, u), acc[3 * r]));
      next.push_back(fma(b, w, b.CreateSelect(positive, u, l), acc[3 * r + 1]));
      next.push_back(fma(b, fabs(b, w), magnitude, acc[3 * r + 2]));
    }
    return next;
  };
  llvm::Value *vectorEnd = b.CreateAnd(p.k, b.getInt64(-static_cast<std::int64_t>(lanes)));
  Values sums = emitLoop(b, "dot", b.getInt64(0), vectorEnd, lanes, Values(3 * count, splat(vector, 0.0)),
                         [&](llvm::Value *j, const Values &acc) { return step(vector, j, acc); });
  for (llvm::Value *&sum : sums)
    sum = b.CreateFAddReduce(splat(b.getDoubleTy(), -0.0), sum);
  sums = emitLoop(
      b, "dot.tail", vectorEnd, p.k, 1, sums,
      [&](llvm::Value *j, const Values &acc) { return step(b.getDoubleTy(), j, acc); }, LoopKind::ScalarTail);

  llvm::Value *outputOffset = b.CreateMul(row, p.m);
  for (unsigned r = 0; r < count; ++r) {
    // The same operations as fp::sumError, so the term equals the C++ path's.
    llvm::Value *error = b.CreateFAdd(b.CreateFMul(p.errorRel, sums[3 * r + 2]), p.errorAbs);
    llvm::Value *yLo = nextDownOrInf(b, b.CreateFSub(sums[3 * r], error));
    llvm::Value *yHi = nextUpOrInf(b, b.CreateFAdd(sums[3 * r + 1], error));
    llvm::Value *at = b.CreateAdd(outputOffset, b.CreateAdd(first, b.getInt64(r)));
    storeAt(b, yLo, p.yLo, at);
    storeAt(b, yHi, p.yHi, at);
  }
}

} // namespace

void emitProduct(llvm::Module &module, const PosNegProduct &product, const TargetDesc &target,
                 std::set<std::string> &names) {
  if (product.m < 0 || product.k < 0)
    fail("codegen", "kernel '{}': negative shape {}x{}", product.name, product.m, product.k);
  llvm::LLVMContext &context = module.getContext();
  Builder b(context);
  llvm::Type *ptr = b.getPtrTy(), *i64 = b.getInt64Ty();
  auto *type = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, ptr, ptr, ptr, i64, i64, i64}, false);
  llvm::Function *function = declareKernel(module, product.name, type, target, names);
  for (int i : {0, 1, 2})
    function->getArg(i)->addAttr(llvm::Attribute::ReadOnly);
  b.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", function));

  ProductArgs p{function->getArg(0), function->getArg(1), function->getArg(2), function->getArg(3),
                function->getArg(4), function->getArg(5), function->getArg(6), nullptr, nullptr};
  if (product.m > 0)
    p.m = b.getInt64(product.m);
  if (product.k > 0)
    p.k = b.getInt64(product.k);
  llvm::Value *batch = function->getArg(7);
  // fp::sumErrorRel(k) = (k + 2) * 2^-52, fp::sumErrorAbs(k) = (k + 1) * 2^-1000.
  p.errorRel = b.CreateFMul(b.CreateSIToFP(b.CreateAdd(p.k, b.getInt64(2)), b.getDoubleTy()), splat(b.getDoubleTy(), 0x1p-52));
  p.errorAbs = b.CreateFMul(b.CreateSIToFP(b.CreateAdd(p.k, b.getInt64(1)), b.getDoubleTy()), splat(b.getDoubleTy(), 0x1p-1000));

  // Enough rows of W per tile to keep the fma units busy without spilling
  // the 3 accumulators per row.
  unsigned tileRows = target.vectorRegisters >= 32 ? 4 : 2;
  llvm::Value *tiledEnd = b.CreateMul(b.CreateSDiv(p.m, b.getInt64(tileRows)), b.getInt64(tileRows));
  // W rows outside, batch rows inside: a tile of W stays in L1 for the batch.
  emitLoop(b, "rows", b.getInt64(0), tiledEnd, tileRows, {}, [&](llvm::Value *first, const Values &) {
    emitLoop(b, "batch", b.getInt64(0), batch, 1, {}, [&](llvm::Value *row, const Values &) {
      emitTile(b, p, target, first, tileRows, row);
      return Values{};
    });
    return Values{};
  });
  emitLoop(b, "rows.tail", tiledEnd, p.m, 1, {}, [&](llvm::Value *first, const Values &) {
    emitLoop(b, "batch", b.getInt64(0), batch, 1, {}, [&](llvm::Value *row, const Values &) {
      emitTile(b, p, target, first, 1, row);
      return Values{};
    });
    return Values{};
  });
  b.CreateRetVoid();
}

} // namespace gm::codegen
