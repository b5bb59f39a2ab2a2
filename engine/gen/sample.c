/* sample.c — next-token selection. Reference semantics follow Hugging Face's logits
 * warpers in the order transformers applies them (temperature, top-k, top-p), with the
 * draw made by inverse CDF over the kept tokens in descending-probability order. */
#include "lpo.h"
#include "lpo_sample.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* scratch: probs [V] f32, keys [2][V] u32, ids [2][V] i32 (the radix sort ping-pongs). */
int64_t lpo_sample_scratch_bytes(int32_t V) { return (int64_t)V * (sizeof(float) + 2 * sizeof(uint32_t) + 2 * sizeof(int32_t)); }

/* The kept set and the draw walk the tokens by descending probability, ties by ascending
 * id (a total order, so the result is the same on every machine). That order is a stable
 * sort by ~bits(prob): probabilities are >= 0, whose IEEE bits order like the values.
 * qsort with a comparator took ~20 us per row at V = 261 (a third of a decode step's
 * sampling); a stable LSD radix sort on those 32-bit keys is 4 counting passes (passes
 * whose byte is the same for every key are skipped), ids initially ascending so ties stay
 * ascending. Returns the sorted ids (one of the two id buffers). */
static int32_t *sort_desc(const float *probs, int32_t V, uint32_t *ka, uint32_t *kb, int32_t *ia, int32_t *ib) {
  for (int32_t i = 0; i < V; i++) {
    uint32_t b;
    memcpy(&b, &probs[i], sizeof b);
    ka[i] = ~b;
    ia[i] = i;
  }
  for (int shift = 0; shift < 32; shift += 8) {
    int32_t count[256] = { 0 };
    for (int32_t i = 0; i < V; i++) count[(ka[i] >> shift) & 255]++;
    if (count[(ka[0] >> shift) & 255] == V) continue;   /* one digit: the pass is the identity */
    int32_t off = 0;
    for (int d = 0; d < 256; d++) { int32_t c = count[d]; count[d] = off; off += c; }
    for (int32_t i = 0; i < V; i++) {
      int32_t at = count[(ka[i] >> shift) & 255]++;
      kb[at] = ka[i];
      ib[at] = ia[i];
    }
    uint32_t *tk = ka; ka = kb; kb = tk;
    int32_t *ti = ia; ia = ib; ib = ti;
  }
  return ia;
}

int lpo_sample_check(const lpo_sample_config *cfg) {
  if (!cfg) return lpo_set_error("sample: no config");
  if (!(cfg->temperature >= 0) || !(cfg->top_p > 0 && cfg->top_p <= 1) || cfg->top_k < 0)
    return lpo_set_error("sample: temperature %g, top_p %g, top_k %d out of range", cfg->temperature, cfg->top_p, cfg->top_k);
  return 0;
}

int32_t lpo_sample_next(const float *logits, int32_t V, const lpo_sample_config *cfg,
                        uint64_t key, uint64_t position, void *scratch, float *logp) {
  if (V <= 0 || !logits || !cfg) return lpo_set_error("sample: bad arguments (V=%d)", V);
  if (lpo_sample_check(cfg)) return -1;
  /* log-sum-exp of the row in double, for a fixed, order-stable result. */
  float m = -INFINITY;
  for (int32_t i = 0; i < V; i++) if (logits[i] > m) m = logits[i];
  double lse = 0;
  int32_t chosen = 0;
  if (cfg->temperature == 0) {
    for (int32_t i = 0; i < V; i++) lse += exp((double)logits[i] - m);
    for (int32_t i = 1; i < V; i++) if (logits[i] > logits[chosen]) chosen = i;
  } else {
    float *probs = scratch;                       /* [V] tempered probabilities */
    uint32_t *ka = (uint32_t *)(probs + V), *kb = ka + V;
    int32_t *ia = (int32_t *)(kb + V), *ib = ia + V;
    double inv_t = 1.0 / cfg->temperature, s = 0;
    if (inv_t == 1.0) {   /* temperature 1: the softmax terms are the lse terms, one exp each */
      for (int32_t i = 0; i < V; i++) {
        double e = exp((double)logits[i] - m);
        lse += e;
        probs[i] = (float)e;
        s += probs[i];
      }
    } else {
      for (int32_t i = 0; i < V; i++) lse += exp((double)logits[i] - m);
      for (int32_t i = 0; i < V; i++) { probs[i] = (float)exp(((double)logits[i] - m) * inv_t); s += probs[i]; }
    }
    for (int32_t i = 0; i < V; i++) probs[i] = (float)(probs[i] / s);
    const int32_t *ids = sort_desc(probs, V, ka, kb, ia, ib);
    int32_t keep = V;
    if (cfg->top_k > 0 && cfg->top_k < keep) keep = cfg->top_k;
    if (cfg->top_p < 1) {
      double cum = 0;
      for (int32_t r = 0; r < keep; r++) {
        cum += probs[ids[r]];
        if (cum >= cfg->top_p) { keep = r + 1; break; }
      }
    }
    double kept = 0;
    for (int32_t r = 0; r < keep; r++) kept += probs[ids[r]];
    uint32_t block[4];
    lpo_philox_block(block, key, position);
    double u = ((double)(block[0] >> 5) * 67108864.0 + (double)(block[1] >> 6)) / 9007199254740992.0 * kept;
    double cum = 0;
    chosen = ids[keep - 1];
    for (int32_t r = 0; r < keep; r++) {
      cum += probs[ids[r]];
      if (u < cum) { chosen = ids[r]; break; }
    }
  }
  if (logp) *logp = (float)((double)logits[chosen] - (m + log(lse)));
  return chosen;
}
