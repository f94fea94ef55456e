// The kernels a bound program needs, described without LLVM: lowering maps
// bound-program ops to these records, codegen turns them into machine code.
//
// Every kernel works on f64 intervals (a lower and an upper array) and rounds
// outward without touching the CPU rounding mode (docs/SOUNDNESS.md, "JIT
// kernels"). The entry points have fixed C signatures, so one function pointer
// type serves every kernel of a family whatever its steps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gm::codegen {

// ---- Elementwise interval chains (the fuse-mul-add kernels) ----------------
//
// Each step maps the current interval [lo, hi] of an element to an interval
// that contains the exact image of every point of it. Results of rounded
// operations are moved one ulp outward (a round-to-nearest result is within
// half an ulp of the exact value); relu is exact.
enum class StepKind {
  AddInterval, // [lo + a_lo, hi + a_hi]; two operand arrays (a_lo, a_hi)
  AddVector,   // [lo + b, hi + b]; one operand array b (a bias)
  AddScalar,   // [lo + s, hi + s]; s = ChainStep::scalar
  MulVector,   // c >= 0 ? [c*lo, c*hi] : [c*hi, c*lo]; one operand array c
  MulScalar,   // the same with c = ChainStep::scalar, sides chosen at compile time
  Relu,        // [max(lo, 0), max(hi, 0)]
};

struct ChainStep {
  StepKind kind;
  double scalar = 0; // AddScalar, MulScalar
};

// Number of operand arrays a step reads (in the order of the steps).
inline int operandCount(StepKind kind) {
  switch (kind) {
  case StepKind::AddInterval:
    return 2;
  case StepKind::AddVector:
  case StepKind::MulVector:
    return 1;
  case StepKind::AddScalar:
  case StepKind::MulScalar:
  case StepKind::Relu:
    return 0;
  }
  return 0;
}

// outLo/outHi may equal inLo/inHi (in place) but must not overlap them
// otherwise. operands[i] is the i-th operand array of the steps, each of n
// elements. One read and one write of every element of lo and hi.
using ChainFn = void (*)(const double *inLo, const double *inHi, double *outLo, double *outHi,
                         const double *const *operands, std::int64_t n);

struct IntervalChain {
  std::string name; // the entry symbol
  std::vector<ChainStep> steps;
};

// ---- Fused pos/neg dense product (the fuse-pos-neg kernels) ----------------
//
// For each of `batch` input intervals [l, u] (rows of k elements, row-major)
// and a constant weight matrix W (m x k, row-major):
//   s_lo = sum_j W_ij * (W_ij >= 0 ? l_j : u_j)     (= W+ l + W- u)
//   s_hi = sum_j W_ij * (W_ij >= 0 ? u_j : l_j)     (= W+ u + W- l)
//   a    = sum_j |W_ij| * max(|l_j|, |u_j|)
//   e    = sumError(k, a)                          (bounds/fp.h)
//   yLo_i = nextDown(s_lo - e), yHi_i = nextUp(s_hi + e); NaN -> -inf / +inf
// Products are accumulated with explicit fma in vector lanes; the error term
// covers any summation order and the fma's single rounding. The sign split
// happens in registers as W is read, so W is read once per tile and a side
// that is not selected (0 * inf) is never formed.
//
// yLo, yHi: batch rows of m elements. k and m are the run-time arguments
// unless fixed here (a non-zero value bakes the shape into the code and the
// argument is ignored).
using PosNegFn = void (*)(const double *w, const double *lo, const double *hi, double *yLo, double *yHi,
                          std::int64_t m, std::int64_t k, std::int64_t batch);

struct PosNegProduct {
  std::string name; // the entry symbol
  std::int64_t m = 0, k = 0;
};

// Everything one module (one JIT session, one object file) holds.
struct KernelSet {
  std::vector<IntervalChain> chains;
  std::vector<PosNegProduct> products;
};

} // namespace gm::codegen
