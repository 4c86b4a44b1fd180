/*
 * det's vector algorithms, written once over a vector of VL doubles and
 * compiled once per instruction set at its native width (see det.h): the
 * build passes -DVL=8 -DISA=avx512 with AVX-512 flags, -DVL=4 -DISA=avx2
 * with AVX2 and FMA, and -DVL=2 -DISA=generic with none (SSE2 on x86-64,
 * NEON on aarch64).  Every vector below is one register of the target, so
 * no copy runs code written for a wider vector than it has.
 *
 * With FMA, a - f * b contracts into one rounding: the AVX2 and AVX-512
 * copies give the same bits as each other's small path but not as the
 * generic one on x86-64 (aarch64's generic copy contracts too: fmls), and
 * each middle path blocks by its own width.  Within one path the bits of
 * an item depend on that item alone.
 */
#include "det.h"

#include <float.h>
#include <math.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#if !defined(VL) || !defined(ISA)
#error "det_simd.c is compiled with -DVL=<doubles a vector> -DISA=<name>"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)

typedef double vd __attribute__((vector_size(VL * sizeof(double))));
typedef int64_t vm __attribute__((vector_size(VL * sizeof(double))));
/* A vector at any double's address: one unaligned load (a memcpy of 32
   bytes became two 16-byte moves through the stack, and a stalled load). */
typedef double vdu __attribute__((vector_size(VL * sizeof(double)),
                                  aligned(sizeof(double))));

/*
 * C has no ?: on vectors: selections are bitwise, m all ones or all zeros
 * in each lane.  AVX2 blends by the lanes' sign bits in one instruction,
 * where the bitwise form takes three; AVX-512 and NEON get one from the
 * bitwise form.
 */
#if VL == 4 && defined(__AVX2__)
#define SEL(m, x, y) ((vd)__builtin_ia32_blendvpd256((y), (x), (vd)(m)))
#else
#define SEL(m, x, y) ((vd)(((vm)(x) & (m)) | ((vm)(y) & ~(m))))
#endif
#define MSEL(m, x, y) (((x) & (m)) | ((y) & ~(m)))
/* MAXV(v, m): v > m ? v : m lane by lane, NaN included (x86's max is
   exactly that), in one instruction where SEL takes three (SSE2) or a
   three-uop blend (AVX2 on recent Intel cores). */
#if VL == 2 && defined(__SSE2__)
#define MAXV(v, m) ((vd)__builtin_ia32_maxpd((v), (m)))
#elif VL == 4 && defined(__AVX__)
#define MAXV(v, m) ((vd)__builtin_ia32_maxpd256((v), (m)))
#elif VL == 8 && defined(__AVX512F__)
#define MAXV(v, m) ((vd)_mm512_max_pd((__m512d)(v), (__m512d)(m)))
#else
#define MAXV(v, m) SEL((v) > (m), (v), (m))
#endif
/* MINV(v, m): v < m ? v : m lane by lane, a NaN in v giving m, as MAXV. */
#if VL == 2 && defined(__SSE2__)
#define MINV(v, m) ((vd)__builtin_ia32_minpd((v), (m)))
#elif VL == 4 && defined(__AVX__)
#define MINV(v, m) ((vd)__builtin_ia32_minpd256((v), (m)))
#elif VL == 8 && defined(__AVX512F__)
#define MINV(v, m) ((vd)_mm512_min_pd((__m512d)(v), (__m512d)(m)))
#else
#define MINV(v, m) SEL((v) < (m), (v), (m))
#endif
/* MINM(x, y): the smaller integer lane by lane; AVX-512 has an
   instruction for it, AVX2 and SSE2 compare and select. */
#if VL == 8 && defined(__AVX512F__)
#define MINM(x, y) ((vm)_mm512_min_epi64((__m512i)(x), (__m512i)(y)))
#else
#define MINM(x, y) MSEL((x) < (y), (x), (y))
#endif
#define VABS(x) ((vd)((vm)(x) & INT64_MAX))
/* LATER(gt, iv, p): iv where gt, else p, for a search that goes down the
   rows: the row offsets iv it takes are larger than p's, and every offset
   is below 2^15 (PK__DET_SMALL_CAP rows).  SSE2 selects in three
   instructions and a copy; the larger of p and iv & gt, taken 16 bits at
   a time (each lane's three high 16-bit pieces are 0), is two. */
#if VL == 2 && defined(__SSE2__)
_Static_assert(PK__DET_SMALL_CAP * PK__DET_SMALL_CAP * VL < 32768,
               "small path offsets fit 15 bits");
#define LATER(gt, iv, p)                                                    \
  ((vm)_mm_max_epi16((__m128i)((iv) & (gt)), (__m128i)(p)))
#else
#define LATER(gt, iv, p) ((vm)SEL(gt, (vd)(iv), (vd)(p)))
#endif
/* NE64(x, y): x != y lane by lane, x and y in [0, 2^31).  SSE2 has no
   64-bit compare (GCC makes scalar code of one): the low halves are
   compared and each result copied to its high half. */
#if VL == 2 && defined(__SSE2__) && !defined(__SSE4_1__)
#define NE64(x, y)                                                          \
  (~(vm)_mm_shuffle_epi32(_mm_cmpeq_epi32((__m128i)(x), (__m128i)(y)), 0xA0))
#else
#define NE64(x, y) ((vm)((x) != (y)))
#endif

#ifdef __clang__
#define SHUF(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)
#else
#define SHUF(x, y, ...) __builtin_shuffle(x, y, (vm){__VA_ARGS__})
#endif

/* UNROLL: the pragma that unrolls a loop over the VL lanes. */
#define PRAGMA_(x) _Pragma(#x)
#define PRAGMA(x) PRAGMA_(x)
#define UNROLL PRAGMA(GCC unroll VL)

/*
 * IOTA: lane numbers.  TRANSPOSE(v, w): w[c][l] = v[l][c], a VL x VL block
 * in log2(VL) rounds of two-input shuffles.
 */
#if VL == 2
#define IOTA {0, 1}
#define TRANSPOSE(v, w)                                                     \
  do {                                                                      \
    w[0] = SHUF(v[0], v[1], 0, 2);                                          \
    w[1] = SHUF(v[0], v[1], 1, 3);                                          \
  } while (0)
#elif VL == 4
#define IOTA {0, 1, 2, 3}
#define TRANSPOSE(v, w)                                                     \
  do {                                                                      \
    vd t_[4];                                                               \
    for (int i_ = 0; i_ < 4; i_ += 2) {                                     \
      t_[i_] = SHUF(v[i_], v[i_ + 1], 0, 4, 2, 6);                          \
      t_[i_ + 1] = SHUF(v[i_], v[i_ + 1], 1, 5, 3, 7);                      \
    }                                                                       \
    for (int h_ = 0; h_ < 2; h_++) {                                        \
      w[h_] = SHUF(t_[h_], t_[h_ + 2], 0, 1, 4, 5);                         \
      w[h_ + 2] = SHUF(t_[h_], t_[h_ + 2], 2, 3, 6, 7);                     \
    }                                                                       \
  } while (0)
#elif VL == 8
#define IOTA {0, 1, 2, 3, 4, 5, 6, 7}
#define TRANSPOSE(v, w)                                                     \
  do {                                                                      \
    vd t_[8], s_[8];                                                        \
    for (int i_ = 0; i_ < 8; i_ += 2) {                                     \
      t_[i_] = SHUF(v[i_], v[i_ + 1], 0, 8, 2, 10, 4, 12, 6, 14);           \
      t_[i_ + 1] = SHUF(v[i_], v[i_ + 1], 1, 9, 3, 11, 5, 13, 7, 15);       \
    }                                                                       \
    for (int i_ = 0; i_ < 8; i_ += 4)                                       \
      for (int h_ = 0; h_ < 2; h_++) {                                      \
        s_[i_ + h_] =                                                       \
            SHUF(t_[i_ + h_], t_[i_ + h_ + 2], 0, 1, 8, 9, 4, 5, 12, 13);   \
        s_[i_ + h_ + 2] =                                                   \
            SHUF(t_[i_ + h_], t_[i_ + h_ + 2], 2, 3, 10, 11, 6, 7, 14, 15); \
      }                                                                     \
    for (int i_ = 0; i_ < 4; i_++) {                                        \
      w[i_] = SHUF(s_[i_], s_[i_ + 4], 0, 1, 2, 3, 8, 9, 10, 11);           \
      w[i_ + 4] = SHUF(s_[i_], s_[i_ + 4], 4, 5, 6, 7, 12, 13, 14, 15);     \
    }                                                                       \
  } while (0)
#else
#error "VL is 2, 4 or 8"
#endif

/*
 * HREDUCE(x, OP): every lane of x becomes the reduction of all its lanes,
 * each round x = OP with sh_ the lanes of x swapped at a distance (VL/2,
 * then half that...); HREDUCE_M for integer lanes.
 */
#if VL == 2
#define HROUNDS(T, x, OP)                                                   \
  do {                                                                      \
    T sh_ = SHUF(x, x, 1, 0);                                               \
    x = OP;                                                                 \
  } while (0)
#elif VL == 4
#define HROUNDS(T, x, OP)                                                   \
  do {                                                                      \
    T sh_ = SHUF(x, x, 2, 3, 0, 1);                                         \
    x = OP;                                                                 \
    sh_ = SHUF(x, x, 1, 0, 3, 2);                                           \
    x = OP;                                                                 \
  } while (0)
#else
#define HROUNDS(T, x, OP)                                                   \
  do {                                                                      \
    T sh_ = SHUF(x, x, 4, 5, 6, 7, 0, 1, 2, 3);                             \
    x = OP;                                                                 \
    sh_ = SHUF(x, x, 2, 3, 0, 1, 6, 7, 4, 5);                               \
    x = OP;                                                                 \
    sh_ = SHUF(x, x, 1, 0, 3, 2, 5, 4, 7, 6);                               \
    x = OP;                                                                 \
  } while (0)
#endif
#define HREDUCE(x, OP) HROUNDS(vd, x, OP)
#define HREDUCE_M(x, OP) HROUNDS(vm, x, OP)

/* ------------------------------------------------------------ prefetch */

/*
 * The next item's cache lines, `per` at each step of the item in hand
 * (both paths' steps are chains of dependent operations that leave load
 * ports idle), `left` of them still to fetch from `next`.  AVX-512's middle
 * path fetches to L2 (its L1 holds the rows being updated).
 *
 * The small path fetches to L2 wherever its calls are wide (AVX2,
 * AVX-512): it fetches 4 calls ahead (det.c, small), 100 KB at n = 10,
 * three times a 32 KB L1, so that lines fetched to L1 pushed out the block
 * being factored.  100,000 10x10 from memory on one AVX2 worker took
 * 0.67-0.86 of the time with the fetches to L2 (75-85 ns a matrix against
 * 106-162; 72 in cache), 0.76-0.81 on two (two sets of 6 and 8
 * alternations; AMD EPYC family 25, 32 KB L1).  Generic calls fetch 2
 * calls of 8 ahead, 13 KB: no difference above the noise there (0.91 on
 * one worker, 1.06 on two, medians of 10), so they keep L1.
 */
#if VL == 8
#define PF_LOCALITY 2
#else
#define PF_LOCALITY 3
#endif
#if VL == 2
#define SMALL_PF_LOCALITY PF_LOCALITY
#else
#define SMALL_PF_LOCALITY 2
#endif

typedef pk__fetch prefetcher;

static inline void prefetch_step(prefetcher *pf) {
  PK__FETCH_STEP(pf, PF_LOCALITY);
}
static inline void small_prefetch_step(prefetcher *pf) {
  PK__FETCH_STEP(pf, SMALL_PF_LOCALITY);
}

/* ---------------------------------------------------------- small path */

/*
 * Groups of VL matrices factored together: G of them (PK__DET_GROUP
 * matrices), or WIDE_G up to n = WIDE_MAX (PK__DET_WIDE matrices, when a
 * call has more than PK__DET_GROUP).  A step is a chain of dependent
 * operations (search, pivot row, reciprocal, update); more groups give
 * the processor more of them to overlap.  One core, AMD EPYC family 26,
 * against 8 matrices: AVX2 with 16, n = 4 .. 10, 0.90-0.97 of the time,
 * 1.0 at 12; AVX-512 (one group of 8) with 32, n = 4 .. 12, 0.74-0.95.
 * Past n = 12 the wider call was slower (16: 1.04, 24: 1.12, its blocks
 * past L1).  SSE2's 4 groups of 2 already fill its 16 registers: no gain.
 */
#define G (PK__DET_GROUP / VL)
#if VL == 2
#define WIDE_G G
#define WIDE_MAX 0
#else
#define WIDE_G 4
#define WIDE_MAX PK__DET_WIDE_N
#endif
#define US (PK__DET_WIDE / VL) /* u's vectors a step */

/*
 * SWAP_ROWS: how a step moves each lane's pivot row to row k.  With two
 * lanes (SSE2, NEON) the rows are swapped in place, lane by lane, as the
 * pivot row is loaded: n = 3 .. 40 took 0.93-0.98 of the time of the
 * other way, same bits (one core, AMD EPYC family 26).  Wider vectors
 * keep the pivot row apart in r, and each lane's pivot row gets old row k
 * eliminated instead of its own: up to n = BLEND_MAX selected in the
 * update (factor's HOLE and PICK), past it stored lane by lane after the
 * update.  Swapped in place, AVX2 took 1.04 and AVX-512 1.15 of the time
 * of the lane stores at n = 10 (VL partial stores into rows the update
 * then loads whole); the selection took 0.89-0.98 of it at n = 3 .. 14 on
 * AVX2 and 0.82-0.96 at 3 .. 36 on AVX-512, but on AVX2 1.0 at 16 and 18
 * and 1.02-1.1 from 20 to 36 (an instruction an element against VL
 * stores a row; one core, AMD EPYC family 26, same bits).  With two lanes
 * the selection is three instructions (SSE2): 1.4-2 times the swap.
 * ROW(g) is group g's pivot row.
 */
#define SWAP_ROWS (VL == 2)
#if VL == 4
#define BLEND_MAX 16
#elif VL == 8
#define BLEND_MAX PK__DET_SMALL_CAP
#else
#define BLEND_MAX 0
#endif
#if SWAP_ROWS
#define ROW(g) (a + (g) * nn + k * n)
#else
#define ROW(g) (r[g])
#endif

/* Whether any lane of m is set. */
static inline int64_t any_lane(vm m) {
  int64_t any = 0;
  UNROLL for (int l = 0; l < VL; l++) any |= m[l];
  return any;
}
/* NaN or infinity, lane by lane. */
#define NOT_FINITE(v) (~(VABS(v) <= (vd){0} + DBL_MAX))

/* Matrices x[0 .. cnt) into the lanes of one group's block a (cnt <= VL),
   identity in the lanes past cnt. */
static void copy_in(const char *x, size_t s, int cnt, int n, vd *restrict a) {
  const int nn = n * n;
  int e = 0;

  if (cnt == VL) {
    const double *y[VL];
    for (int l = 0; l < VL; l++)
      y[l] = (const double *)(x + (size_t)l * s);
    for (; e + VL <= nn; e += VL) { /* VL x VL blocks: transpose */
      vd v[VL], w[VL];
      UNROLL for (int l = 0; l < VL; l++) v[l] = *(const vdu *)(y[l] + e);
      TRANSPOSE(v, w);
      UNROLL for (int l = 0; l < VL; l++) a[e + l] = w[l];
    }
    for (; e < nn; e++) {
      vd v;
      UNROLL for (int l = 0; l < VL; l++) v[l] = y[l][e];
      a[e] = v;
    }
  } else {
    double *b = (double *)a;
    for (int l = 0; l < VL; l++) {
      const double *y = (const double *)(x + (size_t)l * s);
      for (e = 0; e < nn; e++)
        b[e * VL + l] = l < cnt ? y[e] : e % (n + 1) == 0;
    }
  }
}

/*
 * The lanes of a group (cnt matrices from x, cnt <= VL) with a NaN or an
 * infinity in their input, looked for where the product of the pivots,
 * prod, is not finite: only there can one be.  A NaN or an infinity in
 * column j of a row still to be eliminated at step k leaves one in a row
 * still to be eliminated at step k + 1, in a column past k, or is the
 * pivot of step k: as the pivot row's element it meets every other row's
 * (a multiplier of 0 gives 0 times it, NaN), as a multiplier's numerator
 * every element of its row; added to a finite product it stays.  So a
 * lane with one has a pivot that is not finite, and a product that is
 * not (NaN or an infinity, times 0 or not).  Finite inputs can make one
 * too (the product past DBL_MAX), hence the exact test.  This replaced a
 * sum of every element loaded, an addition a vector.
 */
static vm nonfinite_lanes(const char *x, size_t s, int cnt, int n, vd prod) {
  const vm suspect = NOT_FINITE(prod);
  vm bad = {0};
  if (!any_lane(suspect))
    return bad;
  for (int l = 0; l < VL && l < cnt; l++) {
    const double *y = (const double *)(x + (size_t)l * s);
    if (!suspect[l])
      continue;
    for (int e = 0; e < n * n; e++)
      if (!isfinite(y[e])) {
        bad[l] = -1;
        break;
      }
  }
  return bad;
}

/* Pivot d of a step, the lanes in sw swapped rows: its reciprocal (0 for
   a zero pivot); u, the sign, the product and its range take it in. */
static inline __attribute__((always_inline)) vd
take_pivot(vd d, vm sw, vd *u, vd *sg, vd *prod, vd *least, vd *most) {
  const vd zero = {0}, one = zero + 1, ad = VABS(d);
  const vm nz = d != 0;
  *u = d;
  *sg = (vd)((vm)*sg ^ (sw & INT64_MIN));
  *prod *= d;
  const vd ap = VABS(*prod);
  *least = MINV(ap, MINV(ad, *least));
  *most = MAXV(ap, MAXV(ad, *most));
  return (vd)((vm)(one / SEL(nz, d, one)) & nz);
}

#if SWAP_ROWS
/* Lane l's element at offset o from q[l]. */
static inline __attribute__((always_inline)) vd
lanes(const double *const *q, int o) {
  vd v;
  UNROLL for (int l = 0; l < VL; l++) v[l] = q[l][o];
  return v;
}

/*
 * Step 0 of `groups` whole groups read from the input where it lies: the
 * copy in, its transposition and the in-place swap of step 0 go.  Each
 * lane's row i is loaded from its own matrix, old row 0 from where its
 * pivot row was, so that the block a gets rows 1 .. n-1 eliminated from
 * column 1 on with the operations of factor's step 0, and row 0 gets the
 * pivot row; column 0 is never read again.  Without the copy's
 * transposition (wrong results, to see its share), n = 10 took 0.84 of
 * the time; this step, 0.88-0.99 of it at n = 2 .. 40 in cache, same bits
 * (one core, AMD EPYC family 26).  With two lanes only: wider vectors
 * would load each lane's element alone, where the copy transposes whole
 * blocks, and there the copy's share is small (left out, n = 10 took 0.98
 * of the time on AVX2, 0.95 on AVX-512).
 */
static inline __attribute__((always_inline)) void
first_step(const char *x, size_t s, const int n, vd *restrict a,
           vd *restrict u, vd *sg, vd *prod, vd *least, vd *most,
           const int groups) {
  const vm none = {0};
  const double *y[WIDE_G][VL];
  vd m[WIDE_G], rinv[WIDE_G];
  vm p[WIDE_G], iv = none;

  for (int g = 0; g < groups; g++) {
    UNROLL for (int l = 0; l < VL; l++)
      y[g][l] = (const double *)(x + (size_t)(g * VL + l) * s);
    m[g] = VABS(lanes(y[g], 0));
    p[g] = none;
  }
  for (int i = 1; i < n; i++) {
    iv += n;
    for (int g = 0; g < groups; g++) {
      const vd av = VABS(lanes(y[g], i * n));
      const vm gt = av > m[g];
      m[g] = MAXV(av, m[g]);
      p[g] = LATER(gt, iv, p[g]);
    }
  }
  for (int g = 0; g < groups; g++) {
    const double *pv[VL];
    UNROLL for (int l = 0; l < VL; l++) pv[l] = y[g][l] + p[g][l];
    rinv[g] = take_pivot(lanes(pv, 0), NE64(p[g], none), &u[g], &sg[g],
                         &prod[g], &least[g], &most[g]);
    vd *const ag = a + g * (n * n);
    for (int j = 1; j < n; j++)
      ag[j] = lanes(pv, j);
  }
  for (int g = 0; g < groups; g++) {
    vd *const ag = a + g * (n * n);
    const vm pg = p[g];
    int i = 1;
#define SOURCE(q, i)                                                        \
  UNROLL for (int l = 0; l < VL; l++) q[l] =                                \
      y[g][l] + ((i) * n == pg[l] ? 0 : (i) * n)
    for (; i + 2 < n; i += 3) {
      const double *q0[VL], *q1[VL], *q2[VL];
      SOURCE(q0, i);
      SOURCE(q1, i + 1);
      SOURCE(q2, i + 2);
      vd *x0 = ag + i * n, *x1 = x0 + n, *x2 = x1 + n;
      const vd f0 = lanes(q0, 0) * rinv[g], f1 = lanes(q1, 0) * rinv[g],
               f2 = lanes(q2, 0) * rinv[g];
      for (int j = 1; j < n; j++) {
        const vd rj = ag[j];
        x0[j] = lanes(q0, j) - f0 * rj;
        x1[j] = lanes(q1, j) - f1 * rj;
        x2[j] = lanes(q2, j) - f2 * rj;
      }
    }
    for (; i < n; i++) {
      const double *q[VL];
      SOURCE(q, i);
      vd *xi = ag + i * n;
      const vd f = lanes(q, 0) * rinv[g];
      for (int j = 1; j < n; j++)
        xi[j] = lanes(q, j) - f * ag[j];
    }
#undef SOURCE
  }
}
#endif

/*
 * cnt matrices at once, in `groups` groups of VL lanes (see det.h, group):
 * the groups are independent, and the pivot search and reciprocal of a
 * step are a chain of dependent operations, so these are interleaved
 * statement by statement for the processor to overlap; the elimination,
 * independent row by row, runs three rows at a time, each pivot-row vector
 * loaded once for the three.
 *
 * The pivot is the first row with the largest |a_ik|, as LAPACK's idamax.
 * Row k is never read after step k (only the pivots are needed), so
 * unless SWAP_ROWS the swap only moves old row k into the pivot row's
 * place: every row below k is eliminated as if no row moved, except that
 * with `blend` each lane's pivot row is eliminated from old row k's
 * values (and multiplier), and without it is overwritten by old row k
 * eliminated after the update.  Either way each lane's rows are
 * eliminated with the same operations.  A zero pivot gets reciprocal 0:
 * the step is a no-op and the determinant is 0 anyway.  With SWAP_ROWS
 * and a matrix in every lane, step 0 reads the input (first_step);
 * otherwise the matrices are copied into the blocks first.
 *
 * A lane is odd (see det.h) where its smallest factor or partial product
 * is below lo or its largest above hi: a running minimum and maximum, one
 * instruction each a step, where four tests a step were scalar code on
 * SSE2 (no 64-bit compare).  A subnormal pivot is below lo, so only an odd
 * lane's pivots are looked through for one.
 */
static inline __attribute__((always_inline)) void
factor(const char *x, size_t s, int cnt, const int n, double *ad,
       double *ud, double *sgd, double *prodd, int64_t *oddd, int64_t *nand,
       int64_t *tinyd, const char *next, size_t lines, const int groups,
       const int blend) {
  vd *restrict a = (vd *)__builtin_assume_aligned(ad, PK__DET_ALIGN);
  vd *restrict u = (vd *)__builtin_assume_aligned(ud, PK__DET_ALIGN);
  const vd zero = {0}, one = zero + 1;
  const vd lo = zero + 0x1p-500, hi = zero + 0x1p500;
  const vm none = {0};
  const int nn = n * n;
  vd sg[WIDE_G], prod[WIDE_G], least[WIDE_G], most[WIDE_G];
#if !SWAP_ROWS
  vd r[WIDE_G][PK__DET_SMALL_CAP];
#endif

  /* The product of the pivots, while every factor and partial product
   * stays within [2^-500, 2^500]: then it has the scalar product's bits; a
   * lane that leaves that range is finished by the caller from u. */
  for (int g = 0; g < groups; g++)
    sg[g] = prod[g] = least[g] = most[g] = one;
  int k0 = 0;
#if SWAP_ROWS
  if (cnt == groups * VL) {
    first_step(x, s, n, a, u, sg, prod, least, most, groups);
    k0 = 1;
  } else
#endif
    for (int g = 0; g < groups; g++) {
      int c = cnt - g * VL;
      copy_in(x + (size_t)(g * VL) * s, s, c < 0 ? 0 : c > VL ? VL : c, n,
              a + g * nn);
    }
  prefetcher pf = {next, lines, (lines + (size_t)n - 1) / (size_t)n};
  const vm lane = IOTA;
  const int64_t row = (int64_t)n * VL; /* doubles from a row to the next */
  if (k0)
    small_prefetch_step(&pf);
  for (int k = k0; k < n; k++) {
    /* Each lane's candidate as its offset in the group's block, counted
     * in the search as the row's offset (lane + i * row), where a row
     * number in doubles was converted and multiplied lane by lane: n = 10
     * on AVX-512 takes 0.95 of that time, AVX2 and generic 0.99-1.01. */
    const vm rk = lane + k * row;
    vd m[WIDE_G], d[WIDE_G], rinv[WIDE_G];
    vm p[WIDE_G], sw[WIDE_G], iv = rk;

    small_prefetch_step(&pf);

    for (int g = 0; g < groups; g++) {
      m[g] = VABS(a[g * nn + k * n + k]);
      p[g] = rk;
    }
    for (int i = k + 1; i < n; i++) {
      iv += row;
      for (int g = 0; g < groups; g++) {
        vd v = VABS(a[g * nn + i * n + k]);
        vm gt = v > m[g];
        m[g] = MAXV(v, m[g]);
        p[g] = LATER(gt, iv, p[g]);
      }
    }
    /* After the search, not ORed row by row: a register fewer in it (AVX2
     * 0.90-0.97 of the time at n = 3 .. 12, 1.0-1.03 at 20 and 28; the
     * others the same). */
    for (int g = 0; g < groups; g++)
      sw[g] = NE64(p[g], rk);
    /* The pivot row: each lane's element loaded from its own row, where
     * selecting it from every candidate row took n - k blends; with
     * SWAP_ROWS, old row k's element stored in its place. */
    int64_t pr[WIDE_G][VL];
    for (int g = 0; g < groups; g++) {
      const vm off = p[g] - k * row;
      memcpy(pr[g], &off, sizeof off);
    }
    for (int j = k; j < n; j++)
      for (int g = 0; g < groups; g++) {
        vd *const akj = a + g * nn + k * n + j;
        double *const b = (double *)akj;
        vd t;
        UNROLL for (int l = 0; l < VL; l++) t[l] = b[pr[g][l]];
#if SWAP_ROWS
        const vd old = *akj;
        UNROLL for (int l = 0; l < VL; l++) b[pr[g][l]] = old[l];
        *akj = t;
#else
        r[g][j] = t;
#endif
      }
    for (int g = 0; g < groups; g++) {
      d[g] = ROW(g)[k];
      rinv[g] = take_pivot(d[g], sw[g], &u[k * US + g], &sg[g], &prod[g],
                           &least[g], &most[g]);
    }
    for (int g = 0; g < groups; g++) {
      vd *const ag = a + g * nn;
      const vd *const rg = ROW(g), *const ak = ag + k * n;
      const vd nrinv = -rinv[g], fk = ak[k] * nrinv;
      /* Row i's offset against each lane's pivot row's: HOLE, the lanes
       * whose pivot row it is (none without blend); PICK selects there.
       * Not `blend ? ... : ...`, nor SEL on AVX-512: GCC then selects in
       * two xors from memory a row, not one masked move (1.07-1.2 of the
       * time at n = 10 .. 28). */
      const vm pg = p[g], live = none - (blend != 0);
      vm at = rk;
      int i = k + 1;
#define HOLE(o) ((pg == (o)) & live)
#if VL == 8 && defined(__AVX512DQ__)
#define PICK(h, x, y)                                                       \
  ((vd)_mm512_mask_blend_pd(_mm512_movepi64_mask((__m512i)(h)),            \
                            (__m512d)(y), (__m512d)(x)))
#else
#define PICK(h, x, y) SEL(h, x, y)
#endif
      for (; i + 2 < n; i += 3) {
        vd *x0 = ag + i * n, *x1 = x0 + n, *x2 = x1 + n;
        const vm h0 = HOLE(at += row), h1 = HOLE(at += row),
                 h2 = HOLE(at += row);
        /* Multipliers negated, rows updated x + (-f) r: the same bits as
         * x - f r (with or without FMA), and SSE2 adds from memory where
         * it loaded, copied and subtracted: 112 instructions fewer a
         * generic 10x10.  Generic took 0.97 of the time at n = 10 and 20
         * (medians of 12 alternations, in cache; AMD EPYC family 25, whose
         * six-wide dispatch these instructions fill), AVX2 and AVX-512
         * 1.00; on family 26 (eight wide) generic 1.0.  The reciprocal is
         * negated once a step, not each multiplier: -(x r) is x (-r). */
        const vd f0 = PICK(h0, fk, x0[k] * nrinv),
                 f1 = PICK(h1, fk, x1[k] * nrinv),
                 f2 = PICK(h2, fk, x2[k] * nrinv);
        for (int j = k + 1; j < n; j++) {
          const vd rj = rg[j], kj = ak[j];
          x0[j] = PICK(h0, kj, x0[j]) + f0 * rj;
          x1[j] = PICK(h1, kj, x1[j]) + f1 * rj;
          x2[j] = PICK(h2, kj, x2[j]) + f2 * rj;
        }
      }
      for (; i < n; i++) {
        vd *xi = ag + i * n;
        const vm h = HOLE(at += row);
        const vd f = PICK(h, fk, xi[k] * nrinv);
        for (int j = k + 1; j < n; j++)
          xi[j] = PICK(h, ak[j], xi[j]) + f * rg[j];
      }
#undef HOLE
#undef PICK
    }
#if !SWAP_ROWS
    /* Without blend, each lane's pivot row, eliminated above as if it
     * stayed, gets old row k eliminated, lane by lane: a blend of the two
     * into every row (what the swap was before) cost three instructions
     * an element on SSE2 and on this Xeon's AVX2, more than the rest of
     * the update. */
    for (int g = 0; g < groups && !blend; g++) {
      const vd *ak = a + g * nn + k * n;
      double *b = (double *)ak;
      const vd f = ak[k] * rinv[g];
      for (int j = k + 1; j < n; j++) {
        const vd t = ak[j] - f * r[g][j];
        UNROLL for (int l = 0; l < VL; l++) b[pr[g][l] + j * VL] = t[l];
      }
    }
#endif
  }
  for (int g = 0; g < groups; g++) {
    vm odd = (least[g] < lo) | (most[g] > hi), tiny = none;
    if (any_lane(odd))
      for (int k = 0; k < n; k++) {
        const vd ad = VABS(u[k * US + g]);
        tiny |= (ad < DBL_MIN) & (ad != zero);
      }
    const vm bad = nonfinite_lanes(x + (size_t)(g * VL) * s, s, cnt - g * VL,
                                   n, prod[g]);
    prod[g] *= sg[g];
    memcpy(sgd + g * VL, &sg[g], sizeof sg[g]);
    memcpy(prodd + g * VL, &prod[g], sizeof prod[g]);
    memcpy(oddd + g * VL, &odd, sizeof odd);
    memcpy(nand + g * VL, &bad, sizeof bad);
    memcpy(tinyd + g * VL, &tiny, sizeof tiny);
  }
}

/* Each width its own function: inlined into one, the wider ran 1.2-1.4
   times slower (n = 4 .. 12). */
#define FACTOR_ARGS                                                         \
  const char *x, size_t s, int cnt, const int n, double *a, double *u,      \
      double *sg, double *prod, int64_t *odd, int64_t *nan, int64_t *tiny,  \
      const char *next, size_t lines
static __attribute__((noinline)) void factor_narrow(FACTOR_ARGS) {
  factor(x, s, cnt, n, a, u, sg, prod, odd, nan, tiny, next, lines, G,
         BLEND_MAX > 0);
}
#if BLEND_MAX > 0 && BLEND_MAX < PK__DET_SMALL_CAP
static __attribute__((noinline)) void factor_stores(FACTOR_ARGS) {
  factor(x, s, cnt, n, a, u, sg, prod, odd, nan, tiny, next, lines, G, 0);
}
#endif
#if WIDE_G > G
_Static_assert(WIDE_MAX <= BLEND_MAX, "wide calls select");
static __attribute__((noinline)) void factor_wide(FACTOR_ARGS) {
  factor(x, s, cnt, n, a, u, sg, prod, odd, nan, tiny, next, lines, WIDE_G,
         1);
}
#endif

/* cnt matrices (see det.h): where n allows, more than PK__DET_GROUP in
   calls of WIDE_G groups, the next lines fetched a share a call. */
static void group(FACTOR_ARGS) {
#if WIDE_G > G
  if (cnt > PK__DET_GROUP && n <= WIDE_MAX) {
    const int per = WIDE_G * VL, calls = (cnt + per - 1) / per;
    const size_t share = (lines + (size_t)calls - 1) / (size_t)calls;
    for (int h = 0; h < cnt; h += per) {
      const size_t done = (size_t)(h / per) * share;
      const size_t left = lines > done ? lines - done : 0;
      factor_wide(x + (size_t)h * s, s, cnt - h < per ? cnt - h : per, n, a,
                  u + h, sg + h, prod + h, odd + h, nan + h, tiny + h,
                  left ? next + done * 64 : NULL,
                  left < share ? left : share);
    }
    return;
  }
#endif
#if BLEND_MAX > 0 && BLEND_MAX < PK__DET_SMALL_CAP
  if (n > BLEND_MAX) {
    factor_stores(x, s, cnt, n, a, u, sg, prod, odd, nan, tiny, next, lines);
    return;
  }
#endif
  factor_narrow(x, s, cnt, n, a, u, sg, prod, odd, nan, tiny, next, lines);
}

/* --------------------------------------------------------- middle path */

/*
 * Column vectors the update keeps in flight down the rows: NB * VL pivot-row
 * vectors in registers, NB sums and a multiplier (AVX-512: 28 of 32 zmm;
 * AVX2: 11 of 16 ymm; generic: 13 of 16 xmm).
 */
#if VL == 8
#define NB 3
#elif VL == 4
#define NB 2
#else
#define NB 4
#endif

/*
 * The lines of the next matrix, fetched `per` at each pivot step of the
 * panels, while the step's chain of dependent operations leaves the load
 * ports and line fill buffers idle.  Spread over the rows of the updates
 * instead (one line every few rows on AVX-512, bursts at each column
 * block on AVX2 and generic), the fetches competed with the update's own
 * L2 traffic and split its loop: AVX-512 at n = 100 took 0.89-0.93 of that
 * time from memory and 0.95 in cache, AVX2 0.92-0.97 at n = 48-100,
 * generic the same within noise (one core, Xeon model 207, the two builds
 * alternated in one process).  At most
 * PF_CAP lines a step: past n = 160 or so the next matrix is more lines
 * than the steps carry, and bursts of all of them (300 a step at n = 500)
 * waited on the fill buffers; 32 a step was 0.93-0.96 of that at n = 500,
 * and the lines left come in by the hardware prefetcher at the copy.
 */
#define PF_CAP 32

/*
 * The first largest |x| of a panel column, kept lane by lane in two chains
 * (odd and even vectors) with the row where each lane's first maximum is:
 * one vector at a time, so that the search runs inside the loop that
 * makes the column's values.
 */
typedef struct {
  vd best[2];
  vm at[2];
} search;

/* Rows below `from` (all in the first vector: from < VL) do not take part. */
static inline search search_start(vd x0, size_t from) {
  const vm lane = IOTA;
  const vd zero = {0};
  return (search){{SEL(lane >= (int64_t)from, VABS(x0), zero - 1), zero - 1},
                  {lane, lane}};
}

static inline __attribute__((always_inline)) void
search_next(search *f, vd x, size_t b, const int c) {
  const vm lane = IOTA;
  const vd v = VABS(x);
  f->at[c] = MSEL(v > f->best[c], lane + (int64_t)(b * VL), f->at[c]);
  f->best[c] = MAXV(v, f->best[c]);
}

/* The first row of the largest, by shuffle trees with no branch on the
   data (a mispredicted one a step cost AVX-512 a twentieth of n = 100). */
static inline size_t search_end(const search *f, size_t e) {
  vd top = MAXV(f->best[1], f->best[0]);
  HREDUCE(top, MAXV(sh_, top));
  const vm none = (vm){0} + INT64_MAX,
           c0 = MSEL(f->best[0] == top, f->at[0], none),
           c1 = MSEL(f->best[1] == top, f->at[1], none);
  vm cand = MINM(c1, c0);
  HREDUCE_M(cand, MINM(sh_, cand));
  const int64_t first = cand[0];
  return first != INT64_MAX ? (size_t)first : e;
}

/*
 * Unblocked LU of the m x VL column-major panels pp[0 .. K) (K = 1 or 2,
 * one a matrix; column stride ld, rows padded with zeros to whole
 * vectors), steps 0 .. nb-1, as dgetf2: the first largest pivot (idamax),
 * multipliers by the pivot's reciprocal, a rank-1 update of the panel's
 * columns to the right.  piv[k][e] gets the row of panel k swapped with
 * row e, s[k] its sign.  Returns 1 on a subnormal pivot in any of them.
 * Each statement is repeated for the K panels, so that their chains
 * overlap (mid2).
 *
 * A step is a chain: the pivot's row, its value, the reciprocal, the
 * multipliers, the next column updated, its pivot.  The next column's
 * search runs in its update's loop, on the values in registers, its two
 * chains named by constants (chosen by b & 1, they lived in memory).
 * Searched after the update, from memory, the search was most of the chain:
 * with the pivots forced to the diagonal (no search on the chain) n = 100
 * took 0.64 of the time on AVX-512; in the loop, 0.87-0.89 (AVX2 0.95,
 * generic the same; one core, AMD EPYC family 26, the same bits).
 */
static inline __attribute__((always_inline)) int
panel_k(double *const *pp, size_t m, size_t ld, size_t nb, size_t (*piv)[VL],
        double *s, prefetcher *pf, const int K) {
  const vd zero = {0};
  const vm lane = IOTA;
  const size_t blocks = (m + VL - 1) / VL;
  search f[2];

  for (int k = 0; k < K; k++)
    f[k] = search_start(((vd *)pp[k])[0], 0);
  size_t b = 1;
  for (; b + 1 < blocks; b += 2)
    for (int k = 0; k < K; k++) {
      search_next(&f[k], ((vd *)pp[k])[b], b, 1);
      search_next(&f[k], ((vd *)pp[k])[b + 1], b + 1, 0);
    }
  if (b < blocks)
    for (int k = 0; k < K; k++)
      search_next(&f[k], ((vd *)pp[k])[b], b, 1);
  for (size_t e = 0; e < nb; e++) {
    double rd[2];
    for (int k = 0; k < K; k++)
      prefetch_step(&pf[k]);
    for (int k = 0; k < K; k++) {
      double *p = pp[k];
      const size_t r = search_end(&f[k], e);
      const double d = p[e * ld + r]; /* before the swap moves it to row e */
      piv[k][e] = r;
      if (r != e) {
        for (size_t q = 0; q < VL; q++) {
          double t = p[q * ld + e];
          p[q * ld + e] = p[q * ld + r];
          p[q * ld + r] = t;
        }
        s[k] = -s[k];
      }
      if (d != 0 && (d < DBL_MIN && d > -DBL_MIN))
        return 1;
      rd[k] = d != 0 ? 1 / d : 0;
    }
    /* Multipliers below the pivot, then the columns right of it, the
       first of them searched for the next step's pivot. */
    const vm below = lane > (int64_t)e;
    vd l0[2];
    for (int k = 0; k < K; k++) {
      vd *col = (vd *)(pp[k] + e * ld);
      col[0] = SEL(below, col[0] * rd[k], col[0]);
      for (size_t b = 1; b < blocks; b++)
        col[b] *= rd[k];
      l0[k] = SEL(below, col[0], zero);
    }
    for (size_t q = e + 1; q < nb; q++) {
      double uq[2];
      for (int k = 0; k < K; k++) {
        vd *cq = (vd *)(pp[k] + q * ld);
        uq[k] = pp[k][q * ld + e];
        cq[0] -= l0[k] * uq[k];
      }
      if (q == e + 1) {
        for (int k = 0; k < K; k++)
          f[k] = search_start(((vd *)(pp[k] + q * ld))[0], q);
        size_t b = 1;
        for (; b + 1 < blocks; b += 2)
          for (int k = 0; k < K; k++) {
            vd *cq = (vd *)(pp[k] + q * ld);
            const vd *col = (const vd *)(pp[k] + e * ld);
            const vd y1 = cq[b] - col[b] * uq[k],
                     y0 = cq[b + 1] - col[b + 1] * uq[k];
            cq[b] = y1;
            cq[b + 1] = y0;
            search_next(&f[k], y1, b, 1);
            search_next(&f[k], y0, b + 1, 0);
          }
        if (b < blocks)
          for (int k = 0; k < K; k++) {
            vd *cq = (vd *)(pp[k] + q * ld);
            const vd *col = (const vd *)(pp[k] + e * ld);
            const vd y1 = cq[b] - col[b] * uq[k];
            cq[b] = y1;
            search_next(&f[k], y1, b, 1);
          }
      } else {
        for (int k = 0; k < K; k++) {
          vd *cq = (vd *)(pp[k] + q * ld);
          const vd *col = (const vd *)(pp[k] + e * ld);
          for (size_t b = 1; b < blocks; b++)
            cq[b] -= col[b] * uq[k];
        }
      }
    }
  }
  return 0;
}

/*
 * Columns j .. j+kb-1 (vectors) of the trailing rows VL .. m-1 below panel
 * c's pivot rows u (rows of w vectors), each row minus its multipliers
 * (p + i, stride ld) times the kb x VL pivot-row vectors, held in
 * registers down the rows.  kb is a constant at every call (NB, or what is
 * left past the last NB), so that the remainder keeps its vectors in
 * registers too: column by column, it loaded a multiplier for every
 * multiply, a twentieth of a profile of AVX-512 at n = 100 (the two
 * changes together: 0.965 of the time).
 */
static inline __attribute__((always_inline)) void
update(vd *restrict x, const vd *restrict u, size_t w, const double *p,
       size_t ld, size_t m, const int kb) {
  vd uu[NB][VL];
  for (int b = 0; b < kb; b++)
    UNROLL for (int q = 0; q < VL; q++) uu[b][q] = u[q * w + b];
  for (size_t i = VL; i < m; i++, x += w) {
    const double *l = p + i;
    vd t[NB];
    for (int b = 0; b < kb; b++)
      t[b] = x[b];
    UNROLL for (int q = 0; q < VL; q++) {
      const double lq = l[q * ld];
      for (int b = 0; b < kb; b++)
        t[b] -= lq * uu[b][q];
    }
    for (int b = 0; b < kb; b++)
      x[b] = t[b];
  }
}

/*
 * Panel c (columns c*VL ..): its rows k0 .. n-1 copied out to p
 * (step_copy) and factored (panel_k); its swaps applied to the rows right
 * of it (columns left of it are never read again) and its pivots written
 * back to the diagonal; its VL pivot rows right of it solved by its unit
 * lower triangle; the rows below, right of it, given one rank-VL update,
 * NB vectors of the pivot rows in registers down every row, each
 * multiplier broadcast from p (step_rest).  Each trailing element is
 * loaded and stored once per VL pivot steps.
 */
static void step_copy(const vd *restrict a, size_t n, size_t w, size_t c,
                      double *restrict p) {
  const size_t k0 = c * VL, m = n - k0, ld = (m + VL - 1) / VL * VL;

  /* Row-major vectors to columns, VL rows at a time by TRANSPOSE: lane by
     lane, the scalar stores took a fifth of n = 100 on AVX-512. */
  size_t i = 0;
  for (; i + VL <= m; i += VL) {
    vd r[VL], t[VL];
    UNROLL for (int q = 0; q < VL; q++) r[q] = a[(k0 + i + q) * w + c];
    TRANSPOSE(r, t);
    UNROLL for (int q = 0; q < VL; q++) *(vd *)(p + q * ld + i) = t[q];
  }
  for (; i < m; i++) {
    const vd x = a[(k0 + i) * w + c];
    UNROLL for (int q = 0; q < VL; q++) p[q * ld + i] = x[q];
  }
  for (; i < ld; i++)
    UNROLL for (int q = 0; q < VL; q++) p[q * ld + i] = 0;
}

static void step_rest(vd *restrict a, size_t n, size_t w, size_t panels,
                      size_t c, const double *restrict p, const size_t *piv) {
  const size_t k0 = c * VL, m = n - k0, nb = m < VL ? m : VL,
               ld = (m + VL - 1) / VL * VL;
  for (size_t e = 0; e < nb; e++) {
    a[(k0 + e) * w + c][e] = p[e * ld + e];
    if (piv[e] != e) {
      vd *x = a + (k0 + e) * w, *y = a + (k0 + piv[e]) * w;
      for (size_t j = c + 1; j < panels; j++) {
        vd t = x[j];
        x[j] = y[j];
        y[j] = t;
      }
    }
  }
  if (m <= VL)
    return;
  /* The pivot rows by forward substitution, a column vector at a time in
     registers (through memory, each row's sum was a chain of stores and
     reloads). */
  vd *u = a + k0 * w;
  for (size_t j = c + 1; j < panels; j++) {
    vd v[VL];
    UNROLL for (int r = 0; r < VL; r++) v[r] = u[r * w + j];
    UNROLL for (int r = 1; r < VL; r++) {
      UNROLL for (int q = 0; q < r; q++) v[r] -= p[q * ld + r] * v[q];
      u[r * w + j] = v[r];
    }
  }
  size_t j = c + 1;
  vd *x = a + (k0 + VL) * w;
  for (; j + NB <= panels; j += NB)
    update(x + j, u + j, w, p, ld, m, NB);
  switch (panels - j) { /* 0 .. NB-1 columns left */
#if NB > 3
  case 3:
    update(x + j, u + j, w, p, ld, m, 3);
    break;
#endif
#if NB > 2
  case 2:
    update(x + j, u + j, w, p, ld, m, 2);
    break;
#endif
  case 1:
    update(x + j, u + j, w, p, ld, m, 1);
    break;
  default:
    break;
  }
}

/* Panel c of K matrices: copied, factored (the panels' chains
   interleaved), the rest of each step. */
static inline __attribute__((always_inline)) int
step_k(vd *const *aa, size_t n, size_t w, size_t panels, size_t c,
       double *const *pp, double *s, prefetcher *pf, const int K) {
  const size_t k0 = c * VL, m = n - k0, nb = m < VL ? m : VL,
               ld = (m + VL - 1) / VL * VL;
  size_t piv[2][VL];
  for (int k = 0; k < K; k++)
    step_copy(aa[k], n, w, c, pp[k]);
  if (panel_k(pp, m, ld, nb, piv, s, pf, K) != 0)
    return 1;
  for (int k = 0; k < K; k++)
    step_rest(aa[k], n, w, panels, c, pp[k], piv[k]);
  return 0;
}

/*
 * Blocked LU with partial pivoting on a row-major copy of A, right-looking
 * as LAPACK's dgetrf, with panels one vector wide (see det.h, mid).  Up to
 * a few hundred rows the matrix stays in L2, where dgetrf's call and panel
 * overheads dominate and this is faster.
 */
/* x (n x n, row-major) into a, rows of w vectors; 2 if x has a NaN or an
   infinity. */
static int load(const double *x, size_t n, vd *restrict a, size_t w) {
  const vd zero = {0};
  vm nan = {0};

  for (size_t i = 0; i < n; i++) {
    const double *xi = x + i * n;
    size_t j = 0;
    for (; j + VL <= n; j += VL) {
      vd v = *(const vdu *)(xi + j);
      nan |= ~(VABS(v) <= zero + DBL_MAX);
      a[i * w + j / VL] = v;
    }
    if (j < n) {
      /* The row's last elements: one load reaching into the next row,
         those lanes cleared (the inserts lane by lane stood out in a
         profile of AVX-512 at n = 100); lane by lane on the last row. */
      vd v = {0};
      if (i + 1 < n) {
        const vm lane = IOTA;
        v = (vd)((vm) * (const vdu *)(xi + j) & (lane < (int64_t)(n - j)));
      } else {
        for (size_t q = 0; j + q < n; q++)
          v[q] = xi[j + q];
      }
      nan |= ~(VABS(v) <= zero + DBL_MAX);
      a[i * w + j / VL] = v;
    }
  }
  for (int q = 0; q < VL; q++)
    if (nan[q] != 0)
      return 2;
  return 0;
}

/* The next matrix comes from memory while this one is factored in cache:
   its lines spread over the n pivot steps (see prefetch_step). */
static prefetcher fetcher(const char *next, size_t n) {
  prefetcher pf = {next, 0, 0};
  if (next != NULL) {
    pf.left = (n * n * sizeof(double) + 63) / 64;
    pf.per = (pf.left + n - 1) / n;
    if (pf.per > PF_CAP)
      pf.per = PF_CAP;
  }
  return pf;
}

static int mid(const double *x, size_t n, double *ad, double *pd,
               double *sign, const char *next) {
  vd *restrict a = (vd *)__builtin_assume_aligned(ad, PK__DET_ALIGN);
  double *restrict p = __builtin_assume_aligned(pd, PK__DET_ALIGN);
  const size_t w = pk__det_ld(n, VL) / VL; /* vectors a row */
  const size_t panels = (n + VL - 1) / VL;

  if (load(x, n, a, w) != 0)
    return 2;
  vd *const aa[1] = {a};
  double *const pp[1] = {p};
  prefetcher pf = fetcher(next, n);
  double s = 1;
  for (size_t c = 0; c < panels; c++)
    if (step_k(aa, n, w, panels, c, pp, &s, &pf, 1) != 0)
      return 1;
  *sign = s;
  return 0;
}

/* Two matrices at once, their panels' chains interleaved: 0 with both
   signs and pivots; 1 if either has a NaN, an infinity or a subnormal
   pivot (then each goes through mid alone). */
static int mid2(const double *x0, const double *x1, size_t n, double *a0,
                double *a1, double *p0, double *p1, double *sign,
                const char *next0, const char *next1) {
  vd *const aa[2] = {(vd *)__builtin_assume_aligned(a0, PK__DET_ALIGN),
                     (vd *)__builtin_assume_aligned(a1, PK__DET_ALIGN)};
  double *const pp[2] = {__builtin_assume_aligned(p0, PK__DET_ALIGN),
                         __builtin_assume_aligned(p1, PK__DET_ALIGN)};
  const size_t w = pk__det_ld(n, VL) / VL;
  const size_t panels = (n + VL - 1) / VL;
  if (load(x0, n, aa[0], w) != 0 || load(x1, n, aa[1], w) != 0)
    return 1;
  prefetcher pf[2] = {fetcher(next0, n), fetcher(next1, n)};
  double s[2] = {1, 1};
  for (size_t c = 0; c < panels; c++)
    if (step_k(aa, n, w, panels, c, pp, s, pf, 2) != 0)
      return 1;
  sign[0] = s[0];
  sign[1] = s[1];
  return 0;
}

/* ----------------------------------------------------------------- table */

/*
 * The crossovers of this width, where the next path became faster on one
 * core (an AVX-512 Xeon, model 207; the middle paths' ends agree with what
 * a Zen 3 host showed).  The small paths' ends moved up when their
 * elimination lost its blends: at n = 33 the small path took 0.67
 * (AVX-512), 0.95 (AVX2) and 0.74 (generic) of the middle path's time; at
 * 38, 1.01 (AVX-512) and 0.90 (AVX2, 1.12 at 40); generic 0.98 at 44 and
 * 1.0 at 48.  The generic middle path's rank-2 updates load and store
 * each element every second step: dgetrf overtakes it early.
 */
#if VL == 8
#define SMALL_MAX 36
#define MID_MAX 512
#elif VL == 4
#define SMALL_MAX 36
#define MID_MAX 512
#else
#define SMALL_MAX 40
#define MID_MAX 80
#endif
_Static_assert(SMALL_MAX <= PK__DET_SMALL_CAP, "r[] holds a small row");
_Static_assert(WIDE_MAX <= PK__DET_WIDE_N, "small_scratch has room");

void CAT(pk__corr_direct_, ISA)(const double *P, size_t pw, const double *c,
                                size_t h2, size_t w2, double *r, size_t ho,
                                size_t wo, const char *next,
                                size_t lines); /* corr_simd.c */
void CAT(pk__corr_cmulc_, ISA)(double *a, const double *b, size_t n);
int CAT(pk__corr_integers_, ISA)(const double *x, size_t n, double *l1,
                                 double *l2, double *mx);
void CAT(pk__corr_norms_, ISA)(const double *x, size_t n, double *mx,
                               double *l1);
void CAT(pk__corr_split_, ISA)(const double *z, size_t W, double *x1,
                               double *x2);
void CAT(pk__corr_merge_, ISA)(const double *x1, const double *x2, size_t W,
                               double *y);
void CAT(pk__corr_put_row_, ISA)(double *o, size_t n, const double *y,
                                 int part, size_t l, size_t m,
                                 const double *lead, const double *trail,
                                 double s, int rnd, int stream);
void CAT(pk__corr_axpy_, ISA)(double *r, double c, const double *y, size_t n);
void CAT(pk__corr_axpy4_, ISA)(double *r, const double *c, const double *y,
                               size_t n);

const pk__det_isa CAT(pk__det_, ISA) = {
    .lanes = VL,
    .small_max = SMALL_MAX,
    .wide_max = WIDE_MAX,
    .mid_max = MID_MAX,
    .group = group,
    .mid = mid,
    .mid2 = mid2,
    .corr = CAT(pk__corr_direct_, ISA),
    .cmulc = CAT(pk__corr_cmulc_, ISA),
    .integers = CAT(pk__corr_integers_, ISA),
    .norms = CAT(pk__corr_norms_, ISA),
    .split = CAT(pk__corr_split_, ISA),
    .merge = CAT(pk__corr_merge_, ISA),
    .put_row = CAT(pk__corr_put_row_, ISA),
    .axpy = CAT(pk__corr_axpy_, ISA),
    .axpy4 = CAT(pk__corr_axpy4_, ISA),
};
