/* swiglu.c — the gated MLP nonlinearity of Llama/Qwen2: h = silu(g) * u, where g and u
 * are the two halves of one fused matmul output gu [N, 2F] (gate first, then up).
 *   silu(g) = g s,  s = sigmoid(g),  silu'(g) = s (1 + g (1 - s))
 *   dg += dh * u * silu'(g),   du += dh * silu(g)
 * The fast path computes sigmoid with the vectorisable lpo_expf. */
#include "cpu/cpu.h"

LPO_HOT void lpo_cpu_swiglu_forward(float *h, const float *gu, int N, int F) {
  for (int n = 0; n < N; n++) {
    const float *g = gu + (size_t)n * 2 * F, *u = g + F;
    float *o = h + (size_t)n * F;
    for (int i = 0; i < F; i++) {
      float s = 1.0f / (1.0f + lpo_expf(-g[i]));
      o[i] = g[i] * s * u[i];
    }
  }
}

LPO_HOT void lpo_cpu_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
  for (int n = 0; n < N; n++) {
    const float *g = gu + (size_t)n * 2 * F, *u = g + F, *d = dh + (size_t)n * F;
    float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
    for (int i = 0; i < F; i++) {
      float s = 1.0f / (1.0f + lpo_expf(-g[i]));
      float silu = g[i] * s;
      dg[i] += d[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
      du[i] += d[i] * silu;
    }
  }
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
      dgu[(size_t)n * 2 * F + i] += (float)(d * u * s * (1.0 + g * (1.0 - s)));
      dgu[(size_t)n * 2 * F + F + i] += (float)(d * g * s);
    }
}
