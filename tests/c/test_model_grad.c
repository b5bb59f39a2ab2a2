/* Gradients of EVERY parameter tensor against central finite differences, on tiny models
 * that exercise each feature: GQA (4 query heads over 2 kv heads), q/k/v biases (qwen2),
 * q/k/v/o biases (llama attention_bias), untied and tied embeddings, rope scaling, a
 * prompt mask, right padding and a non-binary mask weight.
 *
 * Loss = sum_b dseq[b] * seq_logp[b] with uneven dseq. For each tensor we sample entries
 * and compare backward's gradient g with (Loss(w+e) - Loss(w-e)) / 2e, in f32 with
 * e = 1e-2 (the loss is summed in double; f32 logps carry ~1e-7 relative noise, so the
 * difference quotient has ~1e-4 absolute noise). Tolerance, stated: for every sampled entry
 *   |fd - g| <= 2e-3 * max_j |g_j| (over the sampled entries of that tensor) + 5e-4,
 * and the sampled gradients must not all be ~0 (a test that could never fail is useless).
 * A wrong formula gives errors of the order of the gradient itself. */
#include "check.h"
#include "lpo.h"
#include "lpo_model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 9 };

static double loss(lpo_model *m, const int32_t *tok, const float *mask, const float *dseq) {
  float seq[B];
  if (lpo_model_logprobs(m, tok, mask, B, T, NULL, seq)) { fprintf(stderr, "%s\n", lpo_last_error()); exit(1); }
  double s = 0;
  for (int b = 0; b < B; b++) s += (double)dseq[b] * seq[b];
  return s;
}

static void check_model(const char *label, const char *config, const lpo_backend *be) {
  lpo_model *m = lpo_model_new(config, 7);
  CHECK_MSG(m != NULL, "%s: %s", label, lpo_last_error());
  if (!m) return;
  lpo_model_set_backend(m, be);
  CHECK(lpo_model_reserve(m, B, T, 1) == 0);
  int V = lpo_model_get_config(m)->vocab_size;
  int32_t tok[B * T];
  float mask[B * T] = {0};
  lpo_philox rng;
  lpo_philox_init(&rng, lpo_philox_key(3, 1, 0, 0, 0), 0);
  for (int i = 0; i < B * T; i++) tok[i] = (int32_t)(lpo_philox_u32(&rng) % (uint32_t)V);
  /* row 0: prompt of 3, completion of 6; row 1: prompt of 2, completion of 4, padding 3 */
  for (int t = 3; t < T; t++) mask[t] = 1.0f;
  for (int t = 2; t < 6; t++) mask[T + t] = 1.0f;
  mask[T + 4] = 0.5f;
  const float dseq[B] = { 0.7f, -1.3f };
  lpo_model_zero_grad(m);
  loss(m, tok, mask, dseq);
  CHECK(lpo_model_backward(m, dseq) == 0);
  float *p = lpo_model_params(m), *g = lpo_model_grads(m);
  int nt = lpo_model_num_tensors(m), bad = 0;
  for (int i = 0; i < nt; i++) {
    lpo_model_tensor t;
    lpo_model_tensor_info(m, i, &t);
    enum { K = 5 };
    int64_t idx[K];
    double an[K], fd[K], gmax = 0;
    for (int k = 0; k < K; k++) {
      /* for the embedding, sample rows of tokens in the batch (other rows have g = 0) */
      if (!strcmp(t.name, "model.embed_tokens.weight"))
        idx[k] = (int64_t)tok[(k * 5 + 1) % (B * T)] * t.shape[1] + lpo_philox_u32(&rng) % (uint32_t)t.shape[1];
      else idx[k] = lpo_philox_u32(&rng) % (uint64_t)t.numel;
      float *w = p + t.offset + idx[k];
      float w0 = *w;
      const float e = 1e-2f;
      *w = w0 + e; double lp = loss(m, tok, mask, dseq);
      *w = w0 - e; double lm = loss(m, tok, mask, dseq);
      *w = w0;
      fd[k] = (lp - lm) / (2.0 * e);
      an[k] = g[t.offset + idx[k]];
      if (fabs(an[k]) > gmax) gmax = fabs(an[k]);
    }
    for (int k = 0; k < K; k++) {
      double tol = 2e-3 * gmax + 5e-4;
      if (fabs(fd[k] - an[k]) > tol) {
        bad++;
        fprintf(stderr, "%s %s[%lld]: backward %.6g vs finite difference %.6g\n", label, t.name,
                (long long)idx[k], an[k], fd[k]);
      }
    }
    CHECK_MSG(gmax > 1e-3, "%s %s: sampled gradients all ~0 (%g)", label, t.name, gmax);
  }
  CHECK_MSG(bad == 0, "%s: %d entries off", label, bad);
  printf("%s (%s): %d tensors checked\n", label, be->name, nt);
  lpo_model_free(m);
}

int main(void) {
  const char *qwen2 =
      "{\"model_type\":\"qwen2\",\"vocab_size\":40,\"hidden_size\":32,\"intermediate_size\":48,"
      "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
      "\"initializer_range\":0.3,\"tie_word_embeddings\":false,\"rope_theta\":10000}";
  const char *llama_tied =
      "{\"model_type\":\"llama\",\"vocab_size\":40,\"hidden_size\":32,\"intermediate_size\":40,"
      "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":1,\"head_dim\":6,"
      "\"attention_bias\":true,\"initializer_range\":0.3,\"tie_word_embeddings\":true,"
      "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":4.0,\"low_freq_factor\":1.0,"
      "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8}}";
  check_model("qwen2 untied GQA 4/2", qwen2, lpo_backend_cpu());
  check_model("llama tied attention_bias GQA 4/1 llama3-rope", llama_tied, lpo_backend_cpu());
  check_model("qwen2 untied GQA 4/2", qwen2, lpo_backend_cpu_ref());
  return check_done("test_model_grad");
}
