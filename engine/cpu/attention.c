/* attention.c — causal grouped-query self-attention, forward and backward, on the fused
 * qkv activations [B,T,(Hq+2Hkv)*D] (per token: Hq query heads, then Hkv key heads, then
 * Hkv value heads). Query head h reads key/value head h / (Hq/Hkv), as HF's repeat_kv.
 *
 * Memory: instead of keeping the [B,Hq,T,T] probabilities (quadratic in T per layer) we
 * keep lse [B,Hq,T], the log-sum-exp of each score row, and backward rebuilds
 * P = exp(S - lse) from Q and K (FlashAttention's trade: one extra QK^T per head).
 * Work: rows go in blocks of 64 and each block only multiplies the key columns it can see
 * (0 .. block end), so the masked upper triangle is mostly skipped. The matrix products
 * go to sgemm with leading dimensions that stride through the fused layout, so q, k and
 * v are never copied out.
 * Backward, per head, with scale s = 1/sqrt(D) and O = P V:
 *   dP = dO V^T,  Di = sum_d dO[i,d] O[i,d],  dS = P * (dP - Di)
 *   dQ += s dS K,  dK += s dS^T Q,  dV += P^T dO */
#include "cpu/cpu.h"

enum { BLOCK = 64 };

/* Softmax of row s[0..n) in place, returning log-sum-exp; zeroes s[n..width). */
LPO_HOT static float softmax_row(float *s, int n, int width) {
  float mx = s[0];
  for (int j = 1; j < n; j++) mx = s[j] > mx ? s[j] : mx;
  float acc[16] = {0};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++) { float e = lpo_expf(s[j + k] - mx); s[j + k] = e; acc[k] += e; }
  float sum = 0.0f;
  for (int k = 0; k < 16; k++) sum += acc[k];
  for (; j < n; j++) { float e = lpo_expf(s[j] - mx); s[j] = e; sum += e; }
  float inv = 1.0f / sum;
  for (j = 0; j < n; j++) s[j] *= inv;
  for (j = n; j < width; j++) s[j] = 0.0f;
  return mx + logf(sum);
}

/* p[j] = exp(s[j] - lse) for j < n, 0 up to width (rebuilds softmax from the saved lse). */
LPO_HOT static void exp_row(float *s, float lse, int n, int width) {
  for (int j = 0; j < n; j++) s[j] = lpo_expf(s[j] - lse);
  for (int j = n; j < width; j++) s[j] = 0.0f;
}

/* ds[j] = p[j] * (dp[j] - di) * scale, in place in dp. */
LPO_HOT static void dsoftmax_row(float *dp, const float *p, float di, float scale, int n) {
  for (int j = 0; j < n; j++) dp[j] = p[j] * (dp[j] - di) * scale;
}

LPO_HOT static float dot(const float *a, const float *b, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += a[i + k] * b[i + k];
  float s = 0.0f;
  for (int k = 0; k < 16; k++) s += acc[k];
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

void lpo_cpu_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int Hq,
                               int Hkv, int D, float *scratch) {
  const int ld = (Hq + 2 * Hkv) * D, QD = Hq * D, rep = Hq / Hkv;
  const float scale = 1.0f / sqrtf((float)D);
  float *S = scratch;                                   /* [T,T] scores, then probabilities */
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++) {
      const float *Q = qkv + (size_t)b * T * ld + (size_t)h * D;
      const float *K = qkv + (size_t)b * T * ld + QD + (size_t)(h / rep) * D;
      const float *V = K + (size_t)Hkv * D;
      float *O = out + (size_t)b * T * QD + (size_t)h * D;
      float *L = lse + ((size_t)b * Hq + h) * T;
      for (int i0 = 0; i0 < T; i0 += BLOCK) {
        int i1 = i0 + BLOCK < T ? i0 + BLOCK : T, m = i1 - i0;
        float *Sb = S + (size_t)i0 * T;
        lpo_cpu_sgemm(0, 1, m, i1, D, scale, Q + (size_t)i0 * ld, ld, K, ld, 0.0f, Sb, T);
        for (int i = i0; i < i1; i++) L[i] = softmax_row(S + (size_t)i * T, i + 1, i1);
        lpo_cpu_sgemm(0, 0, m, D, i1, 1.0f, Sb, T, V, ld, 0.0f, O + (size_t)i0 * QD, QD);
      }
    }
}

void lpo_cpu_attention_backward(float *dqkv, const float *dout, const float *out,
                                const float *lse, const float *qkv, int B, int T, int Hq,
                                int Hkv, int D, float *scratch) {
  const int ld = (Hq + 2 * Hkv) * D, QD = Hq * D, rep = Hq / Hkv;
  const float scale = 1.0f / sqrtf((float)D);
  float *P = scratch, *dP = scratch + (size_t)T * T;    /* [T,T] each */
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++) {
      size_t base = (size_t)b * T * ld;
      const float *Q = qkv + base + (size_t)h * D;
      const float *K = qkv + base + QD + (size_t)(h / rep) * D;
      const float *V = K + (size_t)Hkv * D;
      float *dQ = dqkv + base + (size_t)h * D;
      float *dK = dqkv + base + QD + (size_t)(h / rep) * D;
      float *dV = dK + (size_t)Hkv * D;
      const float *O = out + (size_t)b * T * QD + (size_t)h * D;
      const float *dO = dout + (size_t)b * T * QD + (size_t)h * D;
      const float *L = lse + ((size_t)b * Hq + h) * T;
      for (int i0 = 0; i0 < T; i0 += BLOCK) {
        int i1 = i0 + BLOCK < T ? i0 + BLOCK : T, m = i1 - i0;
        float *Pb = P + (size_t)i0 * T, *dPb = dP + (size_t)i0 * T;
        lpo_cpu_sgemm(0, 1, m, i1, D, scale, Q + (size_t)i0 * ld, ld, K, ld, 0.0f, Pb, T);
        lpo_cpu_sgemm(0, 1, m, i1, D, 1.0f, dO + (size_t)i0 * QD, QD, V, ld, 0.0f, dPb, T);
        for (int i = i0; i < i1; i++) {
          float *p = P + (size_t)i * T, *dp = dP + (size_t)i * T;
          exp_row(p, L[i], i + 1, i1);
          float di = dot(dO + (size_t)i * QD, O + (size_t)i * QD, D);
          dsoftmax_row(dp, p, di, scale, i + 1);
          for (int j = i + 1; j < i1; j++) dp[j] = 0.0f;
        }
        lpo_cpu_sgemm(0, 0, m, D, i1, 1.0f, dPb, T, K, ld, 1.0f, dQ + (size_t)i0 * ld, ld);
        lpo_cpu_sgemm(1, 0, i1, D, m, 1.0f, dPb, T, Q + (size_t)i0 * ld, ld, 1.0f, dK, ld);
        lpo_cpu_sgemm(1, 0, i1, D, m, 1.0f, Pb, T, dO + (size_t)i0 * QD, QD, 1.0f, dV, ld);
      }
    }
}

/* Decoding: each new token attends over its cache row up to its own position. */
LPO_HOT void lpo_cpu_attention_cached(float *out, const float *q, int qstride, const float *kcache,
                              const float *vcache, const int32_t *row, const int32_t *pos,
                              int N, int Hq, int Hkv, int D, int Tc, float *scratch) {
  const int rep = Hq / Hkv, QD = Hq * D;
  const float scale = 1.0f / sqrtf((float)D);
  for (int n = 0; n < N; n++)
    for (int h = 0; h < Hq; h++) {
      size_t head = ((size_t)row[n] * Hkv + h / rep) * Tc * D;
      const float *qh = q + (size_t)n * qstride + (size_t)h * D;
      const float *K = kcache + head, *V = vcache + head;
      float *o = out + (size_t)n * QD + (size_t)h * D;
      int len = pos[n] + 1;
      for (int j = 0; j < len; j++) scratch[j] = scale * dot(qh, K + (size_t)j * D, D);
      softmax_row(scratch, len, len);
      memset(o, 0, (size_t)D * sizeof(float));
      for (int j = 0; j < len; j++) {
        const float *v = V + (size_t)j * D;
        float p = scratch[j];
        for (int d = 0; d < D; d++) o[d] += p * v[d];
      }
    }
}

void lpo_cpu_kv_store(float *kcache, float *vcache, const float *qkv, const int32_t *row,
                      const int32_t *pos, int N, int Hq, int Hkv, int D, int Tc) {
  const int ld = (Hq + 2 * Hkv) * D;
  for (int n = 0; n < N; n++)
    for (int g = 0; g < Hkv; g++) {
      size_t at = (((size_t)row[n] * Hkv + g) * Tc + pos[n]) * D;
      const float *k = qkv + (size_t)n * ld + (size_t)(Hq + g) * D, *v = k + (size_t)Hkv * D;
      memcpy(kcache + at, k, (size_t)D * sizeof(float));
      memcpy(vcache + at, v, (size_t)D * sizeof(float));
    }
}

/* ---- reference: one (b, h, i) at a time, double accumulators, no blocking ---- */
void lpo_cpu_attention_forward_ref(float *out, float *lse, const float *qkv, int B, int T,
                                   int Hq, int Hkv, int D, float *scratch) {
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
                                    int Hkv, int D, float *scratch) {
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
