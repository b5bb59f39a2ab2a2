/* test_gen_train.c — sampling follows the weights as they are at the call. lpo_generate
 * decodes from a packed copy of the weights (lpo_kvcache_pack); the same model object
 * samples between training rounds, so the copy must never be stale:
 *  - generate, take an AdamW step, generate again: the second run must equal, bit for
 *    bit, a run of a freshly loaded model saved after the step (greedy ids and log-probs,
 *    and sampled ids at temperature 1 with n = 4);
 *  - the step must have changed the greedy output (else the comparison proves nothing);
 *  - greedy = the argmax of the fresh model's full-sequence forward, log-probs its
 *    log-softmax (1e-4);
 *  - a kv cache packed and then trained past keeps its snapshot only until the next
 *    pack: lpo_model_decode on a re-packed cache equals the unpacked path (1e-4). */
#include "check.h"
#include "lpo.h"
#include "lpo_gen.h"
#include "lpo_model.h"
#include "lpo_optim.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *CONFIG =
  "{\"model_type\":\"llama\",\"vocab_size\":264,\"hidden_size\":64,\"intermediate_size\":96,"
  "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
  "\"max_position_embeddings\":128,\"rms_norm_eps\":1e-5,\"tie_word_embeddings\":true,"
  "\"initializer_range\":0.3}";

enum { P = 3, N = 4, NEW = 16, T0 = 12 };

typedef struct run { int32_t ids[P * N * NEW], len[P * N], stop[P * N]; float lp[P * N * NEW]; } run;

static int32_t prompts_mem[P][T0];
static const int32_t *prompts[P] = { prompts_mem[0], prompts_mem[1], prompts_mem[2] };
static int32_t lens[P] = { T0, 7, 10 };

static void generate(lpo_model *m, int n, float temperature, run *r) {
  lpo_gen_config g = { .n = n, .max_new_tokens = NEW, .temperature = temperature, .top_p = 1, .seed = 9,
                       .max_rows = 8, .max_seq = 64 };
  memset(r, 0, sizeof *r);
  CHECK_MSG(lpo_generate(m, NULL, prompts, lens, NULL, P, &g, r->ids, r->lp, r->len, r->stop, NULL, NULL) == 0,
            "%s", lpo_last_error());
}

/* One AdamW step that lowers the log-likelihood of the prompts (a large learning rate, so
 * the greedy output moves). */
static void train_step(lpo_model *m) {
  CHECK(lpo_model_reserve(m, P, T0, 1) == 0);
  int32_t tok[P * T0];
  float mask[P * T0], seq[P], dseq[P];
  for (int b = 0; b < P; b++)
    for (int t = 0; t < T0; t++) {
      tok[b * T0 + t] = t < lens[b] ? prompts[b][t] : 0;
      mask[b * T0 + t] = t > 0 && t < lens[b] ? 1.0f : 0.0f;
    }
  CHECK(lpo_model_logprobs(m, tok, mask, P, T0, NULL, seq) == 0);
  for (int b = 0; b < P; b++) dseq[b] = 1.0f;   /* d(loss)/d(seq_logp): gradient descent lowers them */
  CHECK(lpo_model_backward(m, dseq) == 0);
  int64_t n = lpo_model_num_params(m);
  lpo_adamw *opt = lpo_adamw_build(n, 0.9, 0.999, 1e-8, 0.0);
  CHECK(opt && lpo_adamw_step(opt, lpo_model_params(m), lpo_model_grads(m), 0.05) == 0);
  lpo_adamw_free(opt);
  CHECK(lpo_model_reserve(m, 1, 64, 0) == 0);   /* back to inference */
}

int main(void) {
  for (int i = 0; i < P; i++)
    for (int t = 0; t < lens[i]; t++) prompts_mem[i][t] = 'a' + (i * 11 + t * 5) % 26;
  lpo_model *m = lpo_model_new(CONFIG, 21);
  CHECK(m != NULL);
  if (!m) return check_done("test_gen_train");
  static run before, after, after_s, fresh, fresh_s;
  generate(m, 1, 0, &before);
  train_step(m);
  generate(m, 1, 0, &after);
  generate(m, N, 1.0f, &after_s);

  char dir[] = "/tmp/lpo_gen_train_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  CHECK(lpo_model_save(m, dir, LPO_F32, 0) == 0);
  lpo_model *f = lpo_model_load(dir);
  CHECK_MSG(f != NULL, "%s", lpo_last_error());
  if (!f) return check_done("test_gen_train");
  generate(f, 1, 0, &fresh);
  generate(f, N, 1.0f, &fresh_s);

  CHECK_MSG(memcmp(before.ids, after.ids, sizeof before.ids) != 0, "the training step did not change the greedy output");
  CHECK_MSG(memcmp(after.ids, fresh.ids, sizeof after.ids) == 0 && memcmp(after.lp, fresh.lp, sizeof after.lp) == 0,
            "greedy after a training step differs from a freshly loaded model");
  CHECK_MSG(memcmp(after_s.ids, fresh_s.ids, sizeof after_s.ids) == 0, "samples after a training step differ from a freshly loaded model");

  /* The fresh model's full forward: greedy = argmax, log-probs = log-softmax. */
  const int V = 264;
  CHECK(lpo_model_reserve(f, 1, 64, 0) == 0);
  float *logits = malloc(sizeof(float) * 64 * V);
  int bad = 0;
  double worst = 0;
  for (int i = 0; i < P; i++) {
    int32_t seq[64];
    int T = lens[i] + fresh.len[i];
    memcpy(seq, prompts[i], sizeof(int32_t) * lens[i]);
    memcpy(seq + lens[i], fresh.ids + i * NEW, sizeof(int32_t) * fresh.len[i]);
    CHECK(lpo_model_logits(f, seq, 1, T, logits) == 0);
    for (int k = 0; k < fresh.len[i]; k++) {
      const float *row = logits + (size_t)(lens[i] + k - 1) * V;
      int am = 0;
      for (int v = 1; v < V; v++) if (row[v] > row[am]) am = v;
      double s = 0;
      for (int v = 0; v < V; v++) s += exp((double)row[v] - row[am]);
      int c = seq[lens[i] + k];
      bad += am != c && row[am] - row[c] > 1e-5f;
      double e = fabs(row[c] - row[am] - log(s) - fresh.lp[i * NEW + k]);
      if (e > worst) worst = e;
    }
  }
  CHECK_MSG(bad == 0, "%d greedy steps differ from the full forward's argmax", bad);
  CHECK_MSG(worst < 1e-4, "log-probs differ from the full forward by %g", worst);

  /* A cache packed before a step, re-packed after: decodes as the unpacked path does. */
  lpo_kvcache *c1 = lpo_kvcache_new(m, 1, 32, 0), *c2 = lpo_kvcache_new(m, 1, 32, 0);
  CHECK(c1 && c2 && lpo_kvcache_pack(c1, m) == 0);
  train_step(m);
  CHECK(lpo_kvcache_pack(c1, m) == 0);
  float *l1 = malloc(sizeof(float) * V), *l2 = malloc(sizeof(float) * V);
  CHECK(lpo_model_prefill(m, c1, prompts[0], NULL, lens[0], l1) == 0 && lpo_model_prefill(m, c2, prompts[0], NULL, lens[0], l2) == 0);
  double dmax = 0;
  int32_t t = 'q';
  for (int k = 0; k < 8; k++) {
    CHECK(lpo_model_decode(m, c1, &t, NULL, l1) == 0 && lpo_model_decode(m, c2, &t, NULL, l2) == 0);
    for (int v = 0; v < V; v++) dmax = fmax(dmax, fabs((double)l1[v] - l2[v]));
    t = 'a' + k;
  }
  CHECK_MSG(dmax < 1e-4, "re-packed decode differs from the unpacked path by %g", dmax);
  CHECK(lpo_kvcache_pack(c1, NULL) == 0);   /* dropping the snapshot */

  free(l1); free(l2); free(logits);
  lpo_kvcache_free(c1); lpo_kvcache_free(c2);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
  lpo_model_free(f);
  lpo_model_free(m);
  return check_done("test_gen_train");
}
