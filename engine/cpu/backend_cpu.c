/* backend_cpu.c — the two CPU op tables: the fast one (OpenBLAS + vectorised loops) that
 * the model uses, and the plain-C reference that tests hold it to. */
#include "lpo_backend.h"
#include "cpu/cpu.h"
#include <cblas.h>
#include <time.h>
#include "lpo.h"

/* zero and copy: big buffers (gradients, activations) split over the pool in 64 KiB
 * pieces, so a memset is not the serial part of a parallel step. */
typedef struct mem_job { float *dst; const float *src; size_t n; } mem_job;
enum { PIECE = 16384 };   /* floats */

static void mem_task(void *ctx, int t0, int t1, int tid) {
  (void)tid;
  const mem_job *j = ctx;
  size_t a = (size_t)t0 * PIECE, b = (size_t)t1 * PIECE < j->n ? (size_t)t1 * PIECE : j->n;
  if (j->src) memcpy(j->dst + a, j->src + a, (b - a) * sizeof(float));
  else memset(j->dst + a, 0, (b - a) * sizeof(float));
}

static void zero(float *x, size_t n) {
  mem_job j = { x, NULL, n };
  lpo_cpu_parallel(mem_task, &j, (int)((n + PIECE - 1) / PIECE), 0);
}

static void copy(float *dst, const float *src, size_t n) {
  mem_job j = { dst, src, n };
  lpo_cpu_parallel(mem_task, &j, (int)((n + PIECE - 1) / PIECE), 0);
}

static const lpo_backend cpu_fast = {
  .name = "cpu",
  .device = 0,
  .parallelism = lpo_cpu_threads,
  .matmul_forward = lpo_cpu_matmul_forward,
  .matmul_backward = lpo_cpu_matmul_backward,
  .rmsnorm_forward = lpo_cpu_rmsnorm_forward,
  .rmsnorm_backward = lpo_cpu_rmsnorm_backward,
  .rope_forward = lpo_cpu_rope_forward,
  .rope_backward = lpo_cpu_rope_backward,
  .attention_forward = lpo_cpu_attention_forward,
  .attention_scratch = lpo_cpu_attention_scratch,
  .attention_backward = lpo_cpu_attention_backward,
  .attention_cached = lpo_cpu_attention_cached,
  .kv_store = lpo_cpu_kv_store,
  .swiglu_forward = lpo_cpu_swiglu_forward,
  .swiglu_backward = lpo_cpu_swiglu_backward,
  .embedding_forward = lpo_cpu_embedding_forward,
  .embedding_backward = lpo_cpu_embedding_backward,
  .lmhead_forward = lpo_cpu_lmhead_forward,
  .lmhead_backward = lpo_cpu_lmhead_backward,
  .zero = zero,
  .copy = copy,
  .gather_rows = lpo_cpu_gather_rows,
  .scatter_add_rows = lpo_cpu_scatter_add_rows,
  .matmul_packed_size = lpo_cpu_matmul_packed_size,
  .matmul_pack = lpo_cpu_matmul_pack,
  .matmul_decode = lpo_cpu_matmul_decode,
};

static const lpo_backend cpu_ref = {
  .name = "cpu-ref",
  .device = 0,
  .parallelism = lpo_cpu_threads,
  .matmul_forward = lpo_cpu_matmul_forward_ref,
  .matmul_backward = lpo_cpu_matmul_backward_ref,
  .rmsnorm_forward = lpo_cpu_rmsnorm_forward_ref,
  .rmsnorm_backward = lpo_cpu_rmsnorm_backward_ref,
  .rope_forward = lpo_cpu_rope_forward,           /* a rotation: one obvious loop already */
  .rope_backward = lpo_cpu_rope_backward,
  .attention_forward = lpo_cpu_attention_forward_ref,
  .attention_scratch = lpo_cpu_attention_scratch_ref,
  .attention_backward = lpo_cpu_attention_backward_ref,
  .attention_cached = lpo_cpu_attention_cached,
  .kv_store = lpo_cpu_kv_store,
  .swiglu_forward = lpo_cpu_swiglu_forward_ref,
  .swiglu_backward = lpo_cpu_swiglu_backward_ref,
  .embedding_forward = lpo_cpu_embedding_forward,
  .embedding_backward = lpo_cpu_embedding_backward,
  .lmhead_forward = lpo_cpu_lmhead_forward_ref,
  .lmhead_backward = lpo_cpu_lmhead_backward_ref,
  .zero = zero,
  .copy = copy,
  .gather_rows = lpo_cpu_gather_rows,
  .scatter_add_rows = lpo_cpu_scatter_add_rows,
  .matmul_packed_size = lpo_cpu_matmul_packed_size,
  .matmul_pack = lpo_cpu_matmul_pack,
  .matmul_decode = lpo_cpu_matmul_decode_ref,
};

const lpo_backend *lpo_backend_cpu(void) { return &cpu_fast; }
const lpo_backend *lpo_backend_cpu_ref(void) { return &cpu_ref; }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double lpo_cpu_sgemm_gflops(int M, int N, int K, double min_seconds) {
  if (M < 1 || N < 1 || K < 1) return 0.0;
  size_t a = (size_t)M * K, b = (size_t)N * K, c = (size_t)M * N;
  float *A = lpo_alloc(a * sizeof(float), 0), *Bm = lpo_alloc(b * sizeof(float), 0), *Cm = lpo_alloc(c * sizeof(float), 0);
  double best = 0.0;
  if (A && Bm && Cm) {
    for (size_t i = 0; i < a; i++) A[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < b; i++) Bm[i] = (float)(i % 13) * 0.01f;
    lpo_cpu_sgemm_par(0, 1, M, N, K, 1.0f, A, K, Bm, K, 0.0f, Cm, N);   /* warm-up */
    double start = now();
    do {
      double t0 = now();
      lpo_cpu_sgemm_par(0, 1, M, N, K, 1.0f, A, K, Bm, K, 0.0f, Cm, N);
      double dt = now() - t0, r = 2.0 * M * N * K / dt / 1e9;
      if (r > best) best = r;
    } while (now() - start < min_seconds);
  }
  lpo_free(A, a * sizeof(float), 0);
  lpo_free(Bm, b * sizeof(float), 0);
  lpo_free(Cm, c * sizeof(float), 0);
  return best;
}
