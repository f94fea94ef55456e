// The CROWN row ops of a bound program at the direct path's speed: lb.affine
// by a BLAS product, lb.relax_pn and lb.concretize_pn by bounds/'s vectorised
// row sums. Each computes what ref::boundOpInto computes for the op (docs/IR.md)
// with the same error terms; only the order of the sums differs, which those
// terms cover (fp::sumError holds for any order, docs/SOUNDNESS.md), so the
// results agree with the interpreter's to rounding and both are sound.
// Operands are row-major; outputs must not overlap them. `scratch` holds
// one double per column of the op's rows.
#pragma once

#include <cstdint>

namespace gm::rowops {

// lb.affine: rows A (R x m), constants c on z = W h + b (W m x k, b optional)
// -> rows A W (R x k) and constants on h.
void affine(const double *A, const double *c, const double *W, const double *hlo, const double *hhi,
            const double *b, std::int64_t R, std::int64_t m, std::int64_t k, double *outA, double *outC,
            double *scratch);

// lb.relax_pn: rows through the relaxation lines (kl, bl, ku, bu) of z in [zlo, zhi].
void relax(const double *A, const double *c, const double *kl, const double *bl, const double *ku,
           const double *bu, const double *zlo, const double *zhi, std::int64_t R, std::int64_t n, double *outA,
           double *outC, double *scratch);

// lb.concretize_pn: the lower bound of each row over the box [lo, hi].
void concretize(const double *A, const double *c, const double *lo, const double *hi, std::int64_t R,
                std::int64_t n, double *out);

} // namespace gm::rowops
