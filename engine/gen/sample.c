/* sample.c — next-token selection. Reference semantics follow Hugging Face's logits
 * warpers in the order transformers applies them (temperature, top-k, top-p), with the
 * draw made by inverse CDF over the kept tokens in descending-probability order. */
#include "lpo.h"
#include "lpo_sample.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t lpo_sample_scratch_bytes(int32_t V) { return (int64_t)V * (2 * sizeof(float) + sizeof(int32_t)); }

/* log-sum-exp of a row, in double for a fixed, order-stable result. */
static double row_logsumexp(const float *x, int32_t V, float *max_out) {
  float m = -INFINITY;
  for (int32_t i = 0; i < V; i++) if (x[i] > m) m = x[i];
  double s = 0;
  for (int32_t i = 0; i < V; i++) s += exp((double)x[i] - m);
  *max_out = m;
  return m + log(s);
}

/* Sort ids by descending prob, ties by ascending id so the order is total. */
static _Thread_local const float *sort_probs;  /* qsort has no context argument */
static int by_prob_desc(const void *a, const void *b) {
  int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
  if (sort_probs[i] > sort_probs[j]) return -1;
  if (sort_probs[i] < sort_probs[j]) return 1;
  return (i > j) - (i < j);
}

int32_t lpo_sample_next(const float *logits, int32_t V, const lpo_sample_config *cfg,
                        uint64_t key, uint64_t position, void *scratch, float *logp) {
  if (V <= 0 || !logits || !cfg) return lpo_set_error("sample: bad arguments (V=%d)", V);
  if (cfg->temperature < 0 || !(cfg->top_p > 0 && cfg->top_p <= 1) || cfg->top_k < 0)
    return lpo_set_error("sample: temperature %g, top_p %g, top_k %d out of range", cfg->temperature, cfg->top_p, cfg->top_k);
  float m;
  double lse = row_logsumexp(logits, V, &m);
  int32_t chosen = 0;
  if (cfg->temperature == 0) {
    for (int32_t i = 1; i < V; i++) if (logits[i] > logits[chosen]) chosen = i;
  } else {
    float *probs = scratch;                       /* [V] tempered probabilities */
    int32_t *ids = (int32_t *)(probs + 2 * (int64_t)V);
    double inv_t = 1.0 / cfg->temperature, s = 0;
    for (int32_t i = 0; i < V; i++) { probs[i] = (float)exp(((double)logits[i] - m) * inv_t); s += probs[i]; }
    for (int32_t i = 0; i < V; i++) { probs[i] = (float)(probs[i] / s); ids[i] = i; }
    sort_probs = probs;
    qsort(ids, (size_t)V, sizeof *ids, by_prob_desc);
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
  if (logp) *logp = (float)((double)logits[chosen] - lse);
  return chosen;
}
