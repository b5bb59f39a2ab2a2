/* test_safetensors.c — reading HF-written safetensors bit-exactly (fixtures made by
 * tests/fixtures/ckpt/make_ckpt.py with torch/safetensors/transformers), writing files
 * and sharded checkpoints that read back identically, and the layout rules of the
 * writer (8-byte padded header, aligned tensors, HF shard names, stale files removed).
 * Hostile files are in test_safetensors_hostile.c. */
#include "lpo_safetensors.h"
#include "check.h"
#include <cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "tests/fixtures/ckpt/"

static cJSON *read_json(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\n", path); return NULL; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t r = fread(buf, 1, (size_t)n, f);
  buf[r] = 0;
  fclose(f);
  cJSON *j = cJSON_Parse(buf);
  free(buf);
  return j;
}

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}
static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static int exists(const char *dir, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

static int dtype_of(const char *torch_name) {
  static const char *n[] = { "float32", "bfloat16", "float16", "int32", "int64" };
  for (int i = 0; i < 5; i++) if (strcmp(n[i], torch_name) == 0) return i;
  return -1;
}

/* Every tensor of small.safetensors against the values torch wrote into small.json. */
static void test_small_fixture(void) {
  lpo_st *st = lpo_st_open(FIX "small.safetensors");
  CHECK_MSG(st != NULL, "%s", lpo_last_error());
  cJSON *exp = read_json(FIX "small.json");
  CHECK(exp != NULL);
  if (!st || !exp) { lpo_st_close(st); cJSON_Delete(exp); return; }
  CHECK(lpo_st_count(st) == cJSON_GetArraySize(exp));
  CHECK(lpo_st_metadata(st, "note") && strcmp(lpo_st_metadata(st, "note"), "lpo fixture") == 0);
  CHECK(strcmp(lpo_st_metadata(st, "format"), "pt") == 0);
  CHECK(lpo_st_metadata(st, "absent") == NULL);
  for (int i = 1; i < lpo_st_count(st); i++) CHECK(strcmp(lpo_st_name(st, i - 1), lpo_st_name(st, i)) < 0);
  for (cJSON *e = exp->child; e; e = e->next) {
    const char *name = e->string;
    int i = lpo_st_find(st, name);
    CHECK_MSG(i >= 0, "tensor %s not found", name);
    if (i < 0) continue;
    CHECK_MSG(lpo_st_dtype(st, i) == dtype_of(cJSON_GetObjectItem(e, "dtype")->valuestring), "dtype of %s", name);
    int64_t shape[8];
    int nd = lpo_st_shape(st, i, shape);
    cJSON *js = cJSON_GetObjectItem(e, "shape");
    CHECK_MSG(nd == cJSON_GetArraySize(js), "ndim of %s", name);
    int64_t numel = 1;
    for (int d = 0; d < nd; d++) { CHECK(shape[d] == (int64_t)cJSON_GetArrayItem(js, d)->valuedouble); numel *= shape[d]; }
    CHECK(lpo_st_numel(st, i) == numel);
    CHECK(lpo_st_nbytes(st, i) == numel * lpo_dtype_size(lpo_st_dtype(st, i)));
    cJSON *fb = cJSON_GetObjectItem(e, "f32_bits");
    if (fb) {
      float *buf = malloc((size_t)(numel ? numel : 1) * 4);
      CHECK_MSG(lpo_st_read_f32(st, name, buf, nd, shape) == 0, "%s", lpo_last_error());
      int bad = 0;
      for (int64_t k = 0; k < numel; k++) {
        uint32_t want = (uint32_t)cJSON_GetArrayItem(fb, (int)k)->valuedouble;
        /* NaN payloads are not meaningful (torch's f16 -> f32 gives 0x7fffffff, IEEE and
         * numpy give 0x7fc00000): a NaN must stay a NaN; everything else bit for bit. */
        if ((want & 0x7fffffffu) > 0x7f800000u) bad += buf[k] == buf[k];
        else bad += bits(buf[k]) != want;
      }
      CHECK_MSG(bad == 0, "%s: %d of %lld values differ from torch's .float()", name, bad, (long long)numel);
      free(buf);
    } else {
      cJSON *vals = cJSON_GetObjectItem(e, "values");
      int dt = lpo_st_dtype(st, i);
      int64_t buf[8] = { 0 };
      int32_t b32[8] = { 0 };
      CHECK(lpo_st_read_raw(st, name, dt == LPO_I64 ? (void *)buf : (void *)b32, dt, nd, shape) == 0);
      for (int64_t k = 0; k < numel; k++) {
        double want = cJSON_GetArrayItem(vals, (int)k)->valuedouble;
        CHECK_MSG((dt == LPO_I64 ? (double)buf[k] : (double)b32[k]) == want, "%s[%lld]", name, (long long)k);
      }
      /* Integers are not floats: read_f32 refuses them by name. */
      float f[8];
      CHECK(lpo_st_read_f32(st, name, f, nd, shape) == -1 && strstr(lpo_last_error(), name));
    }
  }
  /* Missing tensor and shape mismatch name the tensor (and both shapes). */
  float dummy[64];
  int64_t want[2] = { 5, 3 };
  CHECK(lpo_st_read_f32(st, "f32.mat", dummy, 2, want) == -1);
  CHECK_MSG(strstr(lpo_last_error(), "'f32.mat'") && strstr(lpo_last_error(), "[3, 5]") && strstr(lpo_last_error(), "[5, 3]"),
            "%s", lpo_last_error());
  CHECK(lpo_st_read_f32(st, "model.norm.weight", dummy, 1, want) == -1);
  CHECK_MSG(strstr(lpo_last_error(), "'model.norm.weight'") && strstr(lpo_last_error(), "small.safetensors"), "%s", lpo_last_error());
  CHECK(lpo_st_find(st, "nope") == -1);
  CHECK(lpo_st_read_raw(st, "bf16.mat", dummy, LPO_F32, -1, NULL) == -1 && strstr(lpo_last_error(), "bf16.mat"));
  /* Mapped data: bf16 bits straight from the file equal torch's (upper half of f32). */
  int i = lpo_st_find(st, "bf16.mat");
  const uint16_t *raw = lpo_st_data(st, i);
  cJSON *fb = cJSON_GetObjectItem(cJSON_GetObjectItem(exp, "bf16.mat"), "f32_bits");
  uint16_t h;
  memcpy(&h, raw + 5, 2);
  CHECK(((uint32_t)h << 16) == (uint32_t)cJSON_GetArrayItem(fb, 5)->valuedouble);
  cJSON_Delete(exp);
  lpo_st_close(st);
}

/* A sharded f32 llama and a bf16 qwen2 written by save_pretrained. */
static void test_models(void) {
  cJSON *exp = read_json(FIX "models.json");
  CHECK(exp != NULL);
  if (!exp) return;
  const char *dirs[2] = { FIX "llama_sharded", FIX "qwen2_bf16" };
  const char *keys[2] = { "llama_sharded", "qwen2_bf16" };
  for (int m = 0; m < 2; m++) {
    lpo_st *st = lpo_st_open(dirs[m]);
    CHECK_MSG(st != NULL, "%s: %s", dirs[m], lpo_last_error());
    if (!st) continue;
    cJSON *e = cJSON_GetObjectItem(exp, keys[m]);
    CHECK(lpo_st_count(st) == cJSON_GetArraySize(e));
    for (cJSON *t = e->child; t; t = t->next) {
      int i = lpo_st_find(st, t->string);
      CHECK_MSG(i >= 0, "%s: %s missing", dirs[m], t->string);
      if (i < 0) continue;
      int64_t shape[8];
      int nd = lpo_st_shape(st, i, shape);
      int64_t n = lpo_st_numel(st, i);
      CHECK(lpo_st_dtype(st, i) == dtype_of(cJSON_GetObjectItem(t, "dtype")->valuestring));
      float *buf = malloc((size_t)n * 4);
      CHECK(lpo_st_read_f32(st, t->string, buf, nd, shape) == 0);
      double sum = 0;
      for (int64_t k = 0; k < n; k++) sum += buf[k];
      CHECK_CLOSE(sum, cJSON_GetObjectItem(t, "sum")->valuedouble, 1e-9, 1e-9);
      cJSON *fb = cJSON_GetObjectItem(t, "first_bits");
      for (int k = 0; k < cJSON_GetArraySize(fb); k++) CHECK(bits(buf[k]) == (uint32_t)cJSON_GetArrayItem(fb, k)->valuedouble);
      free(buf);
    }
    lpo_st_close(st);
  }
  /* The index names the shard of each tensor; lpo_st_file agrees; opening the index file
   * itself is the same as opening the directory. */
  lpo_st *st = lpo_st_open(FIX "llama_sharded/model.safetensors.index.json");
  CHECK(st != NULL);
  cJSON *idx = read_json(FIX "llama_sharded/model.safetensors.index.json");
  for (cJSON *x = cJSON_GetObjectItem(idx, "weight_map")->child; st && x; x = x->next) {
    const char *f = lpo_st_file(st, lpo_st_find(st, x->string));
    CHECK(f && strstr(f, x->valuestring));
  }
  cJSON_Delete(idx);
  lpo_st_close(st);
  cJSON_Delete(exp);
}

/* Deterministic test tensors of every dtype, including a scalar and an empty one. */
typedef struct tset { float f32[60]; uint16_t bf[21], f16[7]; int32_t i32[3]; int64_t i64[5]; float sc; lpo_st_tensor t[7]; } tset;
static void make_set(tset *s) {
  for (int i = 0; i < 60; i++) s->f32[i] = (float)i * 0.37f - 9.0f;
  for (int i = 0; i < 21; i++) s->bf[i] = lpo_f32_to_bf16((float)i / 7.0f - 1.0f);
  for (int i = 0; i < 7; i++) s->f16[i] = lpo_f32_to_f16((float)i * 1e-3f);
  for (int i = 0; i < 3; i++) s->i32[i] = -7 * i;
  for (int i = 0; i < 5; i++) s->i64[i] = (int64_t)1 << (10 * i);
  s->sc = -1.5f;
  /* Names deliberately unsorted, with a quote and a backslash that must be escaped. */
  lpo_st_tensor t[7] = {
    { "model.z \"q\\", LPO_F32, 3, { 3, 4, 5 }, s->f32 },
    { "a.bias", LPO_BF16, 2, { 3, 7 }, s->bf },     /* 42 bytes: misaligns what follows unless reordered */
    { "b.half", LPO_F16, 1, { 7 }, s->f16 },
    { "c.int", LPO_I32, 1, { 3 }, s->i32 },
    { "d.long", LPO_I64, 1, { 5 }, s->i64 },
    { "e.scalar", LPO_F32, 0, { 0 }, &s->sc },
    { "f.empty", LPO_F32, 2, { 0, 4 }, NULL },
  };
  memcpy(s->t, t, sizeof t);
}

static void check_same(const lpo_st *st, const tset *s, const char *what) {
  CHECK_MSG(lpo_st_count(st) == 7, "%s: count %d", what, lpo_st_count(st));
  for (int k = 0; k < 7; k++) {
    const lpo_st_tensor *x = &s->t[k];
    int i = lpo_st_find(st, x->name);
    CHECK_MSG(i >= 0, "%s: %s missing", what, x->name);
    if (i < 0) continue;
    int64_t shape[8];
    CHECK(lpo_st_dtype(st, i) == x->dtype);
    CHECK(lpo_st_shape(st, i, shape) == x->ndim);
    for (int d = 0; d < x->ndim; d++) CHECK(shape[d] == x->shape[d]);
    int64_t nb = lpo_st_nbytes(st, i);
    CHECK(nb == 0 || memcmp(lpo_st_data(st, i), x->data, (size_t)nb) == 0);
    /* Aligned to the element size, so mapped data can be used in place. */
    CHECK_MSG(((uintptr_t)lpo_st_data(st, i)) % (uintptr_t)lpo_dtype_size(x->dtype) == 0, "%s: %s misaligned", what, x->name);
  }
}

static void test_write_roundtrip(const char *tmp) {
  tset s;
  make_set(&s);
  char path[512];
  snprintf(path, sizeof path, "%s/one.safetensors", tmp);
  CHECK_MSG(lpo_st_write(path, s.t, 7, "{\"note\":\"x\"}") == 0, "%s", lpo_last_error());
  lpo_st *st = lpo_st_open(path);
  CHECK_MSG(st != NULL, "%s", lpo_last_error());
  if (st) {
    check_same(st, &s, "single file");
    CHECK(strcmp(lpo_st_metadata(st, "format"), "pt") == 0 && strcmp(lpo_st_metadata(st, "note"), "x") == 0);
    float f[21];
    int64_t shp[2] = { 3, 7 };
    CHECK(lpo_st_read_f32(st, "a.bias", f, 2, shp) == 0 && f[7] == lpo_bf16_to_f32(s.bf[7]));
    lpo_st_close(st);
  }
  /* Header: length a multiple of 8, padded with spaces, metadata first. */
  FILE *fp = fopen(path, "rb");
  uint8_t head[8];
  CHECK(fread(head, 1, 8, fp) == 8);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)head[i] << (8 * i);
  char *h = calloc(1, hl + 1);
  CHECK(fread(h, 1, hl, fp) == hl);
  fclose(fp);
  CHECK(hl % 8 == 0);
  CHECK(strncmp(h, "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"}", 42) == 0);
  free(h);
  /* Bad writes are refused with the tensor named; the old file stays. */
  lpo_st_tensor dup[2] = { s.t[0], s.t[0] };
  CHECK(lpo_st_write(path, dup, 2, NULL) == -1 && strstr(lpo_last_error(), "given twice"));
  lpo_st_tensor neg = s.t[0];
  neg.shape[1] = -4;
  CHECK(lpo_st_write(path, &neg, 1, NULL) == -1 && strstr(lpo_last_error(), "model.z"));
  CHECK(lpo_st_write(path, s.t, 7, "{\"k\": 3}") == -1 && strstr(lpo_last_error(), "'k'"));
  CHECK(lpo_st_write(path, s.t, 7, "[1") == -1);
  st = lpo_st_open(path);
  CHECK(st != NULL);
  if (st) { check_same(st, &s, "after refused writes"); lpo_st_close(st); }
  /* No temp files left behind. */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp >/dev/null", tmp);
  CHECK(system(cmd) != 0);
}

static void test_sharded(const char *tmp) {
  tset s;
  make_set(&s);
  char dir[512];
  snprintf(dir, sizeof dir, "%s/ckpt", tmp);
  /* 100-byte shards: the 240-byte f32 tensor gets its own shard (HF rule). */
  CHECK_MSG(lpo_st_write_sharded(dir, s.t, 7, 100, NULL) == 0, "%s", lpo_last_error());
  CHECK(exists(dir, "model.safetensors.index.json") && !exists(dir, "model.safetensors"));
  /* Name order: a.bias(42) b.half(14) c.int(12) | d.long(40) e.scalar(4) f.empty(0) | model.z(240) */
  CHECK(exists(dir, "model-00001-of-00003.safetensors") && exists(dir, "model-00003-of-00003.safetensors"));
  lpo_st *st = lpo_st_open(dir);
  CHECK_MSG(st != NULL, "%s", lpo_last_error());
  if (st) {
    check_same(st, &s, "sharded");
    CHECK(strstr(lpo_st_file(st, lpo_st_find(st, "c.int")), "model-00001-of-00003"));
    CHECK(strstr(lpo_st_file(st, lpo_st_find(st, "d.long")), "model-00002-of-00003"));
    CHECK(strstr(lpo_st_file(st, lpo_st_find(st, "e.scalar")), "model-00002-of-00003"));
    CHECK(strstr(lpo_st_file(st, lpo_st_find(st, "model.z \"q\\")), "model-00003-of-00003"));
    lpo_st_close(st);
  }
  char p[600];
  snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
  cJSON *idx = read_json(p);
  CHECK(idx && cJSON_GetObjectItem(cJSON_GetObjectItem(idx, "metadata"), "total_size")->valuedouble == 352);
  CHECK(idx && cJSON_GetObjectItem(cJSON_GetObjectItem(idx, "metadata"), "total_parameters")->valuedouble == 60 + 21 + 7 + 3 + 5 + 1);
  cJSON_Delete(idx);
  /* Re-sharding into 2 files removes the 3-file set; one file removes index and shards. */
  CHECK(lpo_st_write_sharded(dir, s.t, 7, 250, NULL) == 0);
  CHECK(exists(dir, "model-00002-of-00002.safetensors") && !exists(dir, "model-00001-of-00003.safetensors"));
  st = lpo_st_open(dir);
  if (st) { check_same(st, &s, "resharded"); lpo_st_close(st); }
  CHECK(lpo_st_write_sharded(dir, s.t, 7, 0, NULL) == 0);
  CHECK(exists(dir, "model.safetensors") && !exists(dir, "model.safetensors.index.json"));
  CHECK(!exists(dir, "model-00001-of-00002.safetensors") && !exists(dir, "model-00002-of-00002.safetensors"));
  st = lpo_st_open(dir);
  if (st) { check_same(st, &s, "single in dir"); lpo_st_close(st); }
  /* Back to shards: the single file goes (else readers would prefer it). */
  CHECK(lpo_st_write_sharded(dir, s.t, 7, 100, NULL) == 0);
  CHECK(!exists(dir, "model.safetensors"));
  /* Rewriting the HF llama fixture through lpo reproduces its shard assignment. */
  lpo_st *src = lpo_st_open(FIX "llama_sharded");
  CHECK(src != NULL);
  if (src) {
    int n = lpo_st_count(src);
    lpo_st_tensor *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
      t[i].name = lpo_st_name(src, i);
      t[i].dtype = lpo_st_dtype(src, i);
      t[i].ndim = lpo_st_shape(src, i, t[i].shape);
      t[i].data = lpo_st_data(src, i);
    }
    snprintf(dir, sizeof dir, "%s/llama", tmp);
    CHECK(lpo_st_write_sharded(dir, t, n, 12000, NULL) == 0);
    lpo_st *back = lpo_st_open(dir);
    CHECK(back && lpo_st_count(back) == n);
    for (int i = 0; back && i < n; i++) {
      int j = lpo_st_find(back, t[i].name);
      CHECK(j >= 0 && lpo_st_nbytes(back, j) == lpo_st_nbytes(src, i) &&
            memcmp(lpo_st_data(back, j), t[i].data, (size_t)lpo_st_nbytes(src, i)) == 0);
    }
    lpo_st_close(back);
    free(t);
    lpo_st_close(src);
  }
}

int main(void) {
  if (access(FIX "small.safetensors", F_OK) != 0) { fprintf(stderr, "run from the repository root\n"); return 1; }
  int64_t live0 = lpo_mem_live_bytes(0);
  char tmp[] = "/tmp/lpo_st_XXXXXX";
  CHECK(mkdtemp(tmp) != NULL);
  test_small_fixture();
  test_models();
  test_write_roundtrip(tmp);
  test_sharded(tmp);
  CHECK_MSG(lpo_mem_live_bytes(0) == live0, "mapped bytes not released: %lld", (long long)(lpo_mem_live_bytes(0) - live0));
  rm_rf(tmp);
  return check_done("test_safetensors");
}
