/* KV cache decoding against the full forward: for prompts of different lengths in one
 * batch, prefill (in several chunks) then decode token by token; the logits at every
 * position must equal lpo_model_logits of the whole sequence at that position (same
 * f32 math in a different order: bound 1e-4 relative, max|a-b| / max|b| per row).
 * Also: copy_row shares a prompt, truncate rewinds, errors for a full row and a bad token.
 * Each case runs twice: plain, and with the cache holding packed decode weights. */
#include "check.h"
#include "lpo.h"
#include "lpo_model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { R = 3, TT = 40 };

static double rel_row(const float *a, const float *b, int V) {
  double d = 0, s = 0;
  for (int i = 0; i < V; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (e > d || e != e) d = e;
    if (fabs(b[i]) > s) s = fabs(b[i]);
  }
  return d / s;
}

static void run1(const char *label, const char *config, int packed) {
  lpo_model *m = lpo_model_new(config, 5);
  CHECK_MSG(m != NULL, "%s", lpo_last_error());
  if (!m) return;
  const int V = lpo_model_get_config(m)->vocab_size;
  int32_t tok[R * TT];
  lpo_philox rng;
  lpo_philox_init(&rng, 99, 0);
  for (int i = 0; i < R * TT; i++) tok[i] = (int32_t)(lpo_philox_u32(&rng) % (uint32_t)V);
  /* the reference: full logits of every row */
  CHECK(lpo_model_reserve(m, R, TT, 0) == 0);
  float *full = malloc((size_t)R * TT * V * sizeof(float)), *lg = malloc((size_t)R * V * sizeof(float));
  CHECK(lpo_model_logits(m, tok, R, TT, full) == 0);
  /* prompts of 13, 1 and 29 tokens, prefilled with chunk 8 (several chunks) */
  lpo_kvcache *c = lpo_kvcache_new(m, R, TT, 8);
  CHECK_MSG(c != NULL, "%s", lpo_last_error());
  if (packed) CHECK(lpo_kvcache_pack(c, m) == 0);   /* decode from the packed weights */
  int32_t lens[R] = { 13, 1, 29 };
  CHECK(lpo_model_prefill(m, c, tok, lens, TT, lg) == 0);
  double worst = 0;
  for (int b = 0; b < R; b++) {
    double e = rel_row(lg + (size_t)b * V, full + ((size_t)b * TT + lens[b] - 1) * V, V);
    worst = e > worst ? e : worst;
    CHECK(lpo_kvcache_length(c, b) == lens[b]);
  }
  /* decode the rest of every row, one token per step; row 1 pauses for 3 steps */
  int32_t step[R];
  uint8_t active[R];
  for (int s = 0; s < 2 * TT; s++) {
    int any = 0;
    for (int b = 0; b < R; b++) {
      int pos = lpo_kvcache_length(c, b);
      active[b] = pos < TT && !(b == 1 && s >= 4 && s < 7);
      step[b] = active[b] ? tok[b * TT + pos] : -1;   /* inactive rows' tokens are ignored */
      any |= active[b];
    }
    if (!any) break;
    CHECK(lpo_model_decode(m, c, step, active, lg) == 0);
    for (int b = 0; b < R; b++) {
      if (!active[b]) continue;
      int pos = lpo_kvcache_length(c, b) - 1;
      double e = rel_row(lg + (size_t)b * V, full + ((size_t)b * TT + pos) * V, V);
      worst = e > worst ? e : worst;
    }
  }
  CHECK_MSG(worst <= 1e-4, "%s: decode logits vs full forward rel err %.3g", label, worst);
  /* full rows refuse more tokens */
  for (int b = 0; b < R; b++) CHECK(lpo_kvcache_length(c, b) == TT);
  step[0] = 1; step[1] = 1; step[2] = 1;
  CHECK(lpo_model_decode(m, c, step, NULL, lg) == -1);
  CHECK(strstr(lpo_last_error(), "full") != NULL);
  /* truncate row 2 back to 20 and copy it over row 0: decoding token 20 of row 2 from both
   * rows gives the same logits as the full forward */
  CHECK(lpo_kvcache_truncate(c, 2, 20) == 0);
  CHECK(lpo_kvcache_copy_row(c, 0, 2) == 0);
  CHECK(lpo_kvcache_length(c, 0) == 20);
  uint8_t act2[R] = { 1, 0, 1 };
  step[0] = step[2] = tok[2 * TT + 20];
  CHECK(lpo_model_decode(m, c, step, act2, lg) == 0);
  CHECK(rel_row(lg, full + ((size_t)2 * TT + 20) * V, V) <= 1e-4);
  CHECK(rel_row(lg + 2 * (size_t)V, full + ((size_t)2 * TT + 20) * V, V) <= 1e-4);
  step[0] = V;
  CHECK(lpo_model_decode(m, c, step, act2, lg) == -1);
  CHECK(strstr(lpo_last_error(), "tokens[0]") != NULL);
  printf("%s%s: decode vs full forward, worst relative error %.2g\n", label, packed ? " (packed)" : "", worst);
  lpo_kvcache_free(c);
  free(full); free(lg);
  lpo_model_free(m);
}

/* Every config both ways: matmul_forward, and the packed decode weights (lpo_kvcache_pack). */
static void run(const char *label, const char *config) {
  run1(label, config, 0);
  run1(label, config, 1);
}

int main(void) {
  run("qwen2 GQA",
      "{\"model_type\":\"qwen2\",\"vocab_size\":97,\"hidden_size\":48,\"intermediate_size\":64,"
      "\"num_hidden_layers\":2,\"num_attention_heads\":6,\"num_key_value_heads\":2,\"initializer_range\":0.2}");
  /* linear rope scaling (dynamic differs from a full forward by design past max_position) */
  run("llama linear rope, tied, MHA",
      "{\"model_type\":\"llama\",\"vocab_size\":97,\"hidden_size\":32,\"intermediate_size\":64,"
      "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":4,\"initializer_range\":0.2,"
      "\"tie_word_embeddings\":true,\"max_position_embeddings\":64,"
      "\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0}}");
  /* head_dim 64 (the 4-vector paths of the cached attention) with GQA 4/1, and 20 (one
   * vector + a scalar tail) */
  run("llama head_dim 64, GQA 4/1",
      "{\"model_type\":\"llama\",\"vocab_size\":97,\"hidden_size\":64,\"intermediate_size\":64,"
      "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":1,\"head_dim\":64,\"initializer_range\":0.2}");
  run("qwen2 head_dim 20",
      "{\"model_type\":\"qwen2\",\"vocab_size\":97,\"hidden_size\":40,\"intermediate_size\":64,"
      "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":2,\"initializer_range\":0.2}");
  return check_done("test_model_kvcache");
}
