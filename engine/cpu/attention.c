/* attention.c — causal grouped-query self-attention, forward and backward, on the fused
 * qkv activations [B,T,(Hq+2Hkv)*D] (per token: Hq query heads, then Hkv key heads, then
 * Hkv value heads). Query head h reads key/value head h / (Hq/Hkv), as HF's repeat_kv.
 *
 * Memory: instead of keeping the [B,Hq,T,T] probabilities (quadratic in T per layer) we
 * keep lse [B,Hq,T], the log-sum-exp of each score row, and backward rebuilds
 * P = exp(S - lse) from Q and K (FlashAttention's trade: one extra QK^T per head).
 * Backward, per head, with scale s = 1/sqrt(D) and O = P V:
 *   dP = dO V^T,  Di = sum_d dO[i,d] O[i,d],  dS = s P * (dP - Di)
 *   dQ += dS K,  dK += dS^T Q,  dV += P^T dO
 *
 * Why not sgemm: per head the products are tiny (rows of 64 numbers, a triangle of T^2/2
 * scores), and BLAS calls of that size spend most of their time packing. These kernels
 * work on blocks of 8 query rows against all keys the block can see, with the five
 * products written as register-tiled loops over GCC vector types (16 floats: one zmm
 * under AVX-512, two ymm under AVX2, four xmm otherwise; LPO_HOT picks the build).
 * K and V of a head are transposed once into scratch so scores vectorise over keys; the
 * products over D vectorise over channels, any D (a scalar tail handles D % 16).
 * Heads run in parallel over the pool, each part with its own scratch slot. */
#include "cpu/cpu.h"

/* 16 floats; aligned(4) + may_alias: loads and stores at any float address, no aliasing
 * assumptions (plain dereferences, so no vector ever crosses a function ABI). */
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define ld16(p) (*(const v16 *)(p))
#define st16(p, v) (*(v16 *)(p) = (v))

enum { RB = 8 };   /* query rows per block */

static inline int round16(int n) { return (n + 15) & ~15; }

size_t lpo_cpu_attention_scratch(int T, int D) {
  size_t Tp = (size_t)round16(T);
  return 2 * (size_t)D * Tp + 2 * RB * Tp + 4 * RB * (size_t)D + 64;
}

/* S[r][j] = scale * sum_d A[r][d] Bt[d][j] for r < 8, j < n (n a multiple of 16):
 * 8 rows x 32 keys of accumulators (16 vectors) per pass. */
static inline __attribute__((always_inline)) void scores8(float *S, int lds, const float *A, int lda, const float *Bt, int ldb, int D, int n,
                           float scale) {
  int j = 0;
  for (; j + 32 <= n; j += 32) {
    v16 acc[RB][2];
    for (int r = 0; r < RB; r++) acc[r][0] = acc[r][1] = (v16){ 0 };
    for (int d = 0; d < D; d++) {
      v16 b0 = ld16(Bt + (size_t)d * ldb + j), b1 = ld16(Bt + (size_t)d * ldb + j + 16);
#pragma GCC unroll 8
      for (int r = 0; r < RB; r++) {
        float a = A[(size_t)r * lda + d];
        acc[r][0] += a * b0;
        acc[r][1] += a * b1;
      }
    }
    for (int r = 0; r < RB; r++) {
      st16(S + (size_t)r * lds + j, acc[r][0] * scale);
      st16(S + (size_t)r * lds + j + 16, acc[r][1] * scale);
    }
  }
  if (j < n) {
    v16 acc[RB];
    for (int r = 0; r < RB; r++) acc[r] = (v16){ 0 };
    for (int d = 0; d < D; d++) {
      v16 b0 = ld16(Bt + (size_t)d * ldb + j);
#pragma GCC unroll 8
      for (int r = 0; r < RB; r++) acc[r] += A[(size_t)r * lda + d] * b0;
    }
    for (int r = 0; r < RB; r++) st16(S + (size_t)r * lds + j, acc[r] * scale);
  }
}

/* O[r][:] (+)= sum_{j<n} P[r][j] X[j][:] for r < 8: 4 rows x 64 channels per pass. */
static inline __attribute__((always_inline)) void rows8(float *O, int ldo, const float *P, int ldp, const float *X, int ldx, int n, int D,
                         int accumulate) {
  int c = 0;
  for (; c + 64 <= D; c += 64)
    for (int r0 = 0; r0 < RB; r0 += 4) {
      v16 acc[4][4];
      for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++) acc[r][k] = accumulate ? ld16(O + (size_t)(r0 + r) * ldo + c + 16 * k) : (v16){ 0 };
      for (int j = 0; j < n; j++) {
        const float *x = X + (size_t)j * ldx + c;
        v16 x0 = ld16(x), x1 = ld16(x + 16), x2 = ld16(x + 32), x3 = ld16(x + 48);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
          float p = P[(size_t)(r0 + r) * ldp + j];
          acc[r][0] += p * x0; acc[r][1] += p * x1; acc[r][2] += p * x2; acc[r][3] += p * x3;
        }
      }
      for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++) st16(O + (size_t)(r0 + r) * ldo + c + 16 * k, acc[r][k]);
    }
  for (; c + 16 <= D; c += 16) {
    v16 acc[RB];
    for (int r = 0; r < RB; r++) acc[r] = accumulate ? ld16(O + (size_t)r * ldo + c) : (v16){ 0 };
    for (int j = 0; j < n; j++) {
      v16 x = ld16(X + (size_t)j * ldx + c);
#pragma GCC unroll 8
      for (int r = 0; r < RB; r++) acc[r] += P[(size_t)r * ldp + j] * x;
    }
    for (int r = 0; r < RB; r++) st16(O + (size_t)r * ldo + c, acc[r]);
  }
  for (; c < D; c++)
    for (int r = 0; r < RB; r++) {
      float s = accumulate ? O[(size_t)r * ldo + c] : 0.0f;
      for (int j = 0; j < n; j++) s += P[(size_t)r * ldp + j] * X[(size_t)j * ldx + c];
      O[(size_t)r * ldo + c] = s;
    }
}

/* Y[j][:] += sum_{r<8} W[r][j] X[r][:] for j < n: 32 channels of the 8 rows of X stay in
 * registers, so each W[r][j] loaded serves two vectors. */
static inline __attribute__((always_inline)) void cols8(float *Y, int ldy, const float *W, int ldw, const float *X,
                                                        int ldx, int n, int D) {
  int c = 0;
  for (; c + 32 <= D; c += 32) {
    v16 x0[RB], x1[RB];
    for (int r = 0; r < RB; r++) { x0[r] = ld16(X + (size_t)r * ldx + c); x1[r] = ld16(X + (size_t)r * ldx + c + 16); }
    for (int j = 0; j < n; j++) {
      float *y = Y + (size_t)j * ldy + c;
      v16 a0 = ld16(y), a1 = ld16(y + 16);
#pragma GCC unroll 8
      for (int r = 0; r < RB; r++) {
        float w = W[(size_t)r * ldw + j];
        a0 += w * x0[r];
        a1 += w * x1[r];
      }
      st16(y, a0);
      st16(y + 16, a1);
    }
  }
  for (; c + 16 <= D; c += 16) {
    v16 x[RB];
    for (int r = 0; r < RB; r++) x[r] = ld16(X + (size_t)r * ldx + c);
    for (int j = 0; j < n; j++) {
      float *y = Y + (size_t)j * ldy + c;
      v16 acc = ld16(y);
#pragma GCC unroll 8
      for (int r = 0; r < RB; r++) acc += W[(size_t)r * ldw + j] * x[r];
      st16(y, acc);
    }
  }
  for (; c < D; c++)
    for (int j = 0; j < n; j++) {
      float s = Y[(size_t)j * ldy + c];
      for (int r = 0; r < RB; r++) s += W[(size_t)r * ldw + j] * X[(size_t)r * ldx + c];
      Y[(size_t)j * ldy + c] = s;
    }
}

/* Xt[d][j] = X[j][d] for j < T, zero for T <= j < Tp; in 16 x 16 tiles so both sides
 * stay in L1. */
static inline void transpose(float *Xt, int Tp, const float *X, int ldx, int T, int D) {
  for (int j0 = 0; j0 < T; j0 += 16) {
    int j1 = j0 + 16 < T ? j0 + 16 : T;
    for (int d0 = 0; d0 < D; d0 += 16) {
      int d1 = d0 + 16 < D ? d0 + 16 : D;
      for (int j = j0; j < j1; j++)
        for (int d = d0; d < d1; d++) Xt[(size_t)d * Tp + j] = X[(size_t)j * ldx + d];
    }
  }
  for (int d = 0; d < D; d++)
    for (int j = T; j < Tp; j++) Xt[(size_t)d * Tp + j] = 0.0f;
}

/* Rows of a block, or (for the last, short block) a zero-padded copy of them. */
static inline const float *block_rows(float *pad, const float *X, int ldx, int R, int D, int *ld) {
  if (R == RB) { *ld = ldx; return X; }
  memset(pad, 0, (size_t)RB * D * sizeof(float));
  for (int r = 0; r < R; r++) memcpy(pad + (size_t)r * D, X + (size_t)r * ldx, (size_t)D * sizeof(float));
  *ld = D;
  return pad;
}

/* Softmax of row s[0..n) in place, returning log-sum-exp; zeroes s[n..width). */
static inline float softmax_row(float *s, int n, int width) {
  float mx = lpo_max_row(s, n);
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

typedef struct att_job {
  float *out, *lse, *dqkv, *scratch;
  const float *qkv, *dout, *o, *lse_in;
  int B, T, Hq, Hkv, D;
  size_t slot;   /* floats per scratch slot */
} att_job;

/* Tasks are (b, h) pairs. */
LPO_HOT static void forward_task(void *ctx, int t0, int t1, int tid) {
  const att_job *j = ctx;
  const int T = j->T, Hq = j->Hq, Hkv = j->Hkv, D = j->D, Tp = round16(T);
  const int ld = (Hq + 2 * Hkv) * D, QD = Hq * D, rep = Hq / Hkv;
  const float scale = 1.0f / sqrtf((float)D);
  float *Kt = j->scratch + (size_t)tid * j->slot, *S = Kt + (size_t)D * Tp;
  float *qpad = S + (size_t)RB * Tp, *opad = qpad + (size_t)RB * D;
  for (int task = t0; task < t1; task++) {
    int b = task / Hq, h = task % Hq;
    const float *Q = j->qkv + (size_t)b * T * ld + (size_t)h * D;
    const float *K = j->qkv + (size_t)b * T * ld + QD + (size_t)(h / rep) * D, *V = K + (size_t)Hkv * D;
    float *O = j->out + (size_t)b * T * QD + (size_t)h * D;
    float *L = j->lse + ((size_t)b * Hq + h) * T;
    transpose(Kt, Tp, K, ld, T, D);
    for (int i0 = 0; i0 < T; i0 += RB) {
      int R = T - i0 < RB ? T - i0 : RB, n = round16(i0 + RB) < Tp ? round16(i0 + RB) : Tp, ldq;
      const float *Qb = block_rows(qpad, Q + (size_t)i0 * ld, ld, R, D, &ldq);
      scores8(S, Tp, Qb, ldq, Kt, Tp, D, n, scale);
      for (int r = 0; r < RB; r++) {
        if (r < R) L[i0 + r] = softmax_row(S + (size_t)r * Tp, i0 + r + 1, n);
        else memset(S + (size_t)r * Tp, 0, (size_t)n * sizeof(float));
      }
      if (R == RB) rows8(O + (size_t)i0 * QD, QD, S, Tp, V, ld, i0 + R, D, 0);
      else {
        rows8(opad, D, S, Tp, V, ld, i0 + R, D, 0);
        for (int r = 0; r < R; r++) memcpy(O + (size_t)(i0 + r) * QD, opad + (size_t)r * D, (size_t)D * sizeof(float));
      }
    }
  }
}

/* Tasks are (b, kv head) pairs, so the dK/dV sums over a group's query heads stay in one
 * thread, in head order. */
LPO_HOT static void backward_task(void *ctx, int t0, int t1, int tid) {
  const att_job *j = ctx;
  const int T = j->T, Hq = j->Hq, Hkv = j->Hkv, D = j->D, Tp = round16(T);
  const int ld = (Hq + 2 * Hkv) * D, QD = Hq * D, rep = Hq / Hkv;
  const float scale = 1.0f / sqrtf((float)D);
  float *Kt = j->scratch + (size_t)tid * j->slot, *Vt = Kt + (size_t)D * Tp;
  float *P = Vt + (size_t)D * Tp, *dP = P + (size_t)RB * Tp;
  float *qpad = dP + (size_t)RB * Tp, *dopad = qpad + (size_t)RB * D, *tmp = dopad + (size_t)RB * D;
  for (int task = t0; task < t1; task++) {
    int b = task / Hkv, g = task % Hkv;
    size_t base = (size_t)b * T * ld;
    const float *K = j->qkv + base + QD + (size_t)g * D, *V = K + (size_t)Hkv * D;
    float *dK = j->dqkv + base + QD + (size_t)g * D, *dV = dK + (size_t)Hkv * D;
    transpose(Kt, Tp, K, ld, T, D);
    transpose(Vt, Tp, V, ld, T, D);
    for (int h = g * rep; h < (g + 1) * rep; h++) {
      const float *Q = j->qkv + base + (size_t)h * D;
      float *dQ = j->dqkv + base + (size_t)h * D;
      const float *O = j->o + (size_t)b * T * QD + (size_t)h * D;
      const float *dO = j->dout + (size_t)b * T * QD + (size_t)h * D;
      const float *L = j->lse_in + ((size_t)b * Hq + h) * T;
      for (int i0 = 0; i0 < T; i0 += RB) {
        int R = T - i0 < RB ? T - i0 : RB, n = round16(i0 + RB) < Tp ? round16(i0 + RB) : Tp, nk = i0 + R;
        int ldq, lddo;
        const float *Qb = block_rows(qpad, Q + (size_t)i0 * ld, ld, R, D, &ldq);
        const float *dOb = block_rows(dopad, dO + (size_t)i0 * QD, QD, R, D, &lddo);
        scores8(P, Tp, Qb, ldq, Kt, Tp, D, n, scale);
        scores8(dP, Tp, dOb, lddo, Vt, Tp, D, n, 1.0f);
        for (int r = 0; r < RB; r++) {
          float *p = P + (size_t)r * Tp, *dp = dP + (size_t)r * Tp;
          if (r >= R) { memset(p, 0, (size_t)n * sizeof(float)); memset(dp, 0, (size_t)n * sizeof(float)); continue; }
          int i = i0 + r;
          float lse = L[i], di = lpo_dot16(dO + (size_t)i * QD, O + (size_t)i * QD, D);
          for (int k = 0; k <= i; k++) {
            float pk = lpo_expf(p[k] - lse);
            p[k] = pk;
            dp[k] = scale * pk * (dp[k] - di);
          }
          for (int k = i + 1; k < n; k++) p[k] = dp[k] = 0.0f;
        }
        /* dQ rows += dS K */
        if (R == RB) rows8(dQ + (size_t)i0 * ld, ld, dP, Tp, K, ld, nk, D, 1);
        else {
          rows8(tmp, D, dP, Tp, K, ld, nk, D, 0);
          for (int r = 0; r < R; r++)
            for (int d = 0; d < D; d++) dQ[(size_t)(i0 + r) * ld + d] += tmp[(size_t)r * D + d];
        }
        cols8(dK, ld, dP, Tp, Qb, ldq, nk, D);    /* dK += dS^T Q */
        cols8(dV, ld, P, Tp, dOb, lddo, nk, D);   /* dV += P^T dO */
      }
    }
  }
}

void lpo_cpu_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int Hq,
                               int Hkv, int D, float *scratch, int nslots) {
  att_job j = { .out = out, .lse = lse, .scratch = scratch, .qkv = qkv, .B = B, .T = T, .Hq = Hq, .Hkv = Hkv,
                .D = D, .slot = lpo_cpu_attention_scratch(T, D) };
  lpo_cpu_parallel(forward_task, &j, B * Hq, nslots);
}

void lpo_cpu_attention_backward(float *dqkv, const float *dout, const float *out,
                                const float *lse, const float *qkv, int B, int T, int Hq,
                                int Hkv, int D, float *scratch, int nslots) {
  att_job j = { .dqkv = dqkv, .scratch = scratch, .qkv = qkv, .dout = dout, .o = out, .lse_in = lse,
                .B = B, .T = T, .Hq = Hq, .Hkv = Hkv, .D = D, .slot = lpo_cpu_attention_scratch(T, D) };
  lpo_cpu_parallel(backward_task, &j, B * Hkv, nslots);
}

typedef struct cached_job {
  float *out, *scratch;
  const float *q, *kc, *vc;
  const int32_t *row, *pos;
  int qstride, Hq, Hkv, D, Tc;
} cached_job;

/* Decoding: each new token attends over its cache row up to its own position.
 * Tasks are (token, kv head) pairs: the query heads sharing a kv head (GQA) go through
 * its keys and values two at a time, so each K and V vector loaded serves both; part tid
 * uses scratch slot tid ([Hq/Hkv][Tc] scores).
 * One token's work is two short reductions (scores over D, the weighted sum over the
 * row's keys), so what limits it is the FMA latency of each accumulator chain, not the
 * arithmetic: a pass keeps 8 or more chains in flight (a block of up to 4 vectors times
 * 2 or 4 interleaved partial sums over the reduction index, added in a fixed order at
 * the end). A head's result depends only on its own row, and not on whether it was
 * paired: the partial sums are the same either way. */

/* sc_h[k..k+16 nv) = scale * sum_d q_h[d] Kt[d][k..] for H (1 or 2) heads: nv (1..4)
 * vectors of keys, 2 partial sums over d (d mod 2). */
static inline __attribute__((always_inline)) void cached_scores(float *const sc[2], const float *const qh[2], int H,
                                                                const float *Kt, int Tc, int D, int k, int nv, float scale) {
  v16 a[2][2][4];
  for (int h = 0; h < H; h++)
    for (int p = 0; p < 2; p++)
      for (int v = 0; v < 4; v++) a[h][p][v] = (v16){ 0 };
  int d = 0;
  for (; d + 2 <= D; d += 2)
    for (int p = 0; p < 2; p++) {
      const float *kt = Kt + (size_t)(d + p) * Tc + k;
      v16 kv[4];
      for (int v = 0; v < nv; v++) kv[v] = ld16(kt + 16 * v);
      for (int h = 0; h < H; h++) {
        float q = qh[h][d + p];
        for (int v = 0; v < nv; v++) a[h][p][v] += q * kv[v];
      }
    }
  if (d < D) {
    const float *kt = Kt + (size_t)d * Tc + k;
    for (int h = 0; h < H; h++)
      for (int v = 0; v < nv; v++) a[h][0][v] += qh[h][d] * ld16(kt + 16 * v);
  }
  for (int h = 0; h < H; h++)
    for (int v = 0; v < nv; v++) st16(sc[h] + k + 16 * v, (a[h][0][v] + a[h][1][v]) * scale);
}

/* o_h[c..c+16 nv) = sum_k p_h[k] V[k][c..] for H (1 or 2) heads: nv (1..4) vectors of
 * channels, P partial sums over k (k mod P; P = 2 for nv > 2, else 4). */
static inline __attribute__((always_inline)) void cached_values(float *const o[2], const float *const p[2], int H,
                                                                const float *V, int D, int len, int c, int nv) {
  v16 a[2][4][4];
  for (int h = 0; h < H; h++)
    for (int q = 0; q < 4; q++)
      for (int v = 0; v < 4; v++) a[h][q][v] = (v16){ 0 };
  const int ph = nv > 2 ? 2 : 4;
  int k = 0;
  for (; k + ph <= len; k += ph)
    for (int q = 0; q < ph; q++) {
      const float *vr = V + (size_t)(k + q) * D + c;
      v16 vv[4];
      for (int v = 0; v < nv; v++) vv[v] = ld16(vr + 16 * v);
      for (int h = 0; h < H; h++) {
        float w = p[h][k + q];
        for (int v = 0; v < nv; v++) a[h][q][v] += w * vv[v];
      }
    }
  for (int q = 0; k < len; k++, q++) {
    const float *vr = V + (size_t)k * D + c;
    for (int h = 0; h < H; h++)
      for (int v = 0; v < nv; v++) a[h][q][v] += p[h][k] * ld16(vr + 16 * v);
  }
  for (int h = 0; h < H; h++)
    for (int v = 0; v < nv; v++) st16(o[h] + c + 16 * v, (a[h][0][v] + a[h][1][v]) + (a[h][2][v] + a[h][3][v]));
}

/* Heads h0 .. h0+H-1 of token n (H = 1 or 2, a compile-time constant after inlining). */
static inline __attribute__((always_inline)) void cached_heads(const cached_job *j, float *scr, int n, int h0, int H) {
  const int Hq = j->Hq, Hkv = j->Hkv, D = j->D, Tc = j->Tc, rep = Hq / Hkv, QD = Hq * D;
  const float scale = 1.0f / sqrtf((float)D);
  size_t head = ((size_t)j->row[n] * Hkv + h0 / rep) * Tc * D;
  const float *Kt = j->kc + head, *V = j->vc + head;
  float *sc[2] = { scr, scr + Tc };
  const float *qh[2] = { j->q + (size_t)n * j->qstride + (size_t)h0 * D, NULL };
  float *o[2] = { j->out + (size_t)n * QD + (size_t)h0 * D, NULL };
  if (H == 2) { qh[1] = qh[0] + D; o[1] = o[0] + D; }
  int len = j->pos[n] + 1, k = 0, nk = round16(len) / 16;
  for (; k + 4 <= nk; k += 4) cached_scores(sc, qh, H, Kt, Tc, D, 16 * k, 4, scale);
  switch (nk - k) {
    case 3: cached_scores(sc, qh, H, Kt, Tc, D, 16 * k, 3, scale); break;
    case 2: cached_scores(sc, qh, H, Kt, Tc, D, 16 * k, 2, scale); break;
    case 1: cached_scores(sc, qh, H, Kt, Tc, D, 16 * k, 1, scale); break;
    default: break;
  }
  for (int h = 0; h < H; h++) softmax_row(sc[h], len, len);
  const float *pr[2] = { sc[0], sc[1] };
  int c = 0;
  for (; c + 64 <= D; c += 64) cached_values(o, pr, H, V, D, len, c, 4);
  switch ((D - c) / 16) {
    case 3: cached_values(o, pr, H, V, D, len, c, 3); break;
    case 2: cached_values(o, pr, H, V, D, len, c, 2); break;
    case 1: cached_values(o, pr, H, V, D, len, c, 1); break;
    default: break;
  }
  for (c += (D - c) / 16 * 16; c < D; c++)
    for (int h = 0; h < H; h++) {
      float a = 0.0f;
      for (k = 0; k < len; k++) a += sc[h][k] * V[(size_t)k * D + c];
      o[h][c] = a;
    }
}

LPO_HOT static void cached_task(void *ctx, int t0, int t1, int tid) {
  const cached_job *j = ctx;
  const int Hkv = j->Hkv, rep = j->Hq / Hkv;
  float *scr = j->scratch + (size_t)tid * rep * j->Tc;
  for (int task = t0; task < t1; task++) {
    int n = task / Hkv, g = task % Hkv, r = 0;
    for (; r + 2 <= rep; r += 2) cached_heads(j, scr, n, g * rep + r, 2);
    if (r < rep) cached_heads(j, scr, n, g * rep + r, 1);
  }
}

void lpo_cpu_attention_cached(float *out, const float *q, int qstride, const float *kcache,
                              const float *vcache, const int32_t *row, const int32_t *pos,
                              int N, int Hq, int Hkv, int D, int Tc, float *scratch, int nslots) {
  cached_job j = { out, scratch, q, kcache, vcache, row, pos, qstride, Hq, Hkv, D, Tc };
  lpo_cpu_parallel(cached_task, &j, N * Hkv, nslots);
}

typedef struct kv_store_job {
  float *kc, *vc;
  const float *qkv;
  const int32_t *row, *pos;
  int Hq, Hkv, D, Tc;
} kv_store_job;

/* Tasks are (token, kv head) pairs. K's store is D single floats Tc apart, each a line
 * that the weight stream of the step before evicted: at 8 rows it was ~50 us of misses a
 * decode step on the calling thread alone, so the tasks are split over the pool (from two
 * tokens on: one token's few stores cost less than waking a worker). */
static void kv_store_task(void *ctx, int t0, int t1, int tid) {
  (void)tid;
  const kv_store_job *j = ctx;
  const int Hkv = j->Hkv, D = j->D, Tc = j->Tc, ld = (j->Hq + 2 * Hkv) * D;
  for (int t = t0; t < t1; t++) {
    int n = t / Hkv, g = t % Hkv;
    size_t head = ((size_t)j->row[n] * Hkv + g) * Tc * D;
    const float *k = j->qkv + (size_t)n * ld + (size_t)(j->Hq + g) * D, *v = k + (size_t)Hkv * D;
    for (int d = 0; d < D; d++) j->kc[head + (size_t)d * Tc + j->pos[n]] = k[d];   /* transposed */
    memcpy(j->vc + head + (size_t)j->pos[n] * D, v, (size_t)D * sizeof(float));
  }
}

void lpo_cpu_kv_store(float *kcache, float *vcache, const float *qkv, const int32_t *row,
                      const int32_t *pos, int N, int Hq, int Hkv, int D, int Tc) {
  kv_store_job j = { kcache, vcache, qkv, row, pos, Hq, Hkv, D, Tc };
  lpo_cpu_parallel(kv_store_task, &j, N * Hkv, N > 1 ? 0 : 1);
}
