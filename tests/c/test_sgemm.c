/* test_sgemm.c — the AVX-512 sgemm (sgemm_avx512.c) and the lpo_cpu_sgemm entry point
 * against a plain double-precision triple loop, over shapes chosen to hit every edge of the
 * kernel's blocking: M, N, K = 1, sizes that are not multiples of the 14 x 32 tile, K across
 * the 256-deep blocks, M across the 168-row block, N across the 1024-column block, all four
 * transpose combinations, alpha/beta (beta = 0 must ignore NaN already in C), leading
 * dimensions larger than the rows. Also: splitting C into arbitrary row/column blocks (what
 * the thread pool does) gives bit-identical results, so the result does not depend on the
 * thread count; op(B) packed whole beforehand gives the kernel's own bits; the pool's NT
 * path (shared packed weight) gives one call's bits. Exits 77 for the kernel-only parts on a CPU without AVX-512. */
#include "check.h"
#include "cpu/cpu.h"
#include "lpo.h"
#include "lpo_backend.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {   /* xorshift: uniform in [-1, 1) */
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

typedef int (*sgemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int,
                        float, float *, int);

static int via_entry(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
  lpo_cpu_sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return 0;
}

/* One product: random operands stored with padded leading dimensions, C prefilled (NaN
 * when beta == 0), compared element by element with the double reference within the
 * worst-case bound of a K-term float sum, (K + 2) eps sum |alpha a b| + |beta c|. The
 * padding of C past N must stay untouched. Returns the number of bad elements. */
static int one(sgemm_fn f, const char *name, int tA, int tB, int M, int N, int K, float alpha,
               float beta, int pad) {
  int ar = tA ? K : M, ac = tA ? M : K, br = tB ? N : K, bc = tB ? K : N;
  int lda = ac + pad, ldb = bc + pad, ldc = N + pad;
  float *A = malloc(sizeof(float) * ar * lda), *B = malloc(sizeof(float) * br * ldb);
  float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc);
  for (int i = 0; i < ar * lda; i++) A[i] = frand();
  for (int i = 0; i < br * ldb; i++) B[i] = frand();
  for (int i = 0; i < M * ldc; i++) C0[i] = C[i] = beta == 0.0f ? NAN : frand();
  for (int i = 0; i < M; i++)
    for (int j = N; j < ldc; j++) C0[i * ldc + j] = C[i * ldc + j] = 12345.0f;
  int rc = f(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc), bad = 0;
  CHECK_MSG(rc == 0, "%s returned %d", name, rc);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < ldc; j++) {
      float got = C[i * ldc + j];
      if (j >= N) { bad += got != 12345.0f; continue; }
      double s = 0, mag = 0;
      for (int k = 0; k < K; k++) {
        double a = tA ? A[k * lda + i] : A[i * lda + k], b = tB ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
        mag += fabs(a * b);
      }
      double ref = alpha * s, tol = (K + 2) * 1.2e-7 * fabs(alpha) * mag;
      if (beta != 0.0f) { ref += beta * (double)C0[i * ldc + j]; tol += 1.2e-7 * fabs(beta * C0[i * ldc + j]); }
      if (!(fabs(got - ref) <= tol + 1e-30)) {
        if (bad < 3)
          fprintf(stderr, "  %s %c%c M=%d N=%d K=%d alpha=%g beta=%g pad=%d: C[%d,%d] = %.9g, want %.9g (tol %.3g)\n",
                  name, tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, alpha, beta, pad, i, j, got, ref, tol);
        bad++;
      }
    }
  free(A); free(B); free(C); free(C0);
  return bad;
}

static void shapes(sgemm_fn f, const char *name) {
  static const int dims[][3] = {
    { 1, 1, 1 }, { 1, 33, 7 }, { 13, 1, 5 }, { 3, 5, 1 }, { 14, 32, 16 }, { 15, 33, 17 },
    { 29, 63, 255 }, { 28, 64, 256 }, { 27, 65, 257 }, { 170, 40, 300 }, { 169, 97, 531 },
    { 3, 2050, 5 }, { 45, 16, 1024 }, { 64, 48, 20 },
  };
  int bad = 0, n = 0;
  for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
    for (int t = 0; t < 4; t++) {
      int M = dims[d][0], N = dims[d][1], K = dims[d][2];
      bad += one(f, name, t >> 1, t & 1, M, N, K, 1.0f, 0.0f, 0);          /* plain */
      bad += one(f, name, t >> 1, t & 1, M, N, K, -0.5f, 1.0f, 3);         /* accumulate, padded */
      bad += one(f, name, t >> 1, t & 1, M, N, K, 2.0f, 0.25f, 17);        /* both scales */
      n += 3;
    }
  CHECK_MSG(bad == 0, "%s: %d elements outside the bound over %d products", name, bad, n);
}

/* The pool hands each thread a block of rows or of columns of C; every block boundary must
 * give the same bits as one call over the whole C. */
static void split_invariance(sgemm_fn f, const char *name) {
  const int M = 61, N = 90, K = 300;
  for (int t = 0; t < 4; t++) {
    int tA = t >> 1, tB = t & 1;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) A[i] = frand();
    for (int i = 0; i < K * N; i++) B[i] = frand();
    int lda = tA ? M : K, ldb = tB ? K : N;
    f(tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C1, N);
    int r0 = 0, cuts[] = { 5, 19, 44, M };        /* row blocks of 5, 14, 25, 17 */
    for (int c = 0; c < 4; c++) {
      const float *Ab = tA ? A + r0 : A + (size_t)r0 * lda;
      int c0 = 0, ccuts[] = { 16, 23, 90 };      /* and column blocks inside each */
      for (int cc = 0; cc < 3; cc++) {
        const float *Bb = tB ? B + (size_t)c0 * ldb : B + c0;
        f(tA, tB, cuts[c] - r0, ccuts[cc] - c0, K, 1.0f, Ab, lda, Bb, ldb, 0.0f, C2 + (size_t)r0 * N + c0, N);
        c0 = ccuts[cc];
      }
      r0 = cuts[c];
    }
    int diff = 0;
    for (int i = 0; i < M * N; i++) diff += C1[i] != C2[i];
    CHECK_MSG(diff == 0, "%s %c%c: %d elements differ between one call and blocks", name,
              tA ? 'T' : 'N', tB ? 'T' : 'N', diff);
    free(A); free(B); free(C1); free(C2);
  }
}

/* op(B) packed whole beforehand (in two ranges of panels, as two threads would) gives the
 * same bits as the kernel's own block-by-block packing: shapes across the 1024-column and
 * 256-deep blocks, tails of both, all four transposes, alpha/beta with padded C. */
static void prepacked(void) {
  static const int dims[][3] = { { 61, 90, 300 }, { 30, 1100, 260 }, { 200, 2100, 520 }, { 5, 33, 7 },
                                 { 170, 1024, 256 } };
  for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
    for (int t = 0; t < 4; t++) {
      int M = dims[d][0], N = dims[d][1], K = dims[d][2], tA = t >> 1, tB = t & 1, ldc = N + 3;
      int lda = tA ? M : K, ldb = tB ? K : N;
      float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
      float *C1 = malloc(sizeof(float) * M * ldc), *C2 = malloc(sizeof(float) * M * ldc);
      float *bp = lpo_cpu_sgemm_avx512_whole_b(lpo_cpu_sgemm_avx512_packed_size(N, K));
      for (int i = 0; i < M * K; i++) A[i] = frand();
      for (int i = 0; i < K * N; i++) B[i] = frand();
      for (int i = 0; i < M * ldc; i++) C1[i] = C2[i] = frand();
      int q = (N + 31) / 32;
      lpo_cpu_sgemm_avx512_pack_b(bp, B, ldb, tB, N, K, 0, q / 3);
      lpo_cpu_sgemm_avx512_pack_b(bp, B, ldb, tB, N, K, q / 3, q);
      CHECK(lpo_cpu_sgemm_avx512(tA, tB, M, N, K, -0.5f, A, lda, B, ldb, 0.25f, C1, ldc) == 0);
      CHECK(lpo_cpu_sgemm_avx512_prepacked(tA, M, N, K, -0.5f, A, lda, bp, 0.25f, C2, ldc) == 0);
      CHECK_MSG(memcmp(C1, C2, sizeof(float) * M * ldc) == 0, "prepacked %c%c M=%d N=%d K=%d differs",
                tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K);
      free(A); free(B); free(C1); free(C2);
    }
}

/* lpo_cpu_sgemm_par's NT path (the weight's transpose packed once, shared by the pool's
 * threads, rows balanced) against one call, at 2 threads: the same bits where our kernel
 * runs (its bits do not depend on the cut), else within rounding. */
static void par_nt(void) {
  int threads = lpo_cpu_threads();
  lpo_cpu_set_threads(2);
  /* the last: K = 3000 makes the 16 MiB of shared panels hold 1024 columns, so the 2100
   * columns go in three slices */
  static const int dims[][3] = { { 300, 700, 256 }, { 1020, 1100, 64 }, { 97, 2100, 300 }, { 130, 2100, 3000 } };
  for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
    int M = dims[d][0], N = dims[d][1], K = dims[d][2];
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) A[i] = frand();
    for (int i = 0; i < K * N; i++) B[i] = frand();
    lpo_cpu_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
    for (int rep = 0; rep < 2; rep++) {
      lpo_cpu_sgemm_par(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
      if (lpo_cpu_sgemm_split_invariant())
        CHECK_MSG(memcmp(C1, C2, sizeof(float) * M * N) == 0, "sgemm_par NT M=%d N=%d K=%d differs", M, N, K);
      else
        CHECK(check_rel_err(C2, C1, (size_t)M * N) < 1e-5);
    }
    free(A); free(B); free(C1); free(C2);
  }
  lpo_cpu_set_threads(threads);
}

int main(void) {
  shapes(via_entry, "lpo_cpu_sgemm");
  if (lpo_cpu_sgemm_avx512_available()) {
    shapes(lpo_cpu_sgemm_avx512, "lpo_cpu_sgemm_avx512");
    split_invariance(lpo_cpu_sgemm_avx512, "lpo_cpu_sgemm_avx512");
    prepacked();
    /* degenerate shapes are declined without touching C (the entry point handles them) */
    float c = 7.0f, a = 1.0f;
    CHECK(lpo_cpu_sgemm_avx512(0, 0, 1, 1, 0, 1.0f, &a, 1, &a, 1, 0.0f, &c, 1) == -1 && c == 7.0f);
  } else {
    fprintf(stderr, "  no AVX-512 on this CPU: only the entry point was tested\n");
  }
  par_nt();
  return check_done("test_sgemm");
}
