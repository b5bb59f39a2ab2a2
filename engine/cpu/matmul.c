/* matmul.c — the linear layer, y = x W^T + b, forward and backward.
 *
 * Weights are stored as Hugging Face stores them, [OC, IC] row-major ("out features" by
 * "in features"), so a checkpoint tensor maps onto our buffer without a transpose.
 *   forward:  out[N,OC]  = inp[N,IC] . w[OC,IC]^T (+ bias)       sgemm NT
 *   backward: dinp[N,IC]  = dout[N,OC] . w[OC,IC]                  sgemm NN (written)
 *             dw[OC,IC]  += dout[N,OC]^T . inp[N,IC]               sgemm TN
 *             dbias[OC]  += sum over n of dout[n,:]
 * The fast path hands the products to single-threaded sgemm calls (our AVX-512 kernel, or
 * OpenBLAS) on blocks of the output split over the pool's threads (lpo_cpu_sgemm_par; the
 * NT forward from one shared packing of W^T, the backward's two products as a balanced
 * pair); the reference is the textbook triple loop with a double accumulator. */
#include "cpu/cpu.h"
#include <cblas.h>
#include <stdlib.h>

/* 1: our AVX-512 kernel (sgemm_avx512.c), 0: OpenBLAS. Ours when the CPU has AVX-512 but
 * OpenBLAS runs a kernel without it (a pre-AVX-512 build, or OPENBLAS_CORETYPE=Haswell as on
 * our training machine): there ours is ~1.4x faster on a training step's products; against
 * OpenBLAS's own AVX-512 kernels (SkylakeX and later) it is ~0.9x, so those keep OpenBLAS.
 * LPO_SGEMM=own or =blas overrides (benchmarks, tests). */
static int use_own_sgemm(void) {
  static int mode = -1;   /* benign race: every thread computes the same value */
  if (mode < 0) {
    const char *e = getenv("LPO_SGEMM");
    int own = lpo_cpu_sgemm_avx512_available();
    if (own && !(e && strcmp(e, "own") == 0)) {
      const char *core = openblas_get_corename();
      own = !(core && (strstr(core, "SkylakeX") || strstr(core, "Cooperlake") ||
                       strstr(core, "SapphireRapids") || strstr(core, "Sapphire")));
    }
    if (e && strcmp(e, "blas") == 0) own = 0;
    mode = own;
  }
  return mode;
}

int lpo_cpu_sgemm_split_invariant(void) { return use_own_sgemm(); }

void lpo_cpu_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {   /* BLAS would still scale C by beta; keep that meaning */
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return;
  }
  if (use_own_sgemm() &&
      lpo_cpu_sgemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0)
    return;
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Splits C into blocks of rows (or of columns when C is wide and short), aligned to 16 so
 * every block keeps whole SIMD panels (gemm_job: cpu.h). A block of rows reads the shared
 * pre-packed B when the job has one (falling back to packing its own when this thread
 * cannot get packing memory). */
static void gemm_task(void *ctx, int t0, int t1, int tid) {
  (void)tid;
  const gemm_job *j = ctx;
  int lo = t0 * j->unit, hi = t1 * j->unit;
  if (j->by_rows) {
    if (hi > j->M) hi = j->M;
    const float *A = j->tA ? j->A + lo : j->A + (size_t)lo * j->lda;
    float *C = j->C + (size_t)lo * j->ldc;
    if (!j->bp ||
        lpo_cpu_sgemm_avx512_prepacked(j->tA, hi - lo, j->N, j->K, j->alpha, A, j->lda, j->bp, j->beta, C, j->ldc))
      lpo_cpu_sgemm(j->tA, j->tB, hi - lo, j->N, j->K, j->alpha, A, j->lda, j->B, j->ldb, j->beta, C, j->ldc);
  } else {
    if (hi > j->N) hi = j->N;
    const float *B = j->tB ? j->B + (size_t)lo * j->ldb : j->B + lo;
    lpo_cpu_sgemm(j->tA, j->tB, j->M, hi - lo, j->K, j->alpha, j->A, j->lda, B, j->ldb, j->beta,
                  j->C + lo, j->ldc);
  }
}

/* NT products split by rows (every forward matmul and the LM head): each thread would
 * transpose the whole weight into its own panels, so instead the pool packs it once
 * (panels of 32 columns split over the threads), and then rows are computed from the
 * shared panels, balanced (a chunk costs no repacking now). Same bits as the plain path. */
static void pack_whole_task(void *ctx, int q0, int q1, int tid) {
  (void)tid;
  const gemm_job *j = ctx;
  /* bp is read-only to the job's products; this task is the one that fills it */
  lpo_cpu_sgemm_avx512_pack_b((float *)j->bp, j->B, j->ldb, j->tB, j->N, j->K, q0, q1);
}

/* At most this many floats of packed weight at once (16 MiB): wider products (a 150k-token
 * LM head) go in slices of columns, each packed and then computed; every element of C
 * still sums its whole K in one call, so the slicing does not change a bit. */
#define NT_SHARED_FLOATS ((size_t)4 << 20)

static int sgemm_nt_shared(const gemm_job *g) {
  int cols = (int)(NT_SHARED_FLOATS / (size_t)g->K) / 1024 * 1024;   /* whole 1024-column blocks */
  if (cols < 1024) cols = 1024;
  if (cols > g->N) cols = g->N;
  float *bp = lpo_cpu_sgemm_avx512_whole_b(lpo_cpu_sgemm_avx512_packed_size(cols, g->K));
  if (!bp) return -1;
  for (int n0 = 0; n0 < g->N; n0 += cols) {
    gemm_job j = *g;
    j.N = g->N - n0 < cols ? g->N - n0 : cols;
    j.B = g->B + (size_t)n0 * g->ldb;
    j.C = g->C + n0;
    j.bp = bp;
    lpo_cpu_parallel(pack_whole_task, &j, (j.N + 31) / 32, 0);
    lpo_cpu_parallel_balanced(gemm_task, &j, (j.M + j.unit - 1) / j.unit, 1);
  }
  return 0;
}

void lpo_cpu_sgemm_par(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  int nt = lpo_cpu_threads();
  /* Small products are not worth a fork-join. */
  if (nt <= 1 || (double)M * N * K < 1.5e6) {
    lpo_cpu_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  gemm_job j = { transA, transB, M, N, K, lda, ldb, ldc, M >= N || M >= 64 * nt, 16, alpha, beta, A, B, C, NULL };
  if (transB && !transA && j.by_rows && use_own_sgemm() && sgemm_nt_shared(&j) == 0) return;
  int len = j.by_rows ? M : N;
  lpo_cpu_parallel(gemm_task, &j, (len + 15) / 16, 0);
}

/* Few rows (decoding one token per sequence): sgemm would spend most of its time packing
 * the weight matrix, so instead each weight row is read once and dotted with every input
 * row, 4 inputs x 4 weight rows at a time in vector registers. Tasks: blocks of 4 outputs. */
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define ld16(p) (*(const v16 *)(p))

typedef struct skinny_job { float *out; const float *inp, *w; int N, IC, OC, accumulate; } skinny_job;

/* (by pointer: a vector passed by value would change the ABI between the clones) */
static inline float hsum16(const v16 *v) {
  float s = 0.0f;
  for (int i = 0; i < 16; i++) s += (*v)[i];
  return s;
}

static inline float dot_tail(const float *a, const float *b, int c0, int n) {
  float s = 0.0f;
  for (int c = c0; c < n; c++) s += a[c] * b[c];
  return s;
}

LPO_HOT static void skinny_task(void *ctx, int b0, int b1, int tid) {
  (void)tid;
  const skinny_job *j = ctx;
  const int N = j->N, IC = j->IC, OC = j->OC, C16 = IC & ~15;
  for (int ob = b0; ob < b1; ob++) {
    int o = ob * 4;
    if (o + 4 > OC) {                      /* last, partial block: plain dots */
      for (int oo = o; oo < OC; oo++)
        for (int n = 0; n < N; n++) {
          const float *x = j->inp + (size_t)n * IC, *w = j->w + (size_t)oo * IC;
          v16 a = { 0 };
          for (int c = 0; c < C16; c += 16) a += ld16(x + c) * ld16(w + c);
          float r = hsum16(&a) + dot_tail(x, w, C16, IC);
          float *y = j->out + (size_t)n * OC + oo;
          *y = j->accumulate ? *y + r : r;
        }
      continue;
    }
    const float *w0 = j->w + (size_t)o * IC;
    for (int n = 0; n < N; n += 4) {
      int nb = N - n < 4 ? N - n : 4;
      v16 acc[4][4];
      for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) acc[a][b] = (v16){ 0 };
      const float *x0 = j->inp + (size_t)n * IC;
      for (int c = 0; c < C16; c += 16) {
        v16 wv[4];
        for (int b = 0; b < 4; b++) wv[b] = ld16(w0 + (size_t)b * IC + c);
        for (int a = 0; a < nb; a++) {
          v16 xv = ld16(x0 + (size_t)a * IC + c);
#pragma GCC unroll 4
          for (int b = 0; b < 4; b++) acc[a][b] += xv * wv[b];
        }
      }
      for (int a = 0; a < nb; a++)
        for (int b = 0; b < 4; b++) {
          float r = hsum16(&acc[a][b]) + dot_tail(x0 + (size_t)a * IC, w0 + (size_t)b * IC, C16, IC);
          float *y = j->out + (size_t)(n + a) * OC + o + b;
          *y = j->accumulate ? *y + r : r;
        }
    }
  }
}

typedef struct bias_job { float *out; const float *bias; const float *dout; int N, OC; } bias_job;

LPO_HOT static void add_bias_task(void *ctx, int t0, int t1, int tid) {
  (void)tid;
  const bias_job *j = ctx;
  for (int n = t0; n < t1; n++) {
    float *o = j->out + (size_t)n * j->OC;
    for (int c = 0; c < j->OC; c++) o[c] += j->bias[c];
  }
}

/* Columns split over threads; rows summed in order: a fixed reduction order. */
LPO_HOT static void sum_rows_task(void *ctx, int t0, int t1, int tid) {
  (void)tid;
  const bias_job *j = ctx;
  int c0 = t0 * 16, c1 = t1 * 16 < j->OC ? t1 * 16 : j->OC;
  for (int n = 0; n < j->N; n++) {
    const float *d = j->dout + (size_t)n * j->OC;
    for (int c = c0; c < c1; c++) j->out[c] += d[c];
  }
}

void lpo_cpu_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                            int N, int IC, int OC, int accumulate) {
  if (N <= 8) {
    skinny_job j = { out, inp, w, N, IC, OC, accumulate };
    lpo_cpu_parallel(skinny_task, &j, (OC + 3) / 4, 0);
  } else {
    lpo_cpu_sgemm_par(0, 1, N, OC, IC, 1.0f, inp, IC, w, IC, accumulate ? 1.0f : 0.0f, out, OC);
  }
  if (bias) {
    bias_job j = { out, bias, NULL, N, OC };
    lpo_cpu_parallel(add_bias_task, &j, N, lpo_cpu_parts_for((size_t)N * OC));
  }
}

/* The two products of a backward are independent and cost about the same (N*IC*OC each):
 * with an even thread count each half of the threads starts on one of them whole, which
 * keeps the products large (fewer, bigger sgemm calls, no weight panel packed twice).
 * "About": the NN product runs ~5% slower than the TN one, and a vCPU may be taken away
 * for milliseconds, so the split is balanced: tasks [0, PIECES) are pieces of the first
 * product, [PIECES, 2 PIECES) of the second, and a thread that finishes early takes
 * pieces from the back of the other (lpo_cpu_parallel_balanced). With our sgemm every
 * element of C is summed whole, in one order, by one call, so the result does not depend
 * on who ran what; OpenBLAS's results change with the shape of the call, so there each
 * thread keeps its fixed part (the same bits run after run). */
enum { PAIR_PIECES = 16 };
typedef struct pair_job { gemm_job g[2]; } pair_job;

static void pair_task(void *ctx, int t0, int t1, int tid) {
  pair_job *p = ctx;
  for (int g = 0; g < 2; g++) {                  /* the part of [t0, t1) in product g */
    int a = t0 > g * PAIR_PIECES ? t0 - g * PAIR_PIECES : 0;
    int b = t1 - g * PAIR_PIECES < PAIR_PIECES ? t1 - g * PAIR_PIECES : PAIR_PIECES;
    if (a >= b) continue;
    gemm_job *j = &p->g[g];
    int len = j->by_rows ? j->M : j->N, units = (len + j->unit - 1) / j->unit;
    int u0 = (int)((int64_t)units * a / PAIR_PIECES), u1 = (int)((int64_t)units * b / PAIR_PIECES);
    if (u1 > u0) gemm_task(j, u0, u1, tid);
  }
}

void lpo_cpu_sgemm_pair(const gemm_job *a, const gemm_job *b) {
  int nt = lpo_cpu_threads();
  if (nt < 2 || nt % 2) {
    lpo_cpu_sgemm_par(a->tA, a->tB, a->M, a->N, a->K, a->alpha, a->A, a->lda, a->B, a->ldb, a->beta, a->C, a->ldc);
    lpo_cpu_sgemm_par(b->tA, b->tB, b->M, b->N, b->K, b->alpha, b->A, b->lda, b->B, b->ldb, b->beta, b->C, b->ldc);
    return;
  }
  pair_job p = { { *a, *b } };
  if (lpo_cpu_sgemm_split_invariant()) lpo_cpu_parallel_balanced(pair_task, &p, 2 * PAIR_PIECES, 1);
  else lpo_cpu_parallel(pair_task, &p, 2 * PAIR_PIECES, 0);   /* fixed cuts: same bits each run */
}

gemm_job lpo_cpu_gemm_job(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
  gemm_job j = { tA, tB, M, N, K, lda, ldb, ldc, M >= N || M >= 128, 16, alpha, beta, A, B, C, NULL };
  return j;
}

void lpo_cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                             const float *inp, const float *w, int N, int IC, int OC) {
  if (dinp && dw && (double)N * IC * OC >= 1.5e6) {
    gemm_job a = lpo_cpu_gemm_job(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, dinp, IC);
    gemm_job b = lpo_cpu_gemm_job(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
    lpo_cpu_sgemm_pair(&a, &b);
  } else {
    if (dinp) lpo_cpu_sgemm_par(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, dinp, IC);
    if (dw) lpo_cpu_sgemm_par(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
  }
  if (dbias) {
    bias_job j = { dbias, NULL, dout, N, OC };
    lpo_cpu_parallel(sum_rows_task, &j, (OC + 15) / 16, 0);
  }
}

void lpo_cpu_matmul_forward_ref(float *out, const float *inp, const float *w, const float *bias,
                                int N, int IC, int OC, int accumulate) {
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = bias ? bias[o] : 0.0;
      for (int i = 0; i < IC; i++) s += (double)inp[(size_t)n * IC + i] * w[(size_t)o * IC + i];
      float *y = &out[(size_t)n * OC + o];
      *y = accumulate ? *y + (float)s : (float)s;
    }
}

void lpo_cpu_matmul_backward_ref(float *dinp, float *dw, float *dbias, const float *dout,
                                 const float *inp, const float *w, int N, int IC, int OC) {
  if (dinp)
    for (int n = 0; n < N; n++)
      for (int i = 0; i < IC; i++) {
        double s = 0;
        for (int o = 0; o < OC; o++) s += (double)dout[(size_t)n * OC + o] * w[(size_t)o * IC + i];
        dinp[(size_t)n * IC + i] = (float)s;
      }
  if (dw)
    for (int o = 0; o < OC; o++)
      for (int i = 0; i < IC; i++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += (double)dout[(size_t)n * OC + o] * inp[(size_t)n * IC + i];
        dw[(size_t)o * IC + i] += (float)s;
      }
  if (dbias)
    for (int o = 0; o < OC; o++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
      dbias[o] += (float)s;
    }
}
