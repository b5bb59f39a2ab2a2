/* test_gen.c — the sampler against the model's own full-sequence forward:
 *  - greedy decoding equals the argmax of lpo_model_logits at every step;
 *  - with a fixed seed, sample j of prompt i is identical alone or in a batch of 32
 *    (prompts of different lengths, n = 4, continuous batching refilling rows);
 *  - reported log-probs equal the full forward's log-softmax at the chosen token;
 *  - stop tokens end a sample without being emitted; stop strings end it including the
 *    token that completes them. */
#include "lpo.h"
#include "lpo_gen.h"
#include "check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *CONFIG =
  "{\"model_type\":\"llama\",\"vocab_size\":264,\"hidden_size\":64,\"intermediate_size\":128,"
  "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
  "\"max_position_embeddings\":256,\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,"
  "\"tie_word_embeddings\":false,\"initializer_range\":0.5}";

enum { P = 32, N = 4, MAXNEW = 24 };

int main(void) {
  lpo_model *m = lpo_model_new(CONFIG, 7);
  lpo_tokenizer *tok = lpo_tokenizer_byte();
  CHECK(m && tok);
  if (!m || !tok) return check_done("test_gen");
  const int V = 264;
  /* Prompts: byte strings of varied lengths. */
  int32_t *prompts[P], lens[P];
  uint64_t keys[P];
  for (int i = 0; i < P; i++) {
    lens[i] = 3 + (i * 7) % 17;
    prompts[i] = malloc(sizeof(int32_t) * lens[i]);
    for (int t = 0; t < lens[i]; t++) prompts[i][t] = 'a' + (i * 31 + t * 7) % 26;
    keys[i] = 1000 + i;
  }
  size_t total = (size_t)P * N;
  int32_t *ids = calloc(total * MAXNEW, 4), *len = calloc(total, 4), *stop = calloc(total, 4);
  float *logps = calloc(total * MAXNEW, 4);

  /* 1. Greedy = argmax of the full forward, step by step; logps = log-softmax. */
  lpo_gen_config g = { .n = 1, .max_new_tokens = MAXNEW, .temperature = 0, .top_p = 1, .seed = 1,
                       .max_rows = 8, .max_seq = 64 };
  CHECK(lpo_generate(m, tok, (const int32_t *const *)prompts, lens, keys, 4, &g, ids, logps, len, stop, NULL, NULL) == 0);
  float *logits = malloc(sizeof(float) * 64 * V);
  int32_t seq[64];
  int bad_argmax = 0; double worst_lp = 0;
  for (int i = 0; i < 4; i++) {
    CHECK(len[i] == MAXNEW && stop[i] == LPO_STOP_LENGTH);
    int T = lens[i] + len[i];
    memcpy(seq, prompts[i], sizeof(int32_t) * lens[i]);
    memcpy(seq + lens[i], ids + (size_t)i * MAXNEW, sizeof(int32_t) * len[i]);
    CHECK(lpo_model_reserve(m, 1, 64, 0) == 0);
    CHECK(lpo_model_logits(m, seq, 1, T, logits) == 0);
    for (int k = 0; k < len[i]; k++) {
      const float *row = logits + (size_t)(lens[i] + k - 1) * V;
      int am = 0;
      for (int v = 1; v < V; v++) if (row[v] > row[am]) am = v;
      double mx = row[am], s = 0;
      for (int v = 0; v < V; v++) s += exp(row[v] - mx);
      int chosen = seq[lens[i] + k];
      bad_argmax += am != chosen && row[am] - row[chosen] > 1e-5f;  /* exact ties may go either way */
      double lp = row[chosen] - mx - log(s);
      double err = fabs(lp - logps[(size_t)i * MAXNEW + k]);
      if (err > worst_lp) worst_lp = err;
    }
  }
  CHECK_MSG(bad_argmax == 0, "%d greedy steps differ from the full forward's argmax", bad_argmax);
  CHECK_MSG(worst_lp < 1e-4, "log-prob differs from the full forward by %g", worst_lp);

  /* 2. Batch invariance: all 32 prompts x 4 samples in one call (16 rows, refilled)
   *    versus each prompt alone. */
  lpo_gen_config s = { .n = N, .max_new_tokens = MAXNEW, .temperature = 0.9f, .top_k = 50, .top_p = 0.95f,
                       .seed = 42, .purpose = 3, .round = 1, .max_rows = 16, .max_seq = 64 };
  CHECK(lpo_generate(m, tok, (const int32_t *const *)prompts, lens, keys, P, &s, ids, logps, len, stop, NULL, NULL) == 0);
  int32_t one_ids[N * MAXNEW], one_len[N], one_stop[N];
  float one_lp[N * MAXNEW];
  int mismatch = 0, distinct = 0;
  lpo_gen_config s1 = s;
  s1.max_rows = N;
  for (int i = 0; i < P; i++) {
    CHECK(lpo_generate(m, tok, (const int32_t *const *)&prompts[i], &lens[i], &keys[i], 1, &s1, one_ids, one_lp, one_len, one_stop, NULL, NULL) == 0);
    for (int j = 0; j < N; j++) {
      size_t o = (size_t)i * N + j;
      if (one_len[j] != len[o] || memcmp(one_ids + j * MAXNEW, ids + o * MAXNEW, sizeof(int32_t) * len[o])) mismatch++;
      if (j > 0 && memcmp(ids + o * MAXNEW, ids + (o - 1) * MAXNEW, sizeof(int32_t) * MAXNEW)) distinct++;
    }
  }
  CHECK_MSG(mismatch == 0, "%d samples differ between batch of 32 and alone", mismatch);
  CHECK_MSG(distinct > P, "samples of a prompt should differ (%d distinct neighbours)", distinct);

  /* 3. Stops: greedy output of prompt 0 gives us a token to stop on and a string. */
  lpo_gen_config g2 = g;
  CHECK(lpo_generate(m, tok, (const int32_t *const *)prompts, lens, keys, 1, &g2, ids, logps, len, stop, NULL, NULL) == 0);
  int32_t ref[MAXNEW];
  memcpy(ref, ids, sizeof ref);
  int32_t stop_id = ref[5];
  int first = 0;
  while (ref[first] != stop_id) first++;
  g2.stop_ids = &stop_id; g2.n_stop_ids = 1;
  CHECK(lpo_generate(m, tok, (const int32_t *const *)prompts, lens, keys, 1, &g2, ids, logps, len, stop, NULL, NULL) == 0);
  CHECK(stop[0] == LPO_STOP_TOKEN && len[0] == first && memcmp(ids, ref, sizeof(int32_t) * first) == 0);
  char str[3] = { (char)ref[3], (char)ref[4], 0 };   /* byte tokenizer: id = byte for ids < 256 */
  const char *stops[1] = { str };
  lpo_gen_config g3 = g;
  g3.stop_strings = stops; g3.n_stop_strings = 1;
  if (ref[3] < 256 && ref[4] < 256 && ref[3] > 0 && ref[4] > 0) {
    CHECK(lpo_generate(m, tok, (const int32_t *const *)prompts, lens, keys, 1, &g3, ids, logps, len, stop, NULL, NULL) == 0);
    int expect = 0;
    for (int k = 1; k < MAXNEW; k++) if (ref[k - 1] == ref[3] && ref[k] == ref[4]) { expect = k + 1; break; }
    CHECK_MSG(stop[0] == LPO_STOP_STRING && len[0] == expect, "stop string: stop=%d len=%d expected %d", stop[0], len[0], expect);
  }
  /* Errors, not crashes. */
  lpo_gen_config bad = g; bad.max_seq = 5;
  CHECK(lpo_generate(m, tok, (const int32_t *const *)prompts, lens, keys, 2, &bad, ids, logps, len, stop, NULL, NULL) == -1);
  CHECK(strstr(lpo_last_error(), "max_seq") != NULL);
  /* A bad sampling setting is refused up front, on the calling thread (the draws run on
   * the pool, where an error message would be lost), naming the setting. */
  bad = s; bad.top_p = 0;
  CHECK(lpo_generate(m, tok, (const int32_t *const *)prompts, lens, keys, 2, &bad, ids, logps, len, stop, NULL, NULL) == -1);
  CHECK_MSG(strstr(lpo_last_error(), "top_p 0") != NULL, "error: %s", lpo_last_error());

  for (int i = 0; i < P; i++) free(prompts[i]);
  free(ids); free(len); free(stop); free(logps); free(logits);
  lpo_tokenizer_free(tok);
  lpo_model_free(m);
  return check_done("test_gen");
}
