/* Golden values from Hugging Face transformers (tests/fixtures/model/make_fixtures.py):
 * a tiny random Qwen2ForCausalLM (GQA, q/k/v biases, untied) and LlamaForCausalLM (GQA,
 * tied, linear rope scaling), loaded from their save_pretrained directories.
 * Compared: full logits, per-token and per-sequence log-probs with a prompt/padding mask,
 * and the gradient of sum_b seq_logp[b] for every parameter tensor.
 * Relative error of an array = max_i |ours_i - theirs_i| / max_i |theirs_i|; bound 1e-4.
 * Both the fast CPU backend and the plain-C reference are held to it. */
#include "check.h"
#include "lpo.h"
#include "lpo_model.h"
#include "lpo_safetensors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_gold(const lpo_st *st, const char *name, int ndim, const int64_t *shape, int64_t n) {
  float *x = malloc((size_t)n * sizeof(float));
  if (lpo_st_read_f32(st, name, x, ndim, shape)) {
    fprintf(stderr, "golden %s: %s\n", name, lpo_last_error());
    exit(1);
  }
  return x;
}

static void check_fixture(const char *dir, const lpo_backend *be) {
  char path[512];
  snprintf(path, sizeof path, "%s/golden.safetensors", dir);
  lpo_st *gold = lpo_st_open(path);
  CHECK_MSG(gold != NULL, "%s", lpo_last_error());
  lpo_model *m = lpo_model_load(dir);
  CHECK_MSG(m != NULL, "%s", lpo_last_error());
  if (!gold || !m) exit(1);
  lpo_model_set_backend(m, be);
  int64_t shape[8];
  int k = lpo_st_find(gold, "tokens");
  lpo_st_shape(gold, k, shape);
  const int B = (int)shape[0], T = (int)shape[1], V = lpo_model_get_config(m)->vocab_size;
  int32_t *tok = malloc((size_t)B * T * sizeof(int32_t));
  CHECK(lpo_st_read_raw(gold, "tokens", tok, LPO_I32, 2, shape) == 0);
  float *mask = read_gold(gold, "mask", 2, shape, (int64_t)B * T);
  float *tok_gold = read_gold(gold, "tok_logp", 2, shape, (int64_t)B * T);
  int64_t bs[1] = { B }, lshape[3] = { B, T, V };
  float *seq_gold = read_gold(gold, "seq_logp", 1, bs, B);
  float *logits_gold = read_gold(gold, "logits", 3, lshape, (int64_t)B * T * V);

  CHECK(lpo_model_reserve(m, B, T, 1) == 0);
  float *logits = malloc((size_t)B * T * V * sizeof(float)), *tl = malloc((size_t)B * T * sizeof(float)), seq[16];
  CHECK(lpo_model_logits(m, tok, B, T, logits) == 0);
  double e_logits = check_rel_err(logits, logits_gold, (int64_t)B * T * V);
  CHECK(lpo_model_logprobs(m, tok, mask, B, T, tl, seq) == 0);
  double e_tok = check_rel_err(tl, tok_gold, (int64_t)B * T), e_seq = check_rel_err(seq, seq_gold, B);
  CHECK_MSG(e_logits <= 1e-4, "%s logits rel err %.3g", dir, e_logits);
  CHECK_MSG(e_tok <= 1e-4, "%s tok_logp rel err %.3g", dir, e_tok);
  CHECK_MSG(e_seq <= 1e-4, "%s seq_logp rel err %.3g", dir, e_seq);
  float ones[16];
  for (int b = 0; b < B; b++) ones[b] = 1.0f;
  lpo_model_zero_grad(m);
  CHECK(lpo_model_backward(m, ones) == 0);
  double e_grad = 0;
  const float *g = lpo_model_grads(m);
  for (int i = 0; i < lpo_model_num_tensors(m); i++) {
    lpo_model_tensor t;
    lpo_model_tensor_info(m, i, &t);
    char name[160];
    snprintf(name, sizeof name, "grad.%s", t.name);
    float *gg = read_gold(gold, name, t.ndim, t.shape, t.numel);
    double e = check_rel_err(g + t.offset, gg, t.numel);
    CHECK_MSG(e <= 1e-4, "%s %s rel err %.3g", dir, name, e);
    if (e > e_grad) e_grad = e;
    free(gg);
  }
  printf("%s (%s): max relative error logits %.2g, tok_logp %.2g, seq_logp %.2g, grads %.2g\n", dir, be->name,
         e_logits, e_tok, e_seq, e_grad);
  free(tok); free(mask); free(tok_gold); free(seq_gold); free(logits_gold); free(logits); free(tl);
  lpo_model_free(m);
  lpo_st_close(gold);
}

int main(void) {
  check_fixture("tests/fixtures/model/qwen2_tiny", lpo_backend_cpu());
  check_fixture("tests/fixtures/model/llama_tiny", lpo_backend_cpu());
  check_fixture("tests/fixtures/model/qwen2_tiny", lpo_backend_cpu_ref());
  check_fixture("tests/fixtures/model/llama_tiny", lpo_backend_cpu_ref());
  return check_done("test_model_golden");
}
