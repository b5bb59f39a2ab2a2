/* Checkpoints and configs: save/load round trips (f32 bitwise, bf16 = rounding of f32,
 * sharded), config.json parsing (both rope spellings, class defaults) and the errors a
 * bad or hostile checkpoint must produce, each naming the field or the tensor. */
#include "check.h"
#include "lpo.h"
#include "lpo_model.h"
#include "lpo_safetensors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *TINY =
    "{\"model_type\":\"qwen2\",\"vocab_size\":50,\"hidden_size\":32,\"intermediate_size\":40,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
    "\"eos_token_id\":7,\"initializer_range\":0.1}";

static char tmpdir[256];

static void sh(const char *fmt, const char *arg) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, fmt, arg, arg, arg);
  if (system(cmd) != 0) fprintf(stderr, "command failed: %s\n", cmd);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
}

/* Loads dir and expects failure with `want` (and `want2`) in the message. */
static void expect_load_error(const char *dir, const char *want, const char *want2) {
  lpo_model *m = lpo_model_load(dir);
  CHECK_MSG(m == NULL, "loading %s should fail (%s)", dir, want);
  if (m) { lpo_model_free(m); return; }
  const char *e = lpo_last_error();
  CHECK_MSG(strstr(e, want) != NULL, "error '%s' lacks '%s'", e, want);
  if (want2) CHECK_MSG(strstr(e, want2) != NULL, "error '%s' lacks '%s'", e, want2);
}

static void expect_config_error(const char *json, const char *want) {
  lpo_model_config c;
  CHECK_MSG(lpo_model_config_parse(&c, json, "x/config.json") == -1, "config should fail: %s", json);
  const char *e = lpo_last_error();
  CHECK_MSG(strstr(e, want) != NULL && strstr(e, "x/config.json") != NULL, "error '%s' lacks '%s'", e, want);
}

static void test_round_trips(void) {
  lpo_model *m = lpo_model_new(TINY, 3);
  CHECK(m != NULL);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/f32", tmpdir);
  CHECK_MSG(lpo_model_save(m, dir, LPO_F32, 0) == 0, "%s", lpo_last_error());
  lpo_model *b = lpo_model_load(dir);
  CHECK_MSG(b != NULL, "%s", lpo_last_error());
  if (!b) return;
  CHECK(lpo_model_num_params(b) == lpo_model_num_params(m));
  CHECK(memcmp(lpo_model_params(b), lpo_model_params(m), (size_t)lpo_model_num_params(m) * 4) == 0);
  /* fields beyond ours survive the round trip; torch_dtype says what was written */
  CHECK(strstr(lpo_model_config_json(b), "\"eos_token_id\":\t7") != NULL);
  CHECK(strstr(lpo_model_config_json(b), "\"torch_dtype\":\t\"float32\"") != NULL);
  lpo_model_free(b);
  /* bf16: every value is the round-to-nearest-even of ours */
  snprintf(dir, sizeof dir, "%s/bf16", tmpdir);
  CHECK(lpo_model_save(m, dir, LPO_BF16, 0) == 0);
  b = lpo_model_load(dir);
  CHECK_MSG(b != NULL, "%s", lpo_last_error());
  int bad = 0;
  for (int64_t i = 0; b && i < lpo_model_num_params(m); i++)
    bad += lpo_model_params(b)[i] != lpo_bf16_to_f32(lpo_f32_to_bf16(lpo_model_params(m)[i]));
  CHECK_MSG(bad == 0, "%d bf16 values differ", bad);
  CHECK(b && lpo_model_get_config(b)->torch_dtype == LPO_BF16);
  lpo_model_free(b);
  /* sharded: small shards + index, loads back bitwise */
  snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
  CHECK(lpo_model_save(m, dir, LPO_F32, 8000) == 0);
  char idx[400];
  snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
  CHECK(access(idx, F_OK) == 0);
  b = lpo_model_load(dir);
  CHECK_MSG(b != NULL, "%s", lpo_last_error());
  CHECK(b && memcmp(lpo_model_params(b), lpo_model_params(m), (size_t)lpo_model_num_params(m) * 4) == 0);
  lpo_model_free(b);
  lpo_model_free(m);
}

static void test_hostile(void) {
  char dir[300], path[400];
  lpo_model *m = lpo_model_new(TINY, 4);
  /* config says 3 layers, checkpoint has 2: the first missing tensor is named */
  snprintf(dir, sizeof dir, "%s/layers", tmpdir);
  lpo_model_save(m, dir, LPO_F32, 0);
  snprintf(path, sizeof path, "%s/config.json", dir);
  sh("sed -i 's/\"num_hidden_layers\":[^,]*/\"num_hidden_layers\": 3/' %s/layers/config.json", tmpdir);
  expect_load_error(dir, "tensor 'model.layers.2.input_layernorm.weight' is missing", dir);
  /* config says 1 layer: layer 1's tensors are not part of it */
  sh("sed -i 's/\"num_hidden_layers\":[^,]*/\"num_hidden_layers\": 1/' %s/layers/config.json", tmpdir);
  expect_load_error(dir, "tensor 'model.layers.1.", "is not part of the model");
  /* vocab mismatch: the embedding's shape is named */
  snprintf(dir, sizeof dir, "%s/vocab", tmpdir);
  lpo_model_save(m, dir, LPO_F32, 0);
  sh("sed -i 's/\"vocab_size\":[^,]*/\"vocab_size\": 64/' %s/vocab/config.json", tmpdir);
  expect_load_error(dir, "tensor 'model.embed_tokens.weight' has shape [50, 32] but config.json implies [64, 32]", NULL);
  /* a llama config over qwen2 weights: the q/k/v biases would be dropped -> error */
  snprintf(dir, sizeof dir, "%s/bias", tmpdir);
  lpo_model_save(m, dir, LPO_F32, 0);
  sh("sed -i 's/\"qwen2\"/\"llama\"/' %s/bias/config.json", tmpdir);
  expect_load_error(dir, "_proj.bias' is not part of the model", "qkv bias no");
  /* a NaN inside a tensor */
  snprintf(dir, sizeof dir, "%s/nan", tmpdir);
  {
    lpo_model *n = lpo_model_new(TINY, 4);
    int k = lpo_model_find_tensor(n, "model.layers.1.mlp.up_proj.weight");
    lpo_model_tensor t;
    lpo_model_tensor_info(n, k, &t);
    lpo_model_params(n)[t.offset + 5] = NAN;
    lpo_model_save(n, dir, LPO_F32, 0);
    lpo_model_free(n);
  }
  expect_load_error(dir, "tensor 'model.layers.1.mlp.up_proj.weight' holds a non-finite value at element 5", NULL);
  /* no weights at all; no config */
  snprintf(dir, sizeof dir, "%s/noweights", tmpdir);
  sh("mkdir -p %s/noweights", tmpdir);
  snprintf(path, sizeof path, "%s/config.json", dir);
  write_file(path, TINY);
  expect_load_error(dir, "noweights", "model.safetensors");
  snprintf(dir, sizeof dir, "%s/nothing", tmpdir);
  expect_load_error(dir, "nothing/config.json", "cannot open");
  /* a truncated safetensors file: the byte-level reader names the file */
  snprintf(dir, sizeof dir, "%s/trunc", tmpdir);
  lpo_model_save(m, dir, LPO_F32, 0);
  sh("truncate -s 5000 %s/trunc/model.safetensors", tmpdir);
  expect_load_error(dir, "model.safetensors", NULL);
  lpo_model_free(m);
}

static void test_configs(void) {
  lpo_model_config c;
  /* classic hub spelling */
  CHECK(lpo_model_config_parse(&c, "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_attention_heads\":4,"
        "\"rope_theta\":500000.0,\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
        "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},\"torch_dtype\":\"bfloat16\"}", "a") == 0);
  CHECK(c.rope_kind == LPO_ROPE_LLAMA3 && c.rope_factor == 8.0 && c.rope_theta == 500000.0);
  CHECK(c.head_dim == 16 && c.num_kv_heads == 4 && c.torch_dtype == LPO_BF16);
  CHECK(c.vocab_size == 32000 && c.intermediate_size == 11008 && c.num_layers == 32);   /* LlamaConfig defaults */
  /* transformers 5 spelling */
  CHECK(lpo_model_config_parse(&c, "{\"model_type\":\"qwen2\",\"rope_parameters\":{\"rope_theta\":1000000.0,"
        "\"rope_type\":\"default\"},\"dtype\":\"float16\"}", "b") == 0);
  CHECK(c.rope_kind == LPO_ROPE_DEFAULT && c.rope_theta == 1e6 && c.qkv_bias && !c.o_bias && c.torch_dtype == LPO_F16);
  CHECK(c.vocab_size == 151936 && c.num_kv_heads == 32);                                  /* Qwen2Config defaults */
  CHECK(lpo_model_config_parse(&c, "{\"model_type\":\"llama\",\"attention_bias\":true,\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2}}", "c") == 0);
  CHECK(c.qkv_bias && c.o_bias && c.rope_kind == LPO_ROPE_DYNAMIC);
  expect_config_error("{\"model_type\":\"gpt2\"}", "model_type 'gpt2' is not supported");
  expect_config_error("{\"hidden_size\":3}", "'model_type' is missing");
  expect_config_error("{\"model_type\":\"llama\",\"num_attention_heads\":4,\"num_key_value_heads\":3,\"hidden_size\":64}", "num_key_value_heads 3 does not divide");
  expect_config_error("{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}", "rope_scaling type 'yarn' is not supported");
  expect_config_error("{\"model_type\":\"llama\",\"hidden_act\":\"gelu\"}", "'hidden_act'");
  expect_config_error("{\"model_type\":\"llama\",\"mlp_bias\":true}", "'mlp_bias'");
  expect_config_error("{\"model_type\":\"qwen2\",\"use_sliding_window\":true}", "'use_sliding_window'");
  expect_config_error("{\"model_type\":\"llama\",\"hidden_size\":\"big\"}", "'hidden_size' must be an integer");
  expect_config_error("{\"model_type\":\"llama\",\"vocab_size\":0}", "'vocab_size' = 0 out of range");
  expect_config_error("{\"model_type\":\"llama\",\"head_dim\":7}", "head_dim 7 must be even");
  expect_config_error("{\"model_type\": ", "not valid JSON");
}

static void test_batch_errors(void) {
  lpo_model *m = lpo_model_new(TINY, 3);
  int32_t tok[6] = { 1, 2, 3, 4, 5, 60 };
  float mask[6] = { 0, 1, 1, 0, 1, 1 }, seq[2];
  CHECK(lpo_model_logprobs(m, tok, mask, 2, 3, NULL, seq) == -1);
  CHECK(strstr(lpo_last_error(), "reserve") != NULL);
  lpo_model_reserve(m, 2, 3, 0);
  CHECK(lpo_model_logprobs(m, tok, mask, 2, 3, NULL, seq) == -1);
  CHECK(strstr(lpo_last_error(), "tokens[1][2] = 60 is out of range for vocab_size 50") != NULL);
  tok[5] = 6;
  mask[3] = 1;
  CHECK(lpo_model_logprobs(m, tok, mask, 2, 3, NULL, seq) == -1);
  CHECK(strstr(lpo_last_error(), "mask[1][0] must be 0") != NULL);
  mask[3] = 0;
  CHECK(lpo_model_logprobs(m, tok, mask, 2, 4, NULL, seq) == -1);
  CHECK(strstr(lpo_last_error(), "does not fit the reserved 2 x 3") != NULL);
  CHECK(lpo_model_logprobs(m, tok, mask, 2, 3, NULL, seq) == 0);
  float d[2] = { 1, 1 };
  CHECK(lpo_model_backward(m, d) == -1);
  CHECK(strstr(lpo_last_error(), "inference") != NULL);
  lpo_model_reserve(m, 2, 3, 1);
  CHECK(lpo_model_backward(m, d) == -1);
  CHECK(strstr(lpo_last_error(), "needs a logprobs forward") != NULL);
  CHECK(lpo_model_logprobs(m, tok, mask, 2, 3, NULL, seq) == 0);
  CHECK(lpo_model_backward(m, d) == 0);
  CHECK(lpo_model_backward(m, d) == -1);   /* one backward per forward */
  lpo_model_free(m);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/lpo_test_ckpt_XXXXXX");
  if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
  test_round_trips();
  test_hostile();
  test_configs();
  test_batch_errors();
  sh("rm -rf %s", tmpdir);
  return check_done("test_model_checkpoint");
}
