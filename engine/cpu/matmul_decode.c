/* matmul_decode.c — the linear layer of a decode step, out[N,OC] (+)= inp[N,IC] w^T + b,
 * from a packed copy of the weights.
 *
 * Why a second layout. A decode step has one row per sequence (N = 1..a few dozen), so
 * the product is a stream of the whole weight matrix against a handful of vectors. On the
 * [OC, IC] layout every (row, output) pair is a dot product that ends in a horizontal sum
 * of a 16-lane register (the skinny kernel of matmul.c): at IC = 256 that reduction costs
 * as much as the dot itself, for every row. Transposed, an output block is a run of
 * contiguous floats: out[n, o:o+32] += inp[n,i] * wt[i, o:o+32] is a broadcast and two
 * vector FMAs, every weight vector loaded once serves all the rows of the tile, and no
 * horizontal sum is ever needed.
 *
 * Packed layout: panels of PW = 32 outputs, each [IC][32] contiguous (a task streams one
 * panel front to back), the last panel zero-padded past OC:
 *   wp[(p * IC + i) * 32 + j] = w[(32 p + j) * IC + i]        p < ceil(OC / 32)
 *
 * Batch invariance: out[n,o] = (((0 + x[n,0] w[o,0]) + x[n,1] w[o,1]) + ...), one
 * multiply-add per term (fused where the CPU has FMA) in i order, whatever N is and
 * whichever tile the row falls in; then (+ out) (+ bias) as matmul_forward. So a sequence
 * decodes to the same bits alone or among any number of others (the sampler's
 * reproducibility contract).
 *
 * The copy must be re-made when the weights change: lpo_kvcache_pack takes a snapshot at
 * the start of lpo_generate (see kvcache.c). */
#include "cpu/cpu.h"

/* PF: how many panel rows ahead a tile prefetches. In a decode step the weights (12.8 MB
 * for the tiny bench model) come from L3 or memory, not L2, and the loads stalled without
 * it (prefetching took lpo bench sample's n=8 aggregate from ~2,800 to ~5,000 tokens/s).
 * PW and RT: a panel is 32 outputs (two vectors) and a tile is up to 8 rows, so a tile
 * holds 16 accumulators and does 16 FMAs per two weight vectors loaded. With 64-wide
 * panels and 4-row tiles (4 vectors, 16 accumulators) a step of 8 rows read each panel
 * twice and did 16 FMAs per four weight vectors: bound by L2 bandwidth at ~2 G FMA/s a
 * core, half of what the FMA units do (measured: 256x1536, 8 rows, one thread). */
enum { PW = LPO_DECODE_PANEL, RT = 8, PF = 16 };

typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define ld16(p) (*(const v16 *)(p))

size_t lpo_cpu_matmul_packed_size(int IC, int OC) { return (size_t)(OC + PW - 1) / PW * PW * IC; }

typedef struct pack_job { float *wp; const float *w; int IC, OC; } pack_job;

/* Tasks are panels: each writes its own [IC][PW] block, as 16 x 16 tiles through a
 * local buffer: every tile reads 16 runs of 16 contiguous floats and writes 16 such runs.
 * (Reading a whole panel column at once touches PW rows IC floats apart, which at
 * IC = 256 or 768 map to a handful of L1 sets and keep evicting each other.) */
static void pack_task(void *ctx, int p0, int p1, int tid) {
  (void)tid;
  const pack_job *pj = ctx;
  const int IC = pj->IC, OC = pj->OC;
  for (int p = p0; p < p1; p++) {
    float *dst = pj->wp + (size_t)p * IC * PW;
    const int o0 = p * PW, ow = OC - o0 < PW ? OC - o0 : PW;
    const float *src = pj->w + (size_t)o0 * IC;
    for (int i0 = 0; i0 < IC; i0 += 16) {
      const int ib = IC - i0 < 16 ? IC - i0 : 16;
      for (int j0 = 0; j0 < PW; j0 += 16) {
        float t[16][16];   /* t[ii][jj] = w[o0 + j0 + jj][i0 + ii] */
        for (int jj = 0; jj < 16; jj++) {
          const float *s = src + (size_t)(j0 + jj) * IC + i0;
          if (j0 + jj < ow) for (int ii = 0; ii < ib; ii++) t[ii][jj] = s[ii];
          else for (int ii = 0; ii < ib; ii++) t[ii][jj] = 0.0f;   /* padding of the last panel */
        }
        for (int ii = 0; ii < ib; ii++) memcpy(dst + (size_t)(i0 + ii) * PW + j0, t[ii], sizeof t[ii]);
      }
    }
  }
}

void lpo_cpu_matmul_pack(float *wp, const float *w, int IC, int OC) {
  pack_job pj = { wp, w, IC, OC };
  lpo_cpu_parallel(pack_task, &pj, (OC + PW - 1) / PW, 0);
}

typedef struct decode_job {
  float *out;
  const float *inp, *wp, *bias;
  int N, IC, OC, accumulate;
} decode_job;

/* R rows (compile-time after inlining) against one panel: R x 2 accumulators. */
static inline __attribute__((always_inline)) void tile(const decode_job *j, int n0, int R, int p) {
  const int IC = j->IC;
  const float *x = j->inp + (size_t)n0 * IC, *w = j->wp + (size_t)p * IC * PW;
  v16 acc[RT][2];
  for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = (v16){ 0 };
  for (int i = 0; i < IC; i++) {
    const float *wi = w + (size_t)i * PW;
    __builtin_prefetch(wi + PF * PW);
    __builtin_prefetch(wi + PF * PW + 16);
    v16 w0 = ld16(wi), w1 = ld16(wi + 16);
    for (int r = 0; r < R; r++) {
      float xv = x[(size_t)r * IC + i];
      acc[r][0] += xv * w0; acc[r][1] += xv * w1;
    }
  }
  int o0 = p * PW, ow = j->OC - o0 < PW ? j->OC - o0 : PW;
  if (ow == PW) {   /* whole panel: the same adds in vectors (a scalar loop here was 15%) */
    const float *b = j->bias ? j->bias + o0 : NULL;
    for (int r = 0; r < R; r++) {
      float *y = j->out + (size_t)(n0 + r) * j->OC + o0;
      v16 v0 = acc[r][0], v1 = acc[r][1];
      if (j->accumulate) { v0 = ld16(y) + v0; v1 = ld16(y + 16) + v1; }
      if (b) { v0 = v0 + ld16(b); v1 = v1 + ld16(b + 16); }
      *(v16 *)y = v0; *(v16 *)(y + 16) = v1;
    }
    return;
  }
  for (int r = 0; r < R; r++) {
    float *y = j->out + (size_t)(n0 + r) * j->OC + o0;
    const float *a = (const float *)acc[r];
    for (int c = 0; c < ow; c++) {
      float v = a[c];
      if (j->accumulate) v = y[c] + v;
      if (j->bias) v = v + j->bias[o0 + c];
      y[c] = v;
    }
  }
}

/* Tasks are panels; inside one, the rows go 8 at a time (the panel stays in L1/L2), the
 * remainder as 4, 2, 1 (every row's sum is the same whichever tile it falls in). */
LPO_HOT static void decode_task(void *ctx, int p0, int p1, int tid) {
  (void)tid;
  const decode_job *j = ctx;
  for (int p = p0; p < p1; p++) {
    int n = 0;
    for (; n + 8 <= j->N; n += 8) tile(j, n, 8, p);
    if (j->N - n >= 4) { tile(j, n, 4, p); n += 4; }
    if (j->N - n >= 2) { tile(j, n, 2, p); n += 2; }
    if (j->N - n >= 1) tile(j, n, 1, p);
  }
}

void lpo_cpu_matmul_decode(float *out, const float *inp, const float *wp, const float *bias,
                           int N, int IC, int OC, int accumulate) {
  if (N <= 0 || OC <= 0) return;
  decode_job j = { out, inp, wp, bias, N, IC, OC, accumulate };
  lpo_cpu_parallel(decode_task, &j, (OC + PW - 1) / PW, 0);
}

/* The reference reads the packed copy back in the plain triple loop, so a test of
 * decode against it also checks the packing. */
void lpo_cpu_matmul_decode_ref(float *out, const float *inp, const float *wp, const float *bias,
                               int N, int IC, int OC, int accumulate) {
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = 0;
      for (int i = 0; i < IC; i++) s += (double)inp[(size_t)n * IC + i] * wp[((size_t)(o / PW) * IC + i) * PW + o % PW];
      float *y = &out[(size_t)n * OC + o];
      float v = accumulate ? *y + (float)s : (float)s;
      *y = bias ? v + bias[o] : v;
    }
}
