/*
 * correlate2d's direct sums, written once over a vector of VL doubles and
 * compiled per instruction set beside det_simd.c (the same -DVL -DISA and
 * flags; see det.h).  The image comes zero-padded, so every output is the
 * whole sum over the taps with no test at the edges, and a block of R rows
 * by NV vectors of outputs stays in registers across all the taps.  In
 * block() each product is one load and one multiply-add; the strips load
 * each input vector once for up to R rows.  Each output sums its taps in
 * row order, p then q, so its bits depend on its own inputs and the path
 * alone (with FMA one rounding a tap; without, two).
 */
#include "det.h"
#include "fftplan.h" /* pk__rint51 */

#ifdef __SSE2__
#include <immintrin.h>
#endif

#if !defined(VL) || !defined(ISA)
#error "corr_simd.c is compiled with -DVL=<doubles a vector> -DISA=<name>"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

typedef double vd __attribute__((vector_size(VL * sizeof(double))));
typedef double vdu __attribute__((vector_size(VL * sizeof(double)),
                                  aligned(sizeof(double))));

/*
 * Rows and vectors of outputs a block keeps in registers: 12 sums of 32
 * zmm, 10 of 16 ymm (with the strips' 4 vectors of input and a tap, 15),
 * 6 of 16 xmm.  STRIPS: whether the strips below beat block() alone.  On
 * SSE2 they do not (no broadcast load, and a 16-byte load at a double's
 * offset seldom splits a cache line, which is what the strips save); on
 * AVX-512 and AVX2 they take about 0.75 and 0.7 of block()'s time at 9x9
 * (100x100 images, one core), and more rows than these gain nothing
 * (AVX-512 with 7 and 8 rows: 1.02-1.04 of 6's time).
 */
#if VL == 8
#define R 6
#define STRIPS 1
#elif VL == 4
#define R 5
#define STRIPS 1
#else
#define R 3
#define STRIPS 0
#endif
#define NV 2
_Static_assert(NV * VL <= PK__CORR_BLOCK, "det.h: PK__CORR_BLOCK");

/* x in every lane, one broadcast from memory (0 + x would cost an add
   and a shuffle a tap, and a loop over the lanes a broadcast each). */
#if VL == 8
#define SPLAT(x) ((vd){x, x, x, x, x, x, x, x})
#elif VL == 4
#define SPLAT(x) ((vd){x, x, x, x})
#elif VL == 2
#define SPLAT(x) ((vd){x, x})
#endif

/*
 * Outputs of rows i0 .. i0 + rows - 1 (rows <= R), columns j0 .. j0 + NV VL
 * - 1, into t (rows x NV vectors): sum_{p, q} c[p][q] P[i + p][j + q].
 */
static inline void block(const double *restrict P, size_t pw,
                         const double *restrict c, size_t h2, size_t w2,
                         size_t i0, size_t j0, int rows, vd t[R][NV]) {
  const vd zero = {0};

  for (int r = 0; r < R; r++)
    for (int v = 0; v < NV; v++)
      t[r][v] = zero;
  for (size_t p = 0; p < h2; p++)
    for (size_t q = 0; q < w2; q++) {
      const vd cq = SPLAT(c[p * w2 + q]);
      const double *x = P + (i0 + p) * pw + j0 + q;
      for (int r = 0; r < R; r++) {
        if (r >= rows)
          break;
        for (int v = 0; v < NV; v++)
          t[r][v] += cq * *(const vdu *)(x + r * pw + v * VL);
      }
    }
}

/* A row of sums t into o (n doubles), and t cleared for the next block's
   same row. */
static inline void put(vd t[NV], double *o, size_t n) {
  const vd zero = {0};

  if (n >= NV * VL)
    for (int v = 0; v < NV; v++)
      *(vdu *)(o + v * VL) = t[v];
  else
    for (size_t l = 0; l < n; l++)
      o[l] = t[l / VL][l % VL];
  for (int v = 0; v < NV; v++)
    t[v] = zero;
}

/* The next item's lines, per at each pass or block, into L2 (det.h,
   pk__fetch): fetched all at once they slowed a pair by 7%.  With the
   strips, 100x100 by 9x9: AVX-512 0.91 of the time on one core, 0.95 on
   two; AVX2 0.94-0.96.  SSE2's blocks take 1.01-1.05 with them: it goes
   without. */
typedef pk__fetch fetch;

static inline void fetch_step(fetch *f) { PK__FETCH_STEP(f, 2); }

#if STRIPS
/*
 * The strips: one column block of the outputs (NV vectors), all its rows,
 * input row by input row.  Input row k feeds output row i with the taps'
 * row k - i, for every i it reaches: a block of R output rows loads each
 * shifted vector of the row once for all of them.  A block's first and
 * last R - 1 input rows reach only some of its rows; the last ones of a
 * block go in the same pass as the first ones of the next, whose rows are
 * the ones the block has finished, so every pass keeps R rows of sums in
 * flight (the multiply-adds of one sum wait on each other).  Each output
 * still takes its taps in the order p then q: the bits are block()'s.
 */

/*
 * One pass over the taps' columns: rows lo .. hi of the block (constants
 * once inlined) take the row xb below split and xa from split on, row i
 * with the taps' row cr[i].
 */
static inline __attribute__((always_inline)) void
pass(const double *restrict xa, const double *restrict xb,
     const double *const cr[R], size_t w2, int split, int lo, int hi,
     vd t[R][NV]) {
  for (size_t q = 0; q < w2; q++) {
    vd A[NV], B[NV];
    for (int v = 0; v < NV; v++) {
      if (split <= hi)
        A[v] = *(const vdu *)(xa + q + v * VL);
      if (split > lo)
        B[v] = *(const vdu *)(xb + q + v * VL);
    }
    for (int i = lo; i <= hi; i++) {
      const vd cq = SPLAT(cr[i][q]);
      for (int v = 0; v < NV; v++)
        t[i][v] += cq * (i < split ? B[v] : A[v]);
    }
  }
}

/* Which passes: the first block's first R - 1 input rows (rows 0 .. j from
   row j), a block's last R - 1 without a next block (rows j + 1 .. R - 1),
   and with one. */
enum { FIRST, LAST, BOTH };

static inline __attribute__((always_inline)) void
step(int kind, int j, const double *xa, const double *xb,
     const double *const cr[R], size_t w2, vd t[R][NV]) {
  if (kind == FIRST)
    pass(xa, xb, cr, w2, j + 1, 0, j, t);
  else if (kind == LAST)
    pass(xa, xb, cr, w2, j + 1, j + 1, R - 1, t);
  else
    pass(xa, xb, cr, w2, j + 1, 0, R - 1, t);
}

/* step() with j a constant in each case (the cases past R - 2 are never
   taken; their 0 keeps their dead code in bounds). */
static void steps(int kind, int j, const double *xa, const double *xb,
                  const double *const cr[R], size_t w2, vd t[R][NV],
                  fetch *f) {
  fetch_step(f);
  switch (j) {
#define J(n)                                                                 \
  case n:                                                                    \
    if (n < R - 1)                                                           \
      step(kind, n < R - 1 ? n : 0, xa, xb, cr, w2, t);                      \
    break;
    J(0) J(1) J(2) J(3) J(4) J(5) J(6)
#undef J
  }
}
_Static_assert(R <= 8, "steps(): cases for j < R - 1");

/*
 * The strip of columns j0 .. j0 + n - 1 (n <= NV VL), output rows 0 ..
 * nb R - 1, where h2 >= R.
 */
static void strip(const double *P, size_t pw, const double *c, size_t h2,
                  size_t w2, double *r, size_t wo, size_t j0, size_t n,
                  size_t nb, fetch *f) {
  vd t[R][NV];
  const double *cr[R], *x = P + j0;

  for (int i = 0; i < R; i++)
    for (int v = 0; v < NV; v++)
      t[i][v] = (vd){0};
  for (int j = 0; j < R - 1; j++) {
    for (int i = 0; i <= j; i++)
      cr[i] = c + (size_t)(j - i) * w2;
    steps(FIRST, j, NULL, x + (size_t)j * pw, cr, w2, t, f);
  }
  for (size_t b = 0; b < nb; b++) {
    size_t i0 = b * R;
    for (size_t k = R - 1; k < h2; k++) {
      for (int i = 0; i < R; i++)
        cr[i] = c + (k - (size_t)i) * w2;
      /* a whole pass, no constant needed: split 0 */
      pass(x + (i0 + k) * pw, NULL, cr, w2, 0, 0, R - 1, t);
      fetch_step(f);
    }
    int kind = b + 1 < nb ? BOTH : LAST;
    for (int j = 0; j < R - 1; j++) {
      put(t[j], r + (i0 + (size_t)j) * wo + j0, n);
      for (int i = 0; i < R; i++)
        cr[i] = i > j ? c + (h2 + (size_t)j - (size_t)i) * w2
                      : c + (size_t)(j - i) * w2;
      steps(kind, j, x + (i0 + h2 + (size_t)j) * pw,
            x + (i0 + R + (size_t)j) * pw, cr, w2, t, f);
    }
    put(t[R - 1], r + (i0 + R - 1) * wo + j0, n);
  }
}
#endif /* STRIPS */

/*
 * r (ho x wo) = the correlation of the padded image P (rows of pw doubles,
 * at least ho + h2 - 1 of them, and pw at least wo rounded up to
 * PK__CORR_BLOCK, plus w2 - 1) with the taps c (h2 x w2).
 */
static void direct(const double *P, size_t pw, const double *c, size_t h2,
                   size_t w2, double *r, size_t ho, size_t wo,
                   const char *next, size_t lines) {
  vd t[R][NV];
  size_t i1 = 0, cols = (wo + NV * VL - 1) / (NV * VL), steps_n;
  fetch f = {next, STRIPS && next ? lines : 0, 0};

#if STRIPS
  if (h2 >= R)
    i1 = ho / R * R;
#endif
  /* passes of the strips, then blocks */
  steps_n = cols * ((i1 ? i1 / R * h2 + R - 1 : 0) + (ho - i1 + R - 1) / R);
  f.per = steps_n ? (f.left + steps_n - 1) / steps_n : f.left;
#if STRIPS
  if (i1)
    for (size_t j0 = 0; j0 < wo; j0 += NV * VL)
      strip(P, pw, c, h2, w2, r, wo, j0,
            wo - j0 < NV * VL ? wo - j0 : NV * VL, i1 / R, &f);
#endif
  for (size_t i0 = i1; i0 < ho; i0 += R) {
    int rows = ho - i0 < R ? (int)(ho - i0) : R;
    for (size_t j0 = 0; j0 < wo; j0 += NV * VL) {
      if (rows == R)
        block(P, pw, c, h2, w2, i0, j0, R, t);
      else
        block(P, pw, c, h2, w2, i0, j0, rows, t);
      fetch_step(&f);
      size_t n = wo - j0 < NV * VL ? wo - j0 : NV * VL;
      for (int k = 0; k < rows; k++)
        put(t[k], r + (i0 + (size_t)k) * wo + j0, n);
    }
  }
}

void CAT(pk__corr_direct_, ISA)(const double *P, size_t pw, const double *c,
                                size_t h2, size_t w2, double *r, size_t ho,
                                size_t wo, const char *next, size_t lines) {
  direct(P, pw, c, h2, w2, r, ho, wo, next, lines);
}

/*
 * The pair FFT's product a *= conj(b), a vector of VL / 2 complex numbers
 * at a time: each b's real and imaginary parts spread over its two lanes,
 * a's two parts swapped, the imaginary part's product negated in the real
 * lanes' partners.  Without FMA the same operations as a scalar loop.
 * 1,000 pairs of 100x100 with 31x31 on two workers, AVX-512: 0.96-0.98 of
 * the time of the scalar loop (SSE2) it replaced.
 */
#if VL == 8
#define LANES(a, b) a, b, a + 2, b + 2, a + 4, b + 4, a + 6, b + 6
#define PAIRS(a, b) {a, b, a, b, a, b, a, b}
#elif VL == 4
#define LANES(a, b) a, b, a + 2, b + 2
#define PAIRS(a, b) {a, b, a, b}
#else
#define LANES(a, b) a, b
#define PAIRS(a, b) {a, b}
#endif
typedef long long vl __attribute__((vector_size(VL * sizeof(double))));

void CAT(pk__corr_cmulc_, ISA)(double *restrict a, const double *restrict b,
                               size_t n) {
  const vd sign = PAIRS(1.0, -1.0);
  size_t k = 0, m = 2 * n;

  for (; k + VL <= m; k += VL) {
    vd x = *(const vdu *)(a + k), y = *(const vdu *)(b + k);
    vd br = __builtin_shufflevector(y, y, LANES(0, 0));
    vd bi = __builtin_shufflevector(y, y, LANES(1, 1));
    vd xs = __builtin_shufflevector(x, x, LANES(1, 0));
    *(vdu *)(a + k) = x * br + xs * (bi * sign);
  }
  for (; k < m; k += 2) {
    double ar = a[k], ai = a[k + 1];
    a[k] = ar * b[k] + ai * b[k + 1];
    a[k + 1] = ai * b[k] - ar * b[k + 1];
  }
}

/*
 * The paired rows' split and merge (det.h): complex k against complex
 * W - k, a vector of them against one loaded below W - k and its pairs
 * turned round.  The same operations as the scalar tails (a sign is a
 * product by -1, exact), so every path gives the same bits.
 */
#if VL == 8
#define TURN 6, 7, 4, 5, 2, 3, 0, 1
#elif VL == 4
#define TURN 2, 3, 0, 1
#else
#define TURN 0, 1
#endif

void CAT(pk__corr_split_, ISA)(const double *z, size_t W, double *x1,
                               double *x2) {
  const vd half = SPLAT(0.5), conj = PAIRS(1.0, -1.0);
  size_t k = 1, h = W / 2, c = VL / 2;

  x1[0] = 0.5 * (z[0] + z[0]), x1[1] = 0.5 * (z[1] - z[1]);
  if (x2)
    x2[0] = 0.5 * (z[1] + z[1]), x2[1] = 0.5 * -(z[0] - z[0]);
  for (; x2 && k + c <= h + 1; k += c) {
    vd zk = *(const vdu *)(z + 2 * k), zn = *(const vdu *)(z + 2 * (W - k - c + 1));
    vd cn = __builtin_shufflevector(zn, zn, TURN) * conj;
    vd d = zk - cn;
    *(vdu *)(x1 + 2 * k) = half * (zk + cn);
    *(vdu *)(x2 + 2 * k) = half * (__builtin_shufflevector(d, d, LANES(1, 0)) * conj);
  }
  for (; k <= h; k++) {
    size_t n = W - k;
    double zr = z[2 * k], zi = z[2 * k + 1], nr = z[2 * n], ni = z[2 * n + 1];
    x1[2 * k] = 0.5 * (zr + nr);
    x1[2 * k + 1] = 0.5 * (zi - ni);
    if (x2) {
      x2[2 * k] = 0.5 * (zi + ni);
      x2[2 * k + 1] = 0.5 * -(zr - nr);
    }
  }
}

void CAT(pk__corr_merge_, ISA)(const double *x1, const double *x2, size_t W,
                               double *y) {
  const vd conj = PAIRS(1.0, -1.0), neg = PAIRS(-1.0, 1.0);
  size_t k = 1, h = W / 2, c = VL / 2;

  y[0] = x1[0], y[1] = x2 ? x2[0] : 0;
  y[2 * h] = x1[2 * h], y[2 * h + 1] = x2 ? x2[2 * h] : 0;
  for (; x2 && k + c <= h; k += c) {
    vd a = *(const vdu *)(x1 + 2 * k), b = *(const vdu *)(x2 + 2 * k);
    vd bs = __builtin_shufflevector(b, b, LANES(1, 0));
    vd yn = a * conj + bs;
    *(vdu *)(y + 2 * k) = a + bs * neg;
    *(vdu *)(y + 2 * (W - k - c + 1)) = __builtin_shufflevector(yn, yn, TURN);
  }
  for (; k < h; k++) {
    double ar = x1[2 * k], ai = x1[2 * k + 1];
    double br = x2 ? x2[2 * k] : 0, bi = x2 ? x2[2 * k + 1] : 0;
    y[2 * k] = ar + -bi, y[2 * k + 1] = ai + br;
    y[2 * (W - k)] = ar + bi, y[2 * (W - k) + 1] = -ai + br;
  }
}

/*
 * put_row (det.h): a row of the result from the real or imaginary parts
 * of a row pair, past cache in whole vectors where it can.  The pairs'
 * results had been parted into lines and copied past cache after: the
 * copy, its stores in a burst, waited on memory (1.8 cycles a double
 * against 1 for stores spread among the arithmetic).
 */
#if VL == 8
#define NT_STORE(o, x) _mm512_stream_pd((o), (__m512d)(x))
#elif VL == 4
#define NT_STORE(o, x) _mm256_stream_pd((o), (__m256d)(x))
#else
#define NT_STORE(o, x) _mm_stream_pd((o), (__m128d)(x))
#endif

static inline double row_at(const double *y, int part, size_t j, size_t l,
                            size_t m, const double *lead,
                            const double *trail, double s, int rnd) {
  double x;
  if (j < l)
    return lead[j];
  if (j >= m)
    return trail[j - m];
  x = y[2 * j + (size_t)part] * s;
  return rnd ? pk__rint51(x) : x;
}

void CAT(pk__corr_put_row_, ISA)(double *o, size_t n, const double *y,
                                 int part, size_t l, size_t m,
                                 const double *lead, const double *trail,
                                 double s, int rnd, int stream) {
  const vd sv = SPLAT(s), mag = SPLAT(PK__RINT_MAGIC);
  size_t j = 0;
#ifdef __SSE2__
  const uintptr_t vmask = VL * sizeof(double) - 1;

  if (stream) {
    if ((uintptr_t)o & 15 && n > 0) {
      o[0] = row_at(y, part, 0, l, m, lead, trail, s, rnd);
      j = 1;
    }
    for (; j + 2 <= n && (j < l || (uintptr_t)(o + j) & vmask || j + VL > m);
         j += 2)
      _mm_stream_pd(o + j,
                    _mm_set_pd(row_at(y, part, j + 1, l, m, lead, trail, s,
                                      rnd),
                               row_at(y, part, j, l, m, lead, trail, s, rnd)));
  }
#else
  (void)stream;
#endif
  for (; j < l && j < n; j++)
    o[j] = lead[j];
  for (; j + VL <= m; j += VL) {
    vd u = *(const vdu *)(y + 2 * j), w = *(const vdu *)(y + 2 * j + VL), x;
#if VL == 8
    if (part)
      x = __builtin_shufflevector(u, w, 1, 3, 5, 7, 9, 11, 13, 15);
    else
      x = __builtin_shufflevector(u, w, 0, 2, 4, 6, 8, 10, 12, 14);
#elif VL == 4
    if (part)
      x = __builtin_shufflevector(u, w, 1, 3, 5, 7);
    else
      x = __builtin_shufflevector(u, w, 0, 2, 4, 6);
#else
    if (part)
      x = __builtin_shufflevector(u, w, 1, 3);
    else
      x = __builtin_shufflevector(u, w, 0, 2);
#endif
    x *= sv;
    if (rnd)
      x = (x + mag) - mag;
#ifdef __SSE2__
    if (stream) {
      NT_STORE(o + j, x);
      continue;
    }
#endif
    *(vdu *)(o + j) = x;
  }
#ifdef __SSE2__
  if (stream)
    for (; j + 2 <= n; j += 2)
      _mm_stream_pd(o + j,
                    _mm_set_pd(row_at(y, part, j + 1, l, m, lead, trail, s,
                                      rnd),
                               row_at(y, part, j, l, m, lead, trail, s, rnd)));
#endif
  for (; j < n; j++)
    o[j] = row_at(y, part, j, l, m, lead, trail, s, rnd);
}

/* correlate2d's edge sums (det.h): axpy and axpy4 at the vector width,
   the tails one at a time, the same sums in the same order. */
void CAT(pk__corr_axpy_, ISA)(double *restrict r, double c,
                              const double *restrict y, size_t n) {
  const vd cv = SPLAT(c);
  size_t k = 0;

  for (; k + VL <= n; k += VL)
    *(vdu *)(r + k) += cv * *(const vdu *)(y + k);
  for (; k < n; k++)
    r[k] += c * y[k];
}

void CAT(pk__corr_axpy4_, ISA)(double *restrict r, const double *c,
                               const double *restrict y, size_t n) {
  const vd c0 = SPLAT(c[0]), c1 = SPLAT(c[1]), c2 = SPLAT(c[2]),
           c3 = SPLAT(c[3]);
  size_t k = 0;

  for (; k + VL <= n; k += VL)
    *(vdu *)(r + k) += c0 * *(const vdu *)(y + k) +
                       c1 * *(const vdu *)(y + k + 1) +
                       c2 * *(const vdu *)(y + k + 2) +
                       c3 * *(const vdu *)(y + k + 3);
  for (; k < n; k++)
    r[k] += c[0] * y[k] + c[1] * y[k + 1] + c[2] * y[k + 2] + c[3] * y[k + 3];
}

/*
 * The scans for integers and norms (det.h), a few vectors at a time (VS,
 * VI), the test of a block of them once.  In the baseline's pairs of
 * doubles they were a tenth of a 100x100 pair's time with 9x9 (the norms,
 * in front of the direct sums) and with 31x31 (the test, in front of the
 * FFT).  One sum a scan had taken 4 cycles an element; a double at a time
 * with a branch each, the test had cost 3% of a 31x31 pair.
 */
#define VS 4

/* Vectors the scan for integers takes at a time, three sums each: 4 of
   AVX-512's 32 registers, 2 of AVX2's and SSE2's 16 (with 4 the sums went
   to the stack, each a store and a reload an iteration). */
#if VL == 8
#define VI 4
#else
#define VI 2
#endif

/* VMAX(a, m): a > m ? a : m lane by lane (m when a is NaN), one max where
   a compare and a select made each step of the running maximum a chain of
   two (AVX-512: the scan took twice its time). */
#if VL == 8 && defined(__AVX512F__)
#define VMAX(a, m) ((vd)_mm512_max_pd((__m512d)(a), (__m512d)(m)))
#elif VL == 4 && defined(__AVX__)
#define VMAX(a, m) ((vd)_mm256_max_pd((__m256d)(a), (__m256d)(m)))
#elif VL == 2 && defined(__SSE2__)
#define VMAX(a, m) ((vd)_mm_max_pd((__m128d)(a), (__m128d)(m)))
#else
static inline vd vmax(vd a, vd m) {
  vl gt = a > m;
  return (vd)(((vl)a & gt) | ((vl)m & ~gt));
}
#define VMAX(a, m) vmax(a, m)
#endif

/* ANY_SET(bad): a lane of bad not zero, in one test (lane by lane, a
   branch each). */
#if VL == 8 && defined(__AVX512F__)
#define ANY_SET(bad)                                                        \
  (_mm512_test_epi64_mask((__m512i)(bad), (__m512i)(bad)) != 0)
#elif VL == 4 && defined(__AVX__)
#define ANY_SET(bad) (!_mm256_testz_si256((__m256i)(bad), (__m256i)(bad)))
#elif VL == 2 && defined(__SSE2__)
#define ANY_SET(bad) (_mm_movemask_pd((__m128d)(bad)) != 0)
#else
static inline int any_set(vl bad) {
  long long t = 0;
  for (int l = 0; l < VL; l++)
    t |= bad[l];
  return t != 0;
}
#define ANY_SET(bad) any_set(bad)
#endif

int CAT(pk__corr_integers_, ISA)(const double *x, size_t n, double *l1,
                                 double *l2, double *mx) {
  const vl absm = (vl){0} + INT64_MAX;
  const vd lim = SPLAT(0x1p51), mag = SPLAT(PK__RINT_MAGIC);
  vd s1[VI] = {{0}}, s2[VI] = {{0}}, m[VI] = {{0}};
  size_t i = 0;

  for (; i + VI * VL <= n; i += VI * VL) {
    vl bad[VI];
    for (int k = 0; k < VI; k++) {
      vd v = *(const vdu *)(x + i + k * VL);
      vd a = (vd)((vl)v & absm);
      /* each vector's test on its own, joined by a tree: folded into one
         running mask, the tests were a chain of dependent compares */
      bad[k] = ~(a < lim) | (v != (v + mag) - mag);
      s1[k] += a;
      s2[k] += v * v;
      m[k] = VMAX(a, m[k]);
    }
#if VI == 4
    if (ANY_SET((bad[0] | bad[1]) | (bad[2] | bad[3])))
#else
    if (ANY_SET(bad[0] | bad[1]))
#endif
      return 0;
  }
  double t1 = 0, t2 = 0, tm = 0;
  for (int k = 0; k < VI; k++)
    for (int l = 0; l < VL; l++) {
      t1 += s1[k][l];
      t2 += s2[k][l];
      tm = m[k][l] > tm ? m[k][l] : tm;
    }
  for (; i < n; i++) {
    double a = __builtin_fabs(x[i]);
    if (!(a < 0x1p51) || x[i] != pk__rint51(x[i]))
      return 0;
    t1 += a;
    t2 += x[i] * x[i];
    tm = a > tm ? a : tm;
  }
  *l1 = t1, *mx = tm, *l2 = __builtin_sqrt(t2);
  return 1;
}

void CAT(pk__corr_norms_, ISA)(const double *x, size_t n, double *mx,
                               double *l1) {
  const vl absm = (vl){0} + INT64_MAX;
  vd s[VS] = {{0}}, m[VS] = {{0}};
  size_t i = 0;

  for (; i + VS * VL <= n; i += VS * VL)
    for (int k = 0; k < VS; k++) {
      vd y = *(const vdu *)(x + i + k * VL);
      vd v = (vd)((vl)y & absm);
      s[k] += v;
      m[k] = VMAX(v, m[k]);
    }
  double t = 0, tm = 0;
  for (int k = 0; k < VS; k++)
    for (int l = 0; l < VL; l++) {
      t += s[k][l];
      tm = m[k][l] > tm ? m[k][l] : tm;
    }
  for (; i < n; i++) {
    double v = __builtin_fabs(x[i]);
    t += v;
    tm = v > tm ? v : tm;
  }
  *mx = tm, *l1 = t;
}
