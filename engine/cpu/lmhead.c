/* lmhead.c — the LM head fused with log-softmax and the gather of target tokens.
 *
 * A preference loss needs log p(target) per token, not the logits: the head multiplies
 * x [M,C] by the (possibly tied) embedding w [V,C] a chunk of rows at a time into buf
 * [cap_rows,V], reduces each row to its log-sum-exp, and gathers the target's logit:
 *   logp[m] = z[m, targets[m]] - lse[m]
 * M counts only the tokens that carry a target (the model compacts them), so prompt and
 * padding tokens cost nothing here. Backward, with dz = d logp (onehot - softmax(z)):
 *   dx = dz . w,   dw += dz^T . x
 * When every row fits in buf (M <= cap_rows) forward leaves the probabilities there and
 * backward reuses them; otherwise backward recomputes the logits chunk by chunk, so
 * memory stays bounded for vocabularies of 150k. */
#include "cpu/cpu.h"

/* Turns logits z[0..V) into probabilities in place; returns log-sum-exp. */
LPO_HOT static float softmax_inplace(float *z, int V) {
  float mx = lpo_max_row(z, V);
  float acc[16] = {0};
  int j = 0;
  for (; j + 16 <= V; j += 16)
    for (int k = 0; k < 16; k++) { float e = lpo_expf(z[j + k] - mx); z[j + k] = e; acc[k] += e; }
  float sum = 0.0f;
  for (int k = 0; k < 16; k++) sum += acc[k];
  for (; j < V; j++) { float e = lpo_expf(z[j] - mx); z[j] = e; sum += e; }
  float inv = 1.0f / sum;
  for (j = 0; j < V; j++) z[j] *= inv;
  return mx + logf(sum);
}

/* Logits -> probabilities from a known lse (recompute path of backward). */
LPO_HOT static void probs_from_lse(float *z, float lse, int V) {
  for (int j = 0; j < V; j++) z[j] = lpo_expf(z[j] - lse);
}

/* p -> dz = d (onehot(t) - p), in place. */
LPO_HOT static void dlogits_row(float *p, float d, int t, int V) {
  for (int j = 0; j < V; j++) p[j] = -d * p[j];
  p[t] += d;
}

typedef struct head_job {
  float *logp, *lse, *buf;
  const float *lse_in, *dlogp;
  const int32_t *targets;
  int V, m0, recompute;
} head_job;

LPO_HOT static void softmax_task(void *ctx, int i0, int i1, int tid) {
  (void)tid;
  const head_job *j = ctx;
  for (int i = i0; i < i1; i++) {
    float *z = j->buf + (size_t)i * j->V;
    int m = j->m0 + i;
    float zt = z[j->targets[m]];
    j->lse[m] = softmax_inplace(z, j->V);
    j->logp[m] = zt - j->lse[m];
  }
}

LPO_HOT static void dlogits_task(void *ctx, int i0, int i1, int tid) {
  (void)tid;
  const head_job *j = ctx;
  for (int i = i0; i < i1; i++) {
    float *z = j->buf + (size_t)i * j->V;
    int m = j->m0 + i;
    if (j->recompute) probs_from_lse(z, j->lse_in[m], j->V);
    dlogits_row(z, j->dlogp[m], j->targets[m], j->V);
  }
}

int lpo_cpu_lmhead_forward(float *logp, float *lse, float *buf, const float *x, const float *w,
                           const int32_t *targets, int M, int C, int V, int cap_rows) {
  for (int m0 = 0; m0 < M; m0 += cap_rows) {
    int mc = M - m0 < cap_rows ? M - m0 : cap_rows;
    lpo_cpu_sgemm_par(0, 1, mc, V, C, 1.0f, x + (size_t)m0 * C, C, w, C, 0.0f, buf, V);
    head_job j = { .logp = logp, .lse = lse, .buf = buf, .targets = targets, .V = V, .m0 = m0 };
    lpo_cpu_parallel(softmax_task, &j, mc, 0);
  }
  return M <= cap_rows;
}

void lpo_cpu_lmhead_backward(float *dx, float *dw, float *buf, const float *dlogp,
                             const float *x, const float *w, const int32_t *targets,
                             const float *lse, int M, int C, int V, int cap_rows, int kept) {
  for (int m0 = 0; m0 < M; m0 += cap_rows) {
    int mc = M - m0 < cap_rows ? M - m0 : cap_rows;
    const float *xc = x + (size_t)m0 * C;
    if (!kept) lpo_cpu_sgemm_par(0, 1, mc, V, C, 1.0f, xc, C, w, C, 0.0f, buf, V);
    head_job j = { .buf = buf, .lse_in = lse, .dlogp = dlogp, .targets = targets, .V = V, .m0 = m0, .recompute = !kept };
    lpo_cpu_parallel(dlogits_task, &j, mc, 0);
    if (dx && dw) {   /* independent products: one per half of the threads */
      gemm_job a = lpo_cpu_gemm_job(0, 0, mc, C, V, 1.0f, buf, V, w, C, 0.0f, dx + (size_t)m0 * C, C);
      gemm_job b = lpo_cpu_gemm_job(1, 0, V, C, mc, 1.0f, buf, V, xc, C, 1.0f, dw, C);
      lpo_cpu_sgemm_pair(&a, &b);
    } else {
      if (dx) lpo_cpu_sgemm_par(0, 0, mc, C, V, 1.0f, buf, V, w, C, 0.0f, dx + (size_t)m0 * C, C);
      if (dw) lpo_cpu_sgemm_par(1, 0, V, C, mc, 1.0f, buf, V, xc, C, 1.0f, dw, C);
    }
  }
}

/* ---- reference: one row at a time, double precision, recomputes everything ---- */
int lpo_cpu_lmhead_forward_ref(float *logp, float *lse, float *buf, const float *x,
                               const float *w, const int32_t *targets, int M, int C, int V,
                               int cap_rows) {
  (void)cap_rows;
  for (int m = 0; m < M; m++) {
    double mx = -INFINITY;
    for (int v = 0; v < V; v++) {
      double z = 0;
      for (int c = 0; c < C; c++) z += (double)x[(size_t)m * C + c] * w[(size_t)v * C + c];
      buf[v] = (float)z;
      if (z > mx) mx = z;
    }
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp(buf[v] - mx);
    lse[m] = (float)(mx + log(sum));
    logp[m] = (float)(buf[targets[m]] - (mx + log(sum)));
  }
  return 0;
}

void lpo_cpu_lmhead_backward_ref(float *dx, float *dw, float *buf, const float *dlogp,
                                 const float *x, const float *w, const int32_t *targets,
                                 const float *lse, int M, int C, int V, int cap_rows, int kept) {
  (void)cap_rows; (void)kept;
  for (int m = 0; m < M; m++) {
    for (int v = 0; v < V; v++) {
      double z = 0;
      for (int c = 0; c < C; c++) z += (double)x[(size_t)m * C + c] * w[(size_t)v * C + c];
      double dz = -dlogp[m] * exp(z - lse[m]) + (v == targets[m] ? dlogp[m] : 0.0);
      buf[v] = (float)dz;
    }
    if (dx) memset(dx + (size_t)m * C, 0, (size_t)C * sizeof(float));
    for (int v = 0; v < V; v++)
      for (int c = 0; c < C; c++) {
        if (dx) dx[(size_t)m * C + c] += buf[v] * w[(size_t)v * C + c];
        if (dw) dw[(size_t)v * C + c] += buf[v] * x[(size_t)m * C + c];
      }
  }
}
