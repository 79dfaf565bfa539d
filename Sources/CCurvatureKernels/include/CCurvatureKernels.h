// Kernels in C where Swift cannot reach the instructions they need: AVX2 and FMA code in
// functions compiled for those extensions only (`target` attributes), chosen at run time
// after a CPU check, so the package's baseline stays x86-64 and needs no compiler flags.
// The one Swift file that calls them is CurvatureNumerics/NDArray+SymmetricProduct.swift.
#ifndef CCURVATUREKERNELS_H
#define CCURVATUREKERNELS_H

#include <stddef.h>

/// 1 when the processor and the operating system support AVX2 and FMA (CPUID and XGETBV),
/// 0 otherwise (and on processors other than x86-64). The kernels below need it.
int curvature_cpu_has_avx2_fma(void);

/// Rows of `S` per block of the symmetric right product: block `b` (rows `64·b ..< 64·b + 64`)
/// belongs to lane `b mod lanes`.
#define CURVATURE_SYMMETRIC_BLOCK_ROWS 64

/// One lane of `C += X·S` for rows `X` `[m, n]` and a symmetric `S` `[n, n]`, reading only
/// the upper triangle of `S` (with the diagonal): each element `S[i][j]`, `i < j`, is read
/// once and used twice, `C[:, j] += X[:, i]·S[i][j]` and `C[:, i] += X[:, j]·S[i][j]`.
/// Blocks of `CURVATURE_SYMMETRIC_BLOCK_ROWS` rows of `S` go to the lanes in turn;
/// every element of `C` receives its terms in an order fixed by `lanes` alone, so lanes
/// run on any threads with the same bits. Each lane needs its own `C` (summed by the
/// caller in lane order). All matrices are row-major with the given leading dimensions.
/// Needs `curvature_cpu_has_avx2_fma()`.
void curvature_symmetric_right_product_f32(
    const float *x, ptrdiff_t ldx, const float *s, ptrdiff_t lds, float *c, ptrdiff_t ldc,
    ptrdiff_t m, ptrdiff_t n, ptrdiff_t lane, ptrdiff_t lanes);

/// `curvature_symmetric_right_product_f32` in double precision.
void curvature_symmetric_right_product_f64(
    const double *x, ptrdiff_t ldx, const double *s, ptrdiff_t lds, double *c, ptrdiff_t ldc,
    ptrdiff_t m, ptrdiff_t n, ptrdiff_t lane, ptrdiff_t lanes);

#endif
