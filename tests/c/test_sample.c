/* test_sample.c — greedy = argmax; empirical frequencies match the tempered, truncated
 * distribution computed directly; top-k/top-p never pick outside the kept set; the draw
 * is a pure function of (key, position). */
#include "lpo.h"
#include "lpo_sample.h"
#include "check.h"
#include <math.h>
#include <stdlib.h>

enum { V = 6 };

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
  return check_done("test_sample");
}
