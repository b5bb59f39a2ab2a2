/* sgemm_avx512.c — single-threaded f32 GEMM for CPUs with AVX-512, C = alpha op(A) op(B) + beta C
 * (row-major; the same contract as lpo_cpu_sgemm, which calls it when the CPU has AVX-512F).
 *
 * Why our own: where OpenBLAS runs AVX2 kernels on an AVX-512 CPU (OPENBLAS_CORETYPE=Haswell,
 * as our training machines are set, or an OpenBLAS built without AVX-512), this kernel does
 * the same products ~1.4x faster (measured on a training step's shapes: NT forward, NN and TN
 * backward, K = 256..8192). Against OpenBLAS's own AVX-512 kernels it is at parity (0.9-1.05x
 * per shape), so lpo_cpu_sgemm keeps OpenBLAS there. It keeps a 14 x 32 tile of C in 28 zmm
 * registers (the largest tile that leaves room for the two B vectors: 28 FMAs per 16 loads,
 * so the two FMA ports, not the loads, bound it; ~95% of peak with operands in cache).
 *
 * Blocking (Goto/BLIS): K in blocks of KC = 256. The broadcast operand's micro-panel (A, 14 x
 * KC, 15 KiB) stays in L1 while the kernel streams every 32-column B micro-panel of a B block
 * (KC x NC, 1 MiB) past it from L2; keeping B's 32 KiB panel in L1 instead (with A
 * streaming) measured ~10% slower, the two do not fit L1's 48 KiB together. Layouts:
 *   B panel: bp[k*32 + j]        (32 consecutive columns per k: two vector loads)
 *   A panel: ap[k + i*AI]        when A is row-major along K (NN/NT: a row copy per i),
 *            ap[k*14 + i]        when op(A) = A^T (TN: a copy of 14 consecutive floats per k);
 *   the microkernel broadcasts A with immediate offsets, so either layout costs the same and
 *   packing A is a plain copy in both cases. Only NT's B (weights [N,K]) needs a transpose.
 * Edges: packed panels are zero-padded to whole tiles; stores use AVX-512 masks for the
 * column tail and skip rows past M.
 *
 * Determinism: every element of C sums its K products in the same order (k ascending within
 * a KC block, blocks ascending) whatever the caller's split of C over threads, so results do
 * not depend on the thread count. */
#include "cpu/cpu.h"
#include "lpo.h"

#if defined(__GNUC__) && defined(__x86_64__) && !defined(LPO_NO_AVX512_SGEMM)
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>

enum {
  MR = 14, NR = 32,
  KC = 256,            /* K block: an A micro-panel (14 x KC, 15 KiB) stays in L1 */
  AI = KC + 16,        /* row stride of an A panel in the row layout: padded so the 14 rows
                          broadcast in one k step fall in different L1 sets (not 1 KiB apart) */
  MC = 12 * MR,        /* A block: 168 rows packed at a time */
  NC = 1024,           /* B block: KC x NC = 1 MiB, stays in L2 while every A micro-panel
                          of the block streams over it */
};

#define AVX512 __attribute__((target("avx512f")))

/* Per-thread packing buffers, grown on demand and kept (a training step makes hundreds of
 * calls); freed when the thread exits. */
typedef struct pack_buf { float *a, *b, *whole; size_t bcap, wcap; } pack_buf;
static _Thread_local pack_buf tls;
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void buf_free(void *p) {
  pack_buf *b = p;
  free(b->a);
  free(b->b);
  free(b->whole);
  b->a = b->b = b->whole = NULL;
  b->bcap = b->wcap = 0;
}
static void key_init(void) { pthread_key_create(&key, buf_free); }

static pack_buf *bufs(size_t bfloats) {
  pack_buf *p = &tls;
  if (!p->a) {
    pthread_once(&key_once, key_init);
    p->a = aligned_alloc(64, sizeof(float) * (size_t)MC * AI);
    pthread_setspecific(key, p);
  }
  if (p->bcap < bfloats) {
    free(p->b);
    p->b = aligned_alloc(64, sizeof(float) * bfloats);
    p->bcap = p->b ? bfloats : 0;
  }
  return p->a && p->b ? p : NULL;
}

/* ---- packing ---- */

/* In-register transpose of a 16 x 16 block: r[i] holds row i on entry, column i on exit.
 * Three rounds of shuffles (within 128-bit lanes, then across lanes twice): ~64 shuffles
 * per 256 floats, where scalar stores to a 32-float-stride panel cost one store each. */
AVX512 static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {                 /* pairs of rows interleaved */
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; g++) {                 /* lane l of r[4g+q]: rows 4g..4g+3, column 4l+q */
    r[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int q = 0; q < 4; q++) {                 /* gather lane l of the four row groups */
    t[q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
    t[q + 4] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xDD);
    t[q + 8] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    t[q + 12] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xDD);
  }
  for (int q = 0; q < 4; q++) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0x88);
    r[q + 8] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0xDD);
    r[q + 4] = _mm512_shuffle_f32x4(t[q + 4], t[q + 12], 0x88);
    r[q + 12] = _mm512_shuffle_f32x4(t[q + 4], t[q + 12], 0xDD);
  }
}

/* B block: columns [0, nc) of op(B) rows [0, kc) into panels of NR columns, zero-padded. */
AVX512 static void pack_b(float *bp, const float *B, int ldb, int tB, int kc, int nc) {
  for (int j0 = 0; j0 < nc; j0 += NR, bp += (size_t)kc * NR) {
    int nr = nc - j0 < NR ? nc - j0 : NR;
    if (!tB) {                                   /* op(B) = B [K,N]: row slices */
      __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
      __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
      for (int k = 0; k < kc; k++) {
        const float *s = B + (size_t)k * ldb + j0;
        _mm512_store_ps(bp + k * NR, _mm512_maskz_loadu_ps(m0, s));
        _mm512_store_ps(bp + k * NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
      }
    } else {                                     /* op(B) = B^T, B [N,K]: a transpose */
      for (int jb = 0; jb < NR; jb += 16) {
        int nv = nr - jb < 0 ? 0 : nr - jb > 16 ? 16 : nr - jb;
        for (int k0 = 0; k0 < kc; k0 += 16) {
          int kk = kc - k0 < 16 ? kc - k0 : 16;
          __mmask16 km = (__mmask16)(kk == 16 ? 0xFFFF : (1u << kk) - 1);
          __m512 r[16];
          for (int i = 0; i < 16; i++)
            r[i] = i < nv ? _mm512_maskz_loadu_ps(km, B + (size_t)(j0 + jb + i) * ldb + k0)
                          : _mm512_setzero_ps();
          transpose16(r);
          for (int c = 0; c < kk; c++) _mm512_store_ps(bp + (size_t)(k0 + c) * NR + jb, r[c]);
        }
      }
    }
  }
}

/* A block: rows [0, mc) of op(A), K range [0, kc), into panels of MR rows, zero-padded. */
AVX512 static void pack_a(float *ap, const float *A, int lda, int tA, int kc, int mc) {
  if (!tA) {                                     /* row layout: ap[k + i*AI] */
    for (int i0 = 0; i0 < mc; i0 += MR) {
      int mr = mc - i0 < MR ? mc - i0 : MR;
      float *p = ap + (size_t)i0 * AI;
      for (int i = 0; i < MR; i++) {
        if (i < mr) memcpy(p + (size_t)i * AI, A + (size_t)(i0 + i) * lda, sizeof(float) * kc);
        else memset(p + (size_t)i * AI, 0, sizeof(float) * kc);
      }
    }
    return;
  }
  /* k-major layout, ap[k*MR + i] in each panel (same footprint as the row layout): one
   * masked load/store of MR floats per (k, panel) (a memcpy call per 14 floats was 6% of a
   * step). k outer: each row of A is read once, mc contiguous floats dealt to the panels;
   * panel by panel (k inner) walked a column strip of kc rows lda apart mc/MR times, and
   * that walk was 21% of a TN product's time. */
  const __mmask16 sm = (__mmask16)((1u << MR) - 1);
  for (int k = 0; k < kc; k++) {
    const float *src = A + (size_t)k * lda;
    for (int i0 = 0; i0 < mc; i0 += MR) {
      int mr = mc - i0 < MR ? mc - i0 : MR;
      __mmask16 lm = (__mmask16)((1u << mr) - 1);
      _mm512_mask_storeu_ps(ap + (size_t)i0 * AI + (size_t)k * MR, sm, _mm512_maskz_loadu_ps(lm, src + i0));
    }
  }
}

/* ---- microkernel: a 14 x 32 tile, C = alpha * sum_k a b + beta C ---- */

/* SK, SI: offsets of A's element (i, k) = k*SK + i*SI (compile-time, so every broadcast is
 * an FMA with an embedded-broadcast memory operand at an immediate displacement). */
#define KERNEL_BODY(SK, SI)                                                                  \
  /* C's tile is read only at the end: start fetching it now (from L3/DRAM its 28 lines     \
   * would otherwise cost a few hundred cycles of stalls per tile) */                        \
  for (int i = 0; i < mr; i++) {                                                             \
    _mm_prefetch((const char *)(C + (size_t)i * ldc), _MM_HINT_T0);                          \
    _mm_prefetch((const char *)(C + (size_t)i * ldc + 16), _MM_HINT_T0);                     \
  }                                                                                          \
  __m512 c[MR][2];                                                                           \
  _Pragma("GCC unroll 14") for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps(); \
  for (int k = 0; k < kc; k++) {                                                             \
    __m512 b0 = _mm512_load_ps(bp + (size_t)k * NR), b1 = _mm512_load_ps(bp + (size_t)k * NR + 16); \
    const float *a = ap + (size_t)k * (SK);                                                  \
    _Pragma("GCC unroll 14") for (int i = 0; i < MR; i++) {                                  \
      __m512 av = _mm512_set1_ps(a[i * (SI)]);                                               \
      c[i][0] = _mm512_fmadd_ps(av, b0, c[i][0]);                                            \
      c[i][1] = _mm512_fmadd_ps(av, b1, c[i][1]);                                            \
    }                                                                                        \
  }                                                                                          \
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                              \
  __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);                             \
  __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr > 16 ? (1u << (nr - 16)) - 1 : 0);         \
  _Pragma("GCC unroll 14") for (int i = 0; i < MR; i++) {                                    \
    if (i >= mr) break;                                                                      \
    float *cr = C + (size_t)i * ldc;                                                         \
    __m512 r0 = _mm512_mul_ps(va, c[i][0]), r1 = _mm512_mul_ps(va, c[i][1]);                 \
    if (beta != 0.0f) {  /* beta == 0 must not read C (it may hold NaN/garbage) */           \
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), r0);                           \
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), r1);                      \
    }                                                                                        \
    _mm512_mask_storeu_ps(cr, m0, r0);                                                       \
    _mm512_mask_storeu_ps(cr + 16, m1, r1);                                                  \
  }

AVX512 static void kernel_rows(int kc, const float *ap, const float *bp, float *C, int ldc,
                               int mr, int nr, float alpha, float beta) {
  KERNEL_BODY(1, AI)
}

AVX512 static void kernel_kmajor(int kc, const float *ap, const float *bp, float *C, int ldc,
                                 int mr, int nr, float alpha, float beta) {
  KERNEL_BODY(MR, 1)
}

/* Where block (jc, pc) of op(B) starts in a whole-B packing: for each block of NC columns
 * at jc, a region of K x ncp floats (ncp = the block's width rounded up to NR) at jc * K;
 * in it the K block at pc starts at pc * ncp, its NR-column panels kc floats apart: exactly
 * what gemm() packs one block at a time, so results are the same bits. */
static inline size_t whole_block(int jc, int pc, int ncp, int K) {
  return (size_t)jc * K + (size_t)pc * ncp;
}

/* Returns 0, or -1 when the packing buffers cannot be allocated (the caller falls back).
 * bpre: op(B) already packed whole (lpo_cpu_sgemm_avx512_pack_b), or NULL to pack here. */
static int gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc, const float *bpre) {
  int ncb = N < NC ? N : NC;
  int kcb = K < KC ? K : KC;
  pack_buf *pb = bufs(bpre ? 1 : (size_t)kcb * ((ncb + NR - 1) / NR * NR));
  if (!pb) return -1;
  for (int jc = 0; jc < N; jc += NC) {
    int nc = N - jc < NC ? N - jc : NC, ncp = (nc + NR - 1) / NR * NR;
    for (int pc = 0; pc < K; pc += KC) {
      int kc = K - pc < KC ? K - pc : KC;
      float bet = pc == 0 ? beta : 1.0f;        /* later K blocks add to the first's result */
      const float *bblock = bpre ? bpre + whole_block(jc, pc, ncp, K) : pb->b;
      if (!bpre) pack_b(pb->b, tB ? B + (size_t)jc * ldb + pc : B + (size_t)pc * ldb + jc, ldb, tB, kc, nc);
      for (int ic = 0; ic < M; ic += MC) {
        int mc = M - ic < MC ? M - ic : MC;
        pack_a(pb->a, tA ? A + (size_t)pc * lda + ic : A + (size_t)ic * lda + pc, lda, tA, kc, mc);
        for (int ir = 0; ir < mc; ir += MR) {
          int mr = mc - ir < MR ? mc - ir : MR;
          const float *ap = pb->a + (size_t)ir * AI;
          for (int jr = 0; jr < nc; jr += NR) {
            int nr = nc - jr < NR ? nc - jr : NR;
            const float *bp = bblock + (size_t)jr * kc;
            float *cp = C + (size_t)(ic + ir) * ldc + jc + jr;
            if (tA) kernel_kmajor(kc, ap, bp, cp, ldc, mr, nr, alpha, bet);
            else kernel_rows(kc, ap, bp, cp, ldc, mr, nr, alpha, bet);
          }
        }
      }
    }
  }
  return 0;
}

int lpo_cpu_sgemm_avx512_available(void) {
  static int have = -1;   /* benign race: every thread computes the same value */
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx512f") ? 1 : 0;
  }
  return have;
}

int lpo_cpu_sgemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (!lpo_cpu_sgemm_avx512_available()) return -1;
  if (M <= 0 || N <= 0 || K <= 0) return -1;    /* degenerate shapes: the caller's path */
  return gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}

/* Whole-B packing, laid out as whole_block() says. */
size_t lpo_cpu_sgemm_avx512_packed_size(int N, int K) {
  return (size_t)K * (size_t)((N + NR - 1) / NR * NR);
}

float *lpo_cpu_sgemm_avx512_whole_b(size_t floats) {
  pack_buf *p = bufs(1);
  if (!p) return NULL;
  if (p->wcap < floats) {
    free(p->whole);
    p->whole = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
    p->wcap = p->whole ? floats : 0;
  }
  return p->whole;
}

void lpo_cpu_sgemm_avx512_pack_b(float *bp, const float *B, int ldb, int tB, int N, int K, int p0, int p1) {
  for (int q = p0; q < p1; q++) {               /* panel q: columns [q*NR, q*NR + NR) */
    int j0 = q * NR, jc = j0 / NC * NC, jr = j0 - jc;
    int nc = N - jc < NC ? N - jc : NC, ncp = (nc + NR - 1) / NR * NR, nr = N - j0 < NR ? N - j0 : NR;
    for (int pc = 0; pc < K; pc += KC) {
      int kc = K - pc < KC ? K - pc : KC;
      pack_b(bp + whole_block(jc, pc, ncp, K) + (size_t)jr * kc,
             tB ? B + (size_t)j0 * ldb + pc : B + (size_t)pc * ldb + j0, ldb, tB, kc, nr);
    }
  }
}

int lpo_cpu_sgemm_avx512_prepacked(int transA, int M, int N, int K, float alpha, const float *A,
                                   int lda, const float *bp, float beta, float *C, int ldc) {
  if (!lpo_cpu_sgemm_avx512_available() || M <= 0 || N <= 0 || K <= 0) return -1;
  return gemm(transA, 0, M, N, K, alpha, A, lda, NULL, 0, beta, C, ldc, bp);
}

#else
size_t lpo_cpu_sgemm_avx512_packed_size(int N, int K) { (void)N; (void)K; return 0; }
float *lpo_cpu_sgemm_avx512_whole_b(size_t floats) { (void)floats; return NULL; }
void lpo_cpu_sgemm_avx512_pack_b(float *bp, const float *B, int ldb, int tB, int N, int K, int p0, int p1) {
  (void)bp; (void)B; (void)ldb; (void)tB; (void)N; (void)K; (void)p0; (void)p1;
}
int lpo_cpu_sgemm_avx512_prepacked(int transA, int M, int N, int K, float alpha, const float *A,
                                   int lda, const float *bp, float beta, float *C, int ldc) {
  (void)transA; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda; (void)bp; (void)beta;
  (void)C; (void)ldc;
  return -1;
}
int lpo_cpu_sgemm_avx512_available(void) { return 0; }
int lpo_cpu_sgemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda;
  (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
  return -1;
}
#endif
