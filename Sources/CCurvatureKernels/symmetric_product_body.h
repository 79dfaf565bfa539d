// The body of symmetric_product.c, included once per precision with SCALAR, VECTOR
// (WIDTH lanes), LOAD/STORE (unaligned), FMA(a, b, c) = a·b + c, BROADCAST, ZERO, ADD and
// NAMED(f) (the precision's suffix) defined. Not a header of its own: no include guard.

/// The sum of a vector's lanes, left to right.
__attribute__((target("avx2,fma"))) static inline SCALAR NAMED(lane_sum)(VECTOR v) {
  SCALAR lanes[WIDTH];
  STORE(lanes, v);
  SCALAR total = lanes[0];
  for (int k = 1; k < WIDTH; k++) total += lanes[k];
  return total;
}

// `C[q][j0 + j] += Σ_i P[i][q]·B[i][j]` for G rows q, rows i < rows of the block `B`
// (leading dimension ldb) and columns j < width: the row use. `P` holds X's values for the
// block's rows, packed by row (broadcasts from constant offsets). Whole vectors, then
// scalar columns.
#define DEFINE_ROW_USE(G)                                                                        \
  __attribute__((target("avx2,fma"))) static inline void NAMED(row_use_g##G)(                   \
      SCALAR packed[][G], const SCALAR *b, ptrdiff_t ldb, ptrdiff_t rows, ptrdiff_t width,       \
      SCALAR *c, ptrdiff_t ldc) {                                                                \
    ptrdiff_t wv = width / WIDTH * WIDTH;                                                        \
    for (ptrdiff_t j = 0; j < wv; j += WIDTH) {                                                  \
      VECTOR acc[G];                                                                             \
      for (int q = 0; q < G; q++) acc[q] = ZERO();                                               \
      for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        VECTOR bv = LOAD(b + i * ldb + j);                                                       \
        for (int q = 0; q < G; q++) acc[q] = FMA(BROADCAST(&packed[i][q]), bv, acc[q]);          \
      }                                                                                          \
      for (int q = 0; q < G; q++) STORE(c + q * ldc + j, ADD(LOAD(c + q * ldc + j), acc[q]));    \
    }                                                                                            \
    for (ptrdiff_t j = wv; j < width; j++) {                                                     \
      for (int q = 0; q < G; q++) {                                                              \
        SCALAR sum = 0;                                                                          \
        for (ptrdiff_t i = 0; i < rows; i++) sum += packed[i][q] * b[i * ldb + j];               \
        c[q * ldc + j] += sum;                                                                   \
      }                                                                                          \
    }                                                                                            \
  }

// One block row of S (rows i0..<i1) for G rows of X and C starting at `x` and `c`:
// 1. the diagonal block, its upper triangle mirrored into a local copy, by the row use;
// 2. the blocks right of it (BLOCK_COLUMNS at a time): first the column use
//    `C[q][i] += Σ_j X[q][j]·S[i][j]` (rows of S read in order, so the block's first touch
//    streams; X's columns copied to a local block so every load has a constant offset),
//    then the row use `C[q][j] += Σ_i X[q][i]·S[i][j]` (the block again, from cache).
// The column use keeps its vector partial sums per row of S across the blocks and adds
// each one's lanes once, at the end. Every sum has a fixed order.
#define DEFINE_GROUP(G)                                                                          \
  DEFINE_ROW_USE(G)                                                                              \
  __attribute__((target("avx2,fma"))) static void NAMED(block_row_g##G)(                        \
      const SCALAR *x, ptrdiff_t ldx, const SCALAR *s, ptrdiff_t lds, SCALAR *c, ptrdiff_t ldc, \
      ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t n) {                                                 \
    ptrdiff_t rows = i1 - i0;                                                                    \
    SCALAR packed[BLOCK_ROWS][G];                                                                \
    for (ptrdiff_t i = 0; i < rows; i++)                                                         \
      for (int q = 0; q < G; q++) packed[i][q] = x[q * ldx + i0 + i];                            \
    {                                                                                            \
      SCALAR diagonal[BLOCK_ROWS][BLOCK_ROWS];                                                   \
      for (ptrdiff_t i = 0; i < rows; i++)                                                       \
        for (ptrdiff_t j = i; j < rows; j++) {                                                   \
          SCALAR v = s[(i0 + i) * lds + i0 + j];                                                 \
          diagonal[i][j] = v;                                                                    \
          diagonal[j][i] = v;                                                                    \
        }                                                                                        \
      NAMED(row_use_g##G)(packed, &diagonal[0][0], BLOCK_ROWS, rows, rows, c + i0, ldc);         \
    }                                                                                            \
    if (i1 == n) return;                                                                         \
    VECTOR partial[BLOCK_ROWS][G];                                                               \
    SCALAR tail[BLOCK_ROWS][G];                                                                  \
    SCALAR columns[G][BLOCK_COLUMNS];                                                            \
    for (ptrdiff_t i = 0; i < rows; i++)                                                         \
      for (int q = 0; q < G; q++) { partial[i][q] = ZERO(); tail[i][q] = 0; }                   \
    for (ptrdiff_t j0 = i1; j0 < n; j0 += BLOCK_COLUMNS) {                                       \
      ptrdiff_t width = n - j0 < BLOCK_COLUMNS ? n - j0 : BLOCK_COLUMNS;                         \
      ptrdiff_t wv = width / WIDTH * WIDTH;                                                      \
      for (int q = 0; q < G; q++) memcpy(columns[q], x + q * ldx + j0, (size_t)width * sizeof(SCALAR)); \
      for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        const SCALAR *row = s + (i0 + i) * lds + j0;                                             \
        /* A few rows ahead: each row's piece is too short for the hardware prefetcher. */       \
        const char *ahead = (const char *)(row + PREFETCH_ROWS * lds);                           \
        int prefetch = i + PREFETCH_ROWS < rows;                                                 \
        VECTOR acc[G];                                                                           \
        for (int q = 0; q < G; q++) acc[q] = partial[i][q];                                      \
        for (ptrdiff_t j = 0; j < wv; j += WIDTH) {                                              \
          if (prefetch) _mm_prefetch(ahead + j * (ptrdiff_t)sizeof(SCALAR), _MM_HINT_T0);        \
          VECTOR sv = LOAD(row + j);                                                             \
          for (int q = 0; q < G; q++) acc[q] = FMA(LOAD(&columns[q][j]), sv, acc[q]);            \
        }                                                                                        \
        for (int q = 0; q < G; q++) {                                                            \
          partial[i][q] = acc[q];                                                                \
          for (ptrdiff_t j = wv; j < width; j++) tail[i][q] += columns[q][j] * row[j];           \
        }                                                                                        \
      }                                                                                          \
      NAMED(row_use_g##G)(packed, s + i0 * lds + j0, lds, rows, width, c + j0, ldc);             \
    }                                                                                            \
    for (ptrdiff_t i = 0; i < rows; i++)                                                         \
      for (int q = 0; q < G; q++) c[q * ldc + i0 + i] += NAMED(lane_sum)(partial[i][q]) + tail[i][q]; \
  }

DEFINE_GROUP(12)
DEFINE_GROUP(10)
DEFINE_GROUP(8)
DEFINE_GROUP(6)
DEFINE_GROUP(4)
DEFINE_GROUP(2)
DEFINE_GROUP(1)
#undef DEFINE_GROUP
#undef DEFINE_ROW_USE

__attribute__((target("avx2,fma"))) void NAMED(curvature_symmetric_right_product)(
    const SCALAR *x, ptrdiff_t ldx, const SCALAR *s, ptrdiff_t lds, SCALAR *c, ptrdiff_t ldc,
    ptrdiff_t m, ptrdiff_t n, ptrdiff_t lane, ptrdiff_t lanes) {
  for (ptrdiff_t i0 = lane * BLOCK_ROWS; i0 < n; i0 += lanes * BLOCK_ROWS) {
    ptrdiff_t i1 = i0 + BLOCK_ROWS < n ? i0 + BLOCK_ROWS : n;
    // The rows of X and C in groups of at most 12 (accumulators in registers).
    for (ptrdiff_t r = 0; r < m;) {
      ptrdiff_t left = m - r;
      const SCALAR *xr = x + r * ldx;
      SCALAR *cr = c + r * ldc;
      if (left >= 12) { NAMED(block_row_g12)(xr, ldx, s, lds, cr, ldc, i0, i1, n); r += 12; }
      else if (left >= 10) { NAMED(block_row_g10)(xr, ldx, s, lds, cr, ldc, i0, i1, n); r += 10; }
      else if (left >= 8) { NAMED(block_row_g8)(xr, ldx, s, lds, cr, ldc, i0, i1, n); r += 8; }
      else if (left >= 6) { NAMED(block_row_g6)(xr, ldx, s, lds, cr, ldc, i0, i1, n); r += 6; }
      else if (left >= 4) { NAMED(block_row_g4)(xr, ldx, s, lds, cr, ldc, i0, i1, n); r += 4; }
      else if (left >= 2) { NAMED(block_row_g2)(xr, ldx, s, lds, cr, ldc, i0, i1, n); r += 2; }
      else { NAMED(block_row_g1)(xr, ldx, s, lds, cr, ldc, i0, i1, n); r += 1; }
    }
  }
}
