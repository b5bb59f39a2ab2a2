/* attention_ref.c — the plain-C reference of causal GQA attention: one (b, h, i) at a
 * time, double accumulators, no blocking. The fast kernels (attention.c) are tested
 * against it. Layouts as in attention.c. */
#include "cpu/cpu.h"

size_t lpo_cpu_attention_scratch_ref(int T, int D) { (void)D; return 2 * (size_t)T; }

void lpo_cpu_attention_forward_ref(float *out, float *lse, const float *qkv, int B, int T,
                                   int Hq, int Hkv, int D, float *scratch, int nslots) {
  (void)nslots;
  const int ld = (Hq + 2 * Hkv) * D, QD = Hq * D, rep = Hq / Hkv;
  const double scale = 1.0 / sqrt((double)D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++)
      for (int i = 0; i < T; i++) {
        const float *q = qkv + ((size_t)b * T + i) * ld + (size_t)h * D;
        double mx = -INFINITY;
        for (int j = 0; j <= i; j++) {
          const float *k = qkv + ((size_t)b * T + j) * ld + QD + (size_t)(h / rep) * D;
          double s = 0;
          for (int d = 0; d < D; d++) s += (double)q[d] * k[d];
          scratch[j] = (float)(s * scale);
          if (scratch[j] > mx) mx = scratch[j];
        }
        double sum = 0;
        for (int j = 0; j <= i; j++) sum += exp(scratch[j] - mx);
        lse[((size_t)b * Hq + h) * T + i] = (float)(mx + log(sum));
        float *o = out + ((size_t)b * T + i) * QD + (size_t)h * D;
        for (int d = 0; d < D; d++) {
          double acc = 0;
          for (int j = 0; j <= i; j++) {
            const float *v = qkv + ((size_t)b * T + j) * ld + QD + (size_t)(Hkv + h / rep) * D;
            acc += exp(scratch[j] - mx) / sum * v[d];
          }
          o[d] = (float)acc;
        }
      }
}

void lpo_cpu_attention_backward_ref(float *dqkv, const float *dout, const float *out,
                                    const float *lse, const float *qkv, int B, int T, int Hq,
                                    int Hkv, int D, float *scratch, int nslots) {
  (void)nslots;
  const int ld = (Hq + 2 * Hkv) * D, QD = Hq * D, rep = Hq / Hkv;
  const double scale = 1.0 / sqrt((double)D);
  float *p = scratch, *dp = scratch + T;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++)
      for (int i = 0; i < T; i++) {
        size_t ti = (size_t)b * T + i;
        const float *q = qkv + ti * ld + (size_t)h * D;
        const float *dO = dout + ti * QD + (size_t)h * D, *O = out + ti * QD + (size_t)h * D;
        double di = 0;
        for (int d = 0; d < D; d++) di += (double)dO[d] * O[d];
        for (int j = 0; j <= i; j++) {
          size_t tj = (size_t)b * T + j;
          const float *k = qkv + tj * ld + QD + (size_t)(h / rep) * D, *v = k + (size_t)Hkv * D;
          double s = 0, g = 0;
          for (int d = 0; d < D; d++) { s += (double)q[d] * k[d]; g += (double)dO[d] * v[d]; }
          p[j] = (float)exp(s * scale - lse[((size_t)b * Hq + h) * T + i]);
          dp[j] = (float)(p[j] * (g - di));
        }
        for (int j = 0; j <= i; j++) {
          size_t tj = (size_t)b * T + j;
          const float *k = qkv + tj * ld + QD + (size_t)(h / rep) * D;
          float *dk = dqkv + tj * ld + QD + (size_t)(h / rep) * D, *dv = dk + (size_t)Hkv * D;
          float *dq = dqkv + ti * ld + (size_t)h * D;
          for (int d = 0; d < D; d++) {
            dq[d] += (float)(scale * dp[j] * k[d]);
            dk[d] += (float)(scale * dp[j] * q[d]);
            dv[d] += p[j] * dO[d];
          }
        }
      }
}
