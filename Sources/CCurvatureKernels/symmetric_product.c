// The symmetric right product `C += X·S` reading only S's upper triangle (see the header).
// One body (symmetric_product_body.h) is compiled twice, for float and double, with AVX2
// intrinsics in functions carrying `target("avx2,fma")`; callers check
// curvature_cpu_has_avx2_fma() first.
#include "CCurvatureKernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

int curvature_cpu_has_avx2_fma(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!(fma && osxsave && avx)) return 0;
  // The operating system saves the YMM registers (XCR0 bits 1 and 2).
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  if ((lo & 6) != 6) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b >> 5) & 1;
}

// Rows of S per block (one lane's unit of work) and columns per block right of the
// diagonal: a 64 × 256 block of float is 64 KiB (L2), its rows of X 8 × 256 (L1).
#define BLOCK_ROWS CURVATURE_SYMMETRIC_BLOCK_ROWS
#define BLOCK_COLUMNS 256
// How many rows of S ahead the column use prefetches.
#define PREFETCH_ROWS 4

#define SCALAR float
#define VECTOR __m256
#define WIDTH 8
#define LOAD(p) _mm256_loadu_ps(p)
#define STORE(p, v) _mm256_storeu_ps(p, v)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define BROADCAST(p) _mm256_broadcast_ss(p)
#define ZERO() _mm256_setzero_ps()
#define ADD(a, b) _mm256_add_ps(a, b)
#define NAMED(f) f##_f32
#include "symmetric_product_body.h"
#undef SCALAR
#undef VECTOR
#undef WIDTH
#undef LOAD
#undef STORE
#undef FMA
#undef BROADCAST
#undef ZERO
#undef ADD
#undef NAMED

#define SCALAR double
#define VECTOR __m256d
#define WIDTH 4
#define LOAD(p) _mm256_loadu_pd(p)
#define STORE(p, v) _mm256_storeu_pd(p, v)
#define FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define BROADCAST(p) _mm256_broadcast_sd(p)
#define ZERO() _mm256_setzero_pd()
#define ADD(a, b) _mm256_add_pd(a, b)
#define NAMED(f) f##_f64
#include "symmetric_product_body.h"

#else

int curvature_cpu_has_avx2_fma(void) { return 0; }

// Never called without AVX2 (the check above is 0); defined so the symbols exist.
void curvature_symmetric_right_product_f32(
    const float *x, ptrdiff_t ldx, const float *s, ptrdiff_t lds, float *c, ptrdiff_t ldc,
    ptrdiff_t m, ptrdiff_t n, ptrdiff_t lane, ptrdiff_t lanes) {
  (void)x; (void)ldx; (void)s; (void)lds; (void)c; (void)ldc; (void)m; (void)n; (void)lane; (void)lanes;
}
void curvature_symmetric_right_product_f64(
    const double *x, ptrdiff_t ldx, const double *s, ptrdiff_t lds, double *c, ptrdiff_t ldc,
    ptrdiff_t m, ptrdiff_t n, ptrdiff_t lane, ptrdiff_t lanes) {
  (void)x; (void)ldx; (void)s; (void)lds; (void)c; (void)ldc; (void)m; (void)n; (void)lane; (void)lanes;
}

#endif
