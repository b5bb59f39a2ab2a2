/* rmsnorm.c — RMSNorm as Llama and Qwen2 define it:
 *   y = w * x * r,   r = 1 / sqrt(mean(x^2) + eps)          (per row of C channels)
 * Backward, with g = w * dy:
 *   dx = r * g - x * r^3 * sum(g * x) / C,     dw += dy * x * r
 * rstd [N] is saved by forward so backward does not recompute the reduction. */
#include "cpu/cpu.h"

/* Sum of a*b over n floats with 16 partial sums (vectorises without reassociation). */
LPO_HOT static float dot16(const float *a, const float *b, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += a[i + k] * b[i + k];
  float s = 0.0f;
  for (int k = 0; k < 16; k++) s += acc[k];
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

LPO_HOT void lpo_cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w,
                                     int N, int C, float eps) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *y = out + (size_t)n * C;
    float r = 1.0f / sqrtf(dot16(x, x, C) / (float)C + eps);
    for (int i = 0; i < C; i++) y[i] = w[i] * (x[i] * r);
    rstd[n] = r;
  }
}

LPO_HOT void lpo_cpu_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                                      const float *w, const float *rstd, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
    float *dx = dinp + (size_t)n * C;
    float r = rstd[n];
    float acc[16] = {0};                 /* sum over i of w*dy*x */
    int i = 0;
    for (; i + 16 <= C; i += 16)
      for (int k = 0; k < 16; k++) acc[k] += w[i + k] * dy[i + k] * x[i + k];
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += acc[k];
    for (; i < C; i++) s += w[i] * dy[i] * x[i];
    float c = s * r * r * r / (float)C;
    for (int j = 0; j < C; j++) {
      dx[j] += r * w[j] * dy[j] - c * x[j];
      if (dw) dw[j] += dy[j] * x[j] * r;
    }
  }
}

void lpo_cpu_rmsnorm_forward_ref(float *out, float *rstd, const float *inp, const float *w,
                                 int N, int C, float eps) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    double ss = 0;
    for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
    double r = 1.0 / sqrt(ss / C + eps);
    for (int i = 0; i < C; i++) out[(size_t)n * C + i] = (float)(w[i] * (x[i] * r));
    rstd[n] = (float)r;
  }
}

void lpo_cpu_rmsnorm_backward_ref(float *dinp, float *dw, const float *dout, const float *inp,
                                  const float *w, const float *rstd, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
    double r = rstd[n], s = 0;
    for (int i = 0; i < C; i++) s += (double)w[i] * dy[i] * x[i];
    for (int i = 0; i < C; i++) {
      dinp[(size_t)n * C + i] += (float)(r * w[i] * dy[i] - x[i] * r * r * r * s / C);
      if (dw) dw[i] += (float)(dy[i] * x[i] * r);
    }
  }
}
