// The CROWN row ops of a bound program at the direct path's speed: lb.affine
// by a BLAS product, lb.relax_pn and lb.concretize_pn by bounds/'s vectorised
// row sums. Each computes what ref::boundOpInto computes for the op (docs/IR.md)
// with the same error terms; only the order of the sums differs, which those
// terms cover (fp::sumError holds for any order, docs/SOUNDNESS.md), so the
// results agree with the interpreter's to rounding and both are sound.
// Operands are row-major; outputs must not overlap them. `scratch` holds
// one double per column of the op's rows (lb.affine: affineScratch).
#pragma once

#include <cstdint>

namespace gm::rowops {

// lb.affine: rows A (R x m), constants c on z = W h + b (W m x k, b optional)
// -> rows A W (R x k) into outA, and constants on h. v = magnitudes(|W|, h),
// which depends only on the layer: a runner computes it once per run and
// layer, not once per pass. The product and the sums skip the columns of A
// that are zero in every row (neurons an inactive ReLU cut off). outA null:
// the constants only (A W known already, A constant).
void magnitudes(const double *absW, const double *hlo, const double *hhi, std::int64_t m, std::int64_t k,
                double *v, double *scratch /* k */);
void affine(const double *A, const double *c, const double *W, const double *v, const double *b, std::int64_t R,
            std::int64_t m, std::int64_t k, double *outA, double *outC, double *scratch);
std::int64_t affineScratch(std::int64_t R, std::int64_t m, std::int64_t k); // doubles
// A W, plainly (for folding constant rows once).
void product(const double *A, const double *W, std::int64_t R, std::int64_t m, std::int64_t k, double *out);

// lb.relax_pn: rows through the relaxation lines (kl, bl, ku, bu) of z in [zlo, zhi].
void relax(const double *A, const double *c, const double *kl, const double *bl, const double *ku,
           const double *bu, const double *zlo, const double *zhi, std::int64_t R, std::int64_t n, double *outA,
           double *outC, double *scratch);

// lb.concretize_pn: the lower bound of each row over the box [lo, hi].
void concretize(const double *A, const double *c, const double *lo, const double *hi, std::int64_t R,
                std::int64_t n, double *out);

// lb.settle: rows [lower; upper] of ReLU inputs on z = W h + b (A R x m,
// W m x k, v as for affine) -> the lower bound of each row over h's box [hlo, hhi], pairs
// that z's interval proves stable keeping the bound against it. Only the
// rows left go through the product (gathered, zero columns skipped).
void settle(const double *A, const double *c, const double *zlo, const double *zhi, const double *W,
            const double *v, const double *hlo, const double *hhi, const double *b, std::int64_t R, std::int64_t m, std::int64_t k,
            double *out, double *scratch);
std::int64_t settleScratch(std::int64_t R, std::int64_t m, std::int64_t k); // doubles

} // namespace gm::rowops
