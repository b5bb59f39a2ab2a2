/* embedding.c — token embedding lookup and its backward, plus the row gather/scatter the
 * model uses to run the LM head only on tokens that carry a target.
 * Token ids are validated by the model before any kernel runs. Scatters (embedding
 * backward, scatter_add_rows) split the DESTINATION rows over threads: each thread walks
 * all sources in order and takes those landing in its range, so repeated ids accumulate
 * in a fixed order (deterministic) and no two threads touch one row. */
#include "cpu/cpu.h"

typedef struct emb_job {
  float *dst;
  const float *src;
  const int32_t *idx;
  int M, C, rows;   /* rows: destination row count (scatters) */
} emb_job;

static void gather_task(void *ctx, int m0, int m1, int tid) {
  (void)tid;
  const emb_job *j = ctx;
  for (int m = m0; m < m1; m++)
    memcpy(j->dst + (size_t)m * j->C, j->src + (size_t)j->idx[m] * j->C, (size_t)j->C * sizeof(float));
}

LPO_HOT static void scatter_task(void *ctx, int r0, int r1, int tid) {
  (void)tid;
  const emb_job *j = ctx;
  const int C = j->C;
  for (int m = 0; m < j->M; m++) {
    int r = j->idx[m];
    if (r < r0 || r >= r1) continue;
    float *restrict d = j->dst + (size_t)r * C;
    const float *restrict s = j->src + (size_t)m * C;
    for (int i = 0; i < C; i++) d[i] += s[i];
  }
}

static int max_row(const int32_t *idx, int M) {
  int r = 0;
  for (int m = 0; m < M; m++) r = idx[m] > r ? idx[m] : r;
  return r + 1;
}

void lpo_cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C) {
  emb_job j = { out, wte, tokens, N, C, 0 };
  lpo_cpu_parallel(gather_task, &j, N, lpo_cpu_parts_for((size_t)N * C));
}

void lpo_cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N,
                                int C) {
  emb_job j = { dwte, dout, tokens, N, C, 0 };
  lpo_cpu_parallel(scatter_task, &j, max_row(tokens, N), 0);
}

void lpo_cpu_gather_rows(float *dst, const float *src, const int32_t *idx, int M, int C) {
  emb_job j = { dst, src, idx, M, C, 0 };
  lpo_cpu_parallel(gather_task, &j, M, lpo_cpu_parts_for((size_t)M * C));
}

void lpo_cpu_scatter_add_rows(float *dst, const float *src, const int32_t *idx, int M, int C) {
  emb_job j = { dst, src, idx, M, C, 0 };
  lpo_cpu_parallel(scatter_task, &j, max_row(idx, M), 0);
}
