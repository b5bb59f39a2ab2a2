/* test_safetensors_hf_slow.c — files written by lpo are read by the reference
 * implementations: the Python safetensors reader (strict header rules) reads every
 * tensor and writes it back with save_file, and the C test compares those bytes with
 * what it wrote; transformers' from_pretrained loads lpo-written checkpoints (one file
 * and HF shards + index) into a model identical to the one save_pretrained wrote.
 * Needs python3 with torch, safetensors and transformers: skipped (77) without them.
 * Slow (imports torch): excluded from the sanitizer run. */
#include "lpo_safetensors.h"
#include "check.h"
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "tests/fixtures/ckpt/"

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

static int sh(const char *fmt, const char *a, const char *b, const char *c) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, fmt, a, b, c);
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Copies src (a fixture model) into dst through lpo: read every tensor, write it back
 * with lpo's writer (sharded when max_shard > 0), and copy config.json. */
static int rewrite_model(const char *src, const char *dst, int64_t max_shard) {
  lpo_st *st = lpo_st_open(src);
  if (!st) { fprintf(stderr, "%s\n", lpo_last_error()); return -1; }
  int n = lpo_st_count(st);
  lpo_st_tensor *t = calloc((size_t)n, sizeof *t);
  for (int i = 0; i < n; i++) {
    t[i].name = lpo_st_name(st, i);
    t[i].dtype = lpo_st_dtype(st, i);
    t[i].ndim = lpo_st_shape(st, i, t[i].shape);
    t[i].data = lpo_st_data(st, i);
  }
  int rc = lpo_st_write_sharded(dst, t, n, max_shard, NULL);
  if (rc != 0) fprintf(stderr, "%s\n", lpo_last_error());
  free(t);
  lpo_st_close(st);
  if (rc == 0) rc = sh("cp %s/config.json %s/ 2>&1", src, dst, "");
  return rc;
}

int main(void) {
  if (sh("python3 -c 'import torch, safetensors, transformers' >/dev/null 2>&1", "", "", "") != 0) {
    printf("test_safetensors_hf_slow: skipped (python3 with torch, safetensors, transformers not available)\n");
    return 77;
  }
  char tmp[] = "/tmp/lpo_sthf_XXXXXX";
  CHECK(mkdtemp(tmp) != NULL);
  char a[600], b[600], d1[600], d2[600];
  snprintf(a, sizeof a, "%s/lpo.safetensors", tmp);
  snprintf(b, sizeof b, "%s/py.safetensors", tmp);
  snprintf(d1, sizeof d1, "%s/llama", tmp);
  snprintf(d2, sizeof d2, "%s/qwen2", tmp);

  /* 1. Every dtype, odd sizes (misaligning bf16 counts), a scalar, an empty tensor. */
  enum { NF = 37, NB = 21, NH = 9 };
  float f[NF], sc = 2.5f;
  uint16_t bf[NB], hf[NH];
  int32_t i32[5] = { -1, 0, 1, 2147483647, -2147483647 - 1 };
  int64_t i64[3] = { -5, (int64_t)1 << 50, 0 };
  for (int i = 0; i < NF; i++) f[i] = (float)i * 0.125f - 1.0f;
  for (int i = 0; i < NB; i++) bf[i] = lpo_f32_to_bf16((float)i * 1.1f - 10.0f);
  for (int i = 0; i < NH; i++) hf[i] = lpo_f32_to_f16((float)i / 3.0f);
  lpo_st_tensor t[7] = {
    { "model.embed_tokens.weight", LPO_F32, 2, { 37, 1 }, f }, { "a.bf16", LPO_BF16, 3, { 3, 7, 1 }, bf },
    { "b.f16", LPO_F16, 1, { 9 }, hf }, { "c.i32", LPO_I32, 1, { 5 }, i32 }, { "d.i64", LPO_I64, 1, { 3 }, i64 },
    { "e.scalar", LPO_F32, 0, { 0 }, &sc }, { "f.empty", LPO_BF16, 2, { 4, 0 }, NULL },
  };
  CHECK_MSG(lpo_st_write(a, t, 7, "{\"note\":\"lpo\"}") == 0, "%s", lpo_last_error());

  /* 2. lpo rewrites of HF checkpoints: sharded f32 llama, single-file bf16 qwen2. */
  CHECK(rewrite_model(FIX "llama_sharded", d1, 9000) == 0);
  CHECK(sh("test -f %s/model.safetensors.index.json && test -f %s/model-00001-of-00005.safetensors", d1, d1, "") == 0);
  CHECK(rewrite_model(FIX "qwen2_bf16", d2, 0) == 0);

  /* Python: the reference reader on (1), transformers on (2), in one interpreter. */
  char cmd[3000];
  snprintf(cmd, sizeof cmd, "python3 " FIX "check_hf.py tensors %s %s model %s " FIX "llama_sharded model %s " FIX "qwen2_bf16",
           a, b, d1, d2);
  int rc = system(cmd);
  CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "check_hf.py failed (status %d)", rc);
  lpo_st *back = lpo_st_open(b);
  CHECK_MSG(back != NULL, "%s", lpo_last_error());
  for (int k = 0; back && k < 7; k++) {
    int i = lpo_st_find(back, t[k].name);
    int64_t shape[8];
    CHECK_MSG(i >= 0 && lpo_st_dtype(back, i) == t[k].dtype && lpo_st_shape(back, i, shape) == t[k].ndim, "%s", t[k].name);
    for (int d = 0; i >= 0 && d < t[k].ndim; d++) CHECK(shape[d] == t[k].shape[d]);
    int64_t nb = i >= 0 ? lpo_st_nbytes(back, i) : -1;
    CHECK_MSG(nb == 0 || (nb > 0 && memcmp(lpo_st_data(back, i), t[k].data, (size_t)nb) == 0), "%s: bytes differ after Python", t[k].name);
  }
  lpo_st_close(back);

  nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return check_done("test_safetensors_hf_slow");
}
