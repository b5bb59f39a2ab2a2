/* test_sample.c — greedy = argmax; empirical frequencies match the tempered, truncated
 * distribution computed directly; top-k/top-p never pick outside the kept set; the draw
 * is a pure function of (key, position); the sampler equals a plain reference (qsort of
 * the ids by descending probability, separate exps) bit for bit, ties included. */
#include "lpo.h"
#include "lpo_sample.h"
#include "check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { V = 6 };

/* The reference: the textbook steps, qsort with a comparator for the order. */
static const float *ref_probs;
static int ref_cmp(const void *a, const void *b) {
  int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
  if (ref_probs[i] > ref_probs[j]) return -1;
  if (ref_probs[i] < ref_probs[j]) return 1;
  return (i > j) - (i < j);
}
static int32_t ref_sample(const float *logits, int32_t n, const lpo_sample_config *cfg, uint64_t key,
                          uint64_t position, float *logp) {
  float m = -INFINITY;
  for (int32_t i = 0; i < n; i++) if (logits[i] > m) m = logits[i];
  double z = 0;
  for (int32_t i = 0; i < n; i++) z += exp((double)logits[i] - m);
  double lse = m + log(z);
  float *probs = malloc(sizeof(float) * n);
  int32_t *ids = malloc(sizeof(int32_t) * n), chosen = 0;
  if (cfg->temperature == 0) {
    for (int32_t i = 1; i < n; i++) if (logits[i] > logits[chosen]) chosen = i;
  } else {
    double inv_t = 1.0 / cfg->temperature, s = 0;
    for (int32_t i = 0; i < n; i++) { probs[i] = (float)exp(((double)logits[i] - m) * inv_t); s += probs[i]; }
    for (int32_t i = 0; i < n; i++) { probs[i] = (float)(probs[i] / s); ids[i] = i; }
    ref_probs = probs;
    qsort(ids, (size_t)n, sizeof *ids, ref_cmp);
    int32_t keep = n;
    if (cfg->top_k > 0 && cfg->top_k < keep) keep = cfg->top_k;
    if (cfg->top_p < 1) {
      double cum = 0;
      for (int32_t r = 0; r < keep; r++) { cum += probs[ids[r]]; if (cum >= cfg->top_p) { keep = r + 1; break; } }
    }
    double kept = 0;
    for (int32_t r = 0; r < keep; r++) kept += probs[ids[r]];
    uint32_t block[4];
    lpo_philox_block(block, key, position);
    double u = ((double)(block[0] >> 5) * 67108864.0 + (double)(block[1] >> 6)) / 9007199254740992.0 * kept;
    double cum = 0;
    chosen = ids[keep - 1];
    for (int32_t r = 0; r < keep; r++) { cum += probs[ids[r]]; if (u < cum) { chosen = ids[r]; break; } }
  }
  *logp = (float)((double)logits[chosen] - lse);
  free(probs); free(ids);
  return chosen;
}

/* Random rows with many exact ties (logits drawn from a small set) and wide ranges
 * (probabilities that underflow to 0), at several vocabulary sizes and settings. */
static void test_against_ref(void) {
  const int32_t sizes[3] = { 7, 261, 4099 };
  const lpo_sample_config cfgs[5] = { { 1.0f, 0, 1.0f }, { 0.7f, 0, 1.0f }, { 1.0f, 40, 0.95f }, { 1.3f, 0, 0.5f }, { 0, 0, 1 } };
  lpo_philox r;
  lpo_philox_init(&r, lpo_philox_key(7, 1, 2, 3, 4), 0);
  int bad = 0, total = 0;
  for (int si = 0; si < 3; si++) {
    int32_t n = sizes[si];
    float *x = malloc(sizeof(float) * n);
    void *scr = malloc((size_t)lpo_sample_scratch_bytes(n));
    for (int row = 0; row < 20; row++) {
      for (int32_t i = 0; i < n; i++)
        x[i] = row % 2 ? (float)(lpo_philox_u32(&r) % 9) * 0.5f : (float)lpo_philox_normal(&r) * (row % 3 ? 3.0f : 60.0f);
      for (int c = 0; c < 5; c++)
        for (uint64_t pos = 0; pos < 10; pos++) {
          float lp1, lp2;
          int32_t a = lpo_sample_next(x, n, &cfgs[c], 11 + (uint64_t)row, pos, scr, &lp1);
          int32_t b = ref_sample(x, n, &cfgs[c], 11 + (uint64_t)row, pos, &lp2);
          bad += a != b || memcmp(&lp1, &lp2, sizeof lp1) != 0;
          total++;
        }
    }
    free(x); free(scr);
  }
  CHECK_MSG(bad == 0, "%d of %d draws differ from the reference sampler", bad, total);
}

int main(void) {
  float logits[V] = { 1.0f, 2.5f, 0.3f, 2.0f, -1.0f, 1.5f };
  void *scratch = malloc((size_t)lpo_sample_scratch_bytes(V));
  lpo_sample_config greedy = { 0, 0, 1 };
  float lp;
  CHECK(lpo_sample_next(logits, V, &greedy, 1, 0, scratch, &lp) == 1);
  double z = 0;
  for (int i = 0; i < V; i++) z += exp(logits[i]);
  CHECK_CLOSE(lp, logits[1] - log(z), 1e-6, 1e-6);

  /* Temperature 0.7, top-k 4, top-p 0.9: reference distribution computed directly. */
  lpo_sample_config cfg = { 0.7f, 4, 0.9f };
  double p[V], s = 0;
  for (int i = 0; i < V; i++) { p[i] = exp(logits[i] / 0.7); s += p[i]; }
  for (int i = 0; i < V; i++) p[i] /= s;
  int order[V] = { 1, 3, 5, 0, 2, 4 };   /* descending by logit */
  double keep_mass = 0, ref[V] = { 0 };
  int kept = 0;
  for (int r = 0; r < 4; r++) { keep_mass += p[order[r]]; kept++; if (keep_mass >= 0.9) break; }
  for (int r = 0; r < kept; r++) ref[order[r]] = p[order[r]] / keep_mass;
  int counts[V] = { 0 }, n = 200000;
  for (int i = 0; i < n; i++) counts[lpo_sample_next(logits, V, &cfg, 99, (uint64_t)i, scratch, &lp)]++;
  for (int i = 0; i < V; i++) {
    if (ref[i] == 0) CHECK_MSG(counts[i] == 0, "token %d outside the kept set drawn %d times", i, counts[i]);
    else CHECK_CLOSE((double)counts[i] / n, ref[i], 0, 0.005);
  }
  /* Pure function of (key, position). */
  CHECK(lpo_sample_next(logits, V, &cfg, 5, 17, scratch, &lp) == lpo_sample_next(logits, V, &cfg, 5, 17, scratch, &lp));
  int differ = 0;
  for (uint64_t k = 0; k < 50; k++)
    differ += lpo_sample_next(logits, V, &cfg, k, 0, scratch, &lp) != lpo_sample_next(logits, V, &cfg, k + 1000, 0, scratch, &lp);
  CHECK(differ > 5);
  /* Bad config is an error, not a crash. */
  lpo_sample_config bad = { 1.0f, 0, 0.0f };
  CHECK(lpo_sample_next(logits, V, &bad, 0, 0, scratch, &lp) == -1);
  free(scratch);
  test_against_ref();
  return check_done("test_sample");
}
