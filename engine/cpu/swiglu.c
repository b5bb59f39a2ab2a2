/* swiglu.c — the gated MLP nonlinearity of Llama/Qwen2: h = silu(g) * u, where g and u
 * are the two halves of one fused matmul output gu [N, 2F] (gate first, then up).
 *   silu(g) = g s,  s = sigmoid(g),  silu'(g) = s (1 + g (1 - s))
 *   dg = dh * u * silu'(g),   du = dh * silu(g)   (written, not added: see lpo_backend.h)
 * The fast path computes sigmoid with the vectorisable lpo_expf. */
#include "cpu/cpu.h"

typedef struct swiglu_job { float *h, *dgu; const float *gu, *dh; int F; } swiglu_job;

LPO_HOT static void forward_task(void *ctx, int n0, int n1, int tid) {
  (void)tid;
  const swiglu_job *j = ctx;
  const int F = j->F;
  for (int n = n0; n < n1; n++) {
    /* outputs never overlap inputs: restrict lets the loops vectorise without alias checks */
    const float *restrict g = j->gu + (size_t)n * 2 * F, *restrict u = g + F;
    float *restrict o = j->h + (size_t)n * F;
    for (int i = 0; i < F; i++) {
      float s = 1.0f / (1.0f + lpo_expf(-g[i]));
      o[i] = g[i] * s * u[i];
    }
  }
}

LPO_HOT static void backward_task(void *ctx, int n0, int n1, int tid) {
  (void)tid;
  const swiglu_job *j = ctx;
  const int F = j->F;
  for (int n = n0; n < n1; n++) {
    const float *restrict g = j->gu + (size_t)n * 2 * F, *restrict u = g + F, *restrict d = j->dh + (size_t)n * F;
    float *restrict dg = j->dgu + (size_t)n * 2 * F, *restrict du = dg + F;
    for (int i = 0; i < F; i++) {
      float s = 1.0f / (1.0f + lpo_expf(-g[i]));
      float silu = g[i] * s;
      dg[i] = d[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
      du[i] = d[i] * silu;
    }
  }
}

void lpo_cpu_swiglu_forward(float *h, const float *gu, int N, int F) {
  swiglu_job j = { .h = h, .gu = gu, .F = F };
  lpo_cpu_parallel(forward_task, &j, N, lpo_cpu_parts_for((size_t)N * F));
}

void lpo_cpu_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
  swiglu_job j = { .dgu = dgu, .gu = gu, .dh = dh, .F = F };
  lpo_cpu_parallel(backward_task, &j, N, 0);
}

void lpo_cpu_swiglu_forward_ref(float *h, const float *gu, int N, int F) {
  for (int n = 0; n < N; n++)
    for (int i = 0; i < F; i++) {
      double g = gu[(size_t)n * 2 * F + i], u = gu[(size_t)n * 2 * F + F + i];
      h[(size_t)n * F + i] = (float)(g / (1.0 + exp(-g)) * u);
    }
}

void lpo_cpu_swiglu_backward_ref(float *dgu, const float *dh, const float *gu, int N, int F) {
  for (int n = 0; n < N; n++)
    for (int i = 0; i < F; i++) {
      double g = gu[(size_t)n * 2 * F + i], u = gu[(size_t)n * 2 * F + F + i];
      double s = 1.0 / (1.0 + exp(-g)), d = dh[(size_t)n * F + i];
      dgu[(size_t)n * 2 * F + i] = (float)(d * u * s * (1.0 + g * (1.0 - s)));
      dgu[(size_t)n * 2 * F + F + i] = (float)(d * g * s);
    }
}
