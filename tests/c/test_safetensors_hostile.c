/* test_safetensors_hostile.c — corrupt and hostile checkpoints are rejected before any
 * tensor is trusted, with a message naming the file and the tensor: truncated files,
 * headers lying about lengths and offsets, overlapping tensors, unknown or unsupported
 * dtypes, bad shapes, invalid JSON, duplicate names, broken shard indexes (missing shard,
 * tensor in the wrong shard, path escapes), a missing tensor and a shape that disagrees
 * with the model config. Ends with a seeded mutation fuzz: random byte flips and
 * truncations of a valid file must either open cleanly (and read in bounds) or fail
 * with a message; under ASan this proves no out-of-bounds read. */
#include "lpo_safetensors.h"
#include "check.h"
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[] = "/tmp/lpo_sth_XXXXXX";

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

static const char *at(const char *name) {
  static char p[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", tmp, name);
  return p[k];
}

static void write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (n) fwrite(b, 1, n, f);
  fclose(f);
}

/* A file whose 8-byte length says hlen (default: the header's size), the header text and
 * ndata zero bytes of data. */
static void write_st(const char *path, const char *header, uint64_t hlen, size_t ndata) {
  size_t h = strlen(header);
  if (hlen == 0) hlen = h;
  uint8_t *b = calloc(1, 8 + h + ndata);
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
  memcpy(b + 8, header, h);
  write_bytes(path, b, 8 + h + ndata);
  free(b);
}

/* open must fail, and the message must name the path and contain each of want[]. */
#define EXPECT_FAIL(path, ...) expect_fail(__LINE__, path, (const char *[]){ __VA_ARGS__, NULL })
static void expect_fail(int line, const char *path, const char **want) {
  lpo_clear_error();
  lpo_st *st = lpo_st_open(path);
  CHECK_MSG(st == NULL, "line %d: %s opened but should have been rejected", line, path);
  lpo_st_close(st);
  const char *e = lpo_last_error();
  if (getenv("LPO_TEST_VERBOSE")) printf("  rejected: %s\n", e);
  CHECK_MSG(strstr(e, path) != NULL, "line %d: error does not name the file: %s", line, e);
  for (int i = 0; want[i]; i++) CHECK_MSG(strstr(e, want[i]) != NULL, "line %d: error lacks '%s': %s", line, want[i], e);
}

static void hostile_files(void) {
  const char *p = at("bad.safetensors");
  /* A valid two-tensor file, then truncated by 4 bytes: the last tensor runs off the end. */
  float w[32] = { 0 };
  lpo_st_tensor t[2] = { { "layers.0.w", LPO_F32, 2, { 4, 4 }, w }, { "layers.1.w", LPO_F32, 2, { 4, 4 }, w + 16 } };
  CHECK(lpo_st_write(p, t, 2, NULL) == 0);
  struct stat sb;
  stat(p, &sb);
  CHECK(truncate(p, sb.st_size - 4) == 0);
  EXPECT_FAIL(p, "'layers.1.w'", "run past the data section");
  write_bytes(p, "\x10\0\0\0\0", 5);
  EXPECT_FAIL(p, "truncated");
  /* Header length fields that lie. */
  write_st(p, "{}", (uint64_t)1 << 40, 0);
  EXPECT_FAIL(p, "header length", "100 MB");
  write_st(p, "{}", 1000, 10);
  EXPECT_FAIL(p, "header length 1000 runs past the end");
  /* Offsets that disagree with dtype and shape, or leave the data section. */
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "hold 12 bytes", "needs 16");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 0, 8);
  EXPECT_FAIL(p, "'w'", "run past the data section");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 0, 8);
  EXPECT_FAIL(p, "'w'", "end before begin");
  write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 0, 24);
  EXPECT_FAIL(p, "'b'", "overlap", "'a'");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "data_offsets");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "data_offsets");
  /* dtypes: one lpo does not read, and one that does not exist. */
  write_st(p, "{\"embed\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 0, 16);
  EXPECT_FAIL(p, "'embed'", "unsupported dtype 'F64'");
  write_st(p, "{\"embed\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 0, 16);
  EXPECT_FAIL(p, "'embed'", "unknown dtype 'Q4'");
  write_st(p, "{\"embed\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 16);
  EXPECT_FAIL(p, "'embed'", "dtype");
  /* Shapes: negative, fractional, overflowing, too many dims, not an array. */
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "shape[0]");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "shape[0]");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "overflow");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "9 dimensions");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "shape");
  /* JSON: invalid, trailing garbage, not an object, entry not an object, duplicates. */
  write_st(p, "{\"w\":{\"dtype\":\"F32\",   ", 0, 16);
  EXPECT_FAIL(p, "not valid JSON");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}xyz", 0, 16);
  EXPECT_FAIL(p, "trailing bytes");
  write_st(p, "[1,2]   ", 0, 16);
  EXPECT_FAIL(p, "not a JSON object");
  write_st(p, "{\"w\":5}", 0, 16);
  EXPECT_FAIL(p, "'w'", "not a JSON object");
  write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 16);
  EXPECT_FAIL(p, "'w'", "twice");
  write_st(p, "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 16);
  EXPECT_FAIL(p, "empty name");
  write_st(p, "{\"__metadata__\":{\"format\":1}}", 0, 0);
  EXPECT_FAIL(p, "__metadata__", "'format'");
  /* Not a file at all. */
  EXPECT_FAIL(at("missing.safetensors"), "cannot open");
  EXPECT_FAIL(tmp, "no model.safetensors");
}

/* A model checkpoint that lacks a tensor, or has one with the wrong shape for the config. */
static void model_mismatch(void) {
  const char *p = at("model.safetensors");
  float w[24] = { 0 };
  lpo_st_tensor t[1] = { { "model.layers.0.mlp.up_proj.weight", LPO_F32, 2, { 6, 4 }, w } };
  CHECK(lpo_st_write(p, t, 1, NULL) == 0);
  lpo_st *st = lpo_st_open(p);
  CHECK(st != NULL);
  float dst[24];
  int64_t cfg_shape[2] = { 8, 4 };  /* intermediate_size 8 in the config */
  CHECK(lpo_st_read_f32(st, "model.layers.0.mlp.up_proj.weight", dst, 2, cfg_shape) == -1);
  CHECK_MSG(strstr(lpo_last_error(), "'model.layers.0.mlp.up_proj.weight'") && strstr(lpo_last_error(), "[6, 4]") &&
            strstr(lpo_last_error(), "[8, 4]") && strstr(lpo_last_error(), p), "%s", lpo_last_error());
  CHECK(lpo_st_read_f32(st, "model.norm.weight", dst, 1, cfg_shape) == -1);
  CHECK_MSG(strstr(lpo_last_error(), "'model.norm.weight'") && strstr(lpo_last_error(), "missing"), "%s", lpo_last_error());
  lpo_st_close(st);
  remove(p);
}

static void write_index(const char *dir, const char *body) {
  char p[600];
  snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
  write_bytes(p, body, strlen(body));
}

static void hostile_index(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/sharded", tmp);
  mkdir(dir, 0755);
  char s1[600], s2[600], ip[600];
  snprintf(s1, sizeof s1, "%s/model-00001-of-00002.safetensors", dir);
  snprintf(s2, sizeof s2, "%s/model-00002-of-00002.safetensors", dir);
  snprintf(ip, sizeof ip, "%s/model.safetensors.index.json", dir);
  float w[8] = { 0 };
  lpo_st_tensor a = { "a.weight", LPO_F32, 1, { 4 }, w }, b = { "b.weight", LPO_F32, 1, { 4 }, w + 4 };
  CHECK(lpo_st_write(s1, &a, 1, NULL) == 0);
  /* Shard 2 missing. */
  write_index(dir, "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
                   "\"b.weight\":\"model-00002-of-00002.safetensors\"}}");
  EXPECT_FAIL(ip, "model-00002-of-00002.safetensors", "'b.weight'", "missing");
  lpo_clear_error();
  CHECK(lpo_st_open(dir) == NULL && strstr(lpo_last_error(), "'b.weight'"));
  CHECK(lpo_st_write(s2, &b, 1, NULL) == 0);
  lpo_st *st = lpo_st_open(dir);
  CHECK_MSG(st != NULL && lpo_st_count(st) == 2, "%s", lpo_last_error());
  lpo_st_close(st);
  /* Tensor mapped to the wrong shard; listed tensor absent from its shard. */
  write_index(dir, "{\"weight_map\":{\"a.weight\":\"model-00002-of-00002.safetensors\","
                   "\"b.weight\":\"model-00001-of-00002.safetensors\"}}");
  EXPECT_FAIL(ip, "'a.weight'", "mapped to shard model-00002-of-00002.safetensors", "found in model-00001");
  write_index(dir, "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
                   "\"c.weight\":\"model-00002-of-00002.safetensors\"}}");
  EXPECT_FAIL(ip, "'c.weight'", "missing from shard");
  /* Escaping the checkpoint directory; non-string shard; no weight_map; bad JSON. */
  write_index(dir, "{\"weight_map\":{\"a.weight\":\"../../etc/passwd\"}}");
  EXPECT_FAIL(ip, "'a.weight'", "not a plain file name");
  write_index(dir, "{\"weight_map\":{\"a.weight\":7}}");
  EXPECT_FAIL(ip, "'a.weight'", "not a string");
  write_index(dir, "{\"metadata\":{}}");
  EXPECT_FAIL(ip, "weight_map");
  write_index(dir, "{\"weight_map\":{\"a.weight\":");
  EXPECT_FAIL(ip, "not valid JSON");
  /* The same tensor in two shards. */
  CHECK(lpo_st_write(s2, &a, 1, NULL) == 0);
  write_index(dir, "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\"}}");
  lpo_st *dup = lpo_st_open(ip);
  /* Only shard 1 is listed, so shard 2 is never opened: this is fine. */
  CHECK(dup != NULL);
  lpo_st_close(dup);
  write_index(dir, "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
                   "\"x\":\"model-00002-of-00002.safetensors\"}}");
  lpo_clear_error();
  CHECK(lpo_st_open(ip) == NULL);
  CHECK_MSG(strstr(lpo_last_error(), "'a.weight' also appears in") && strstr(lpo_last_error(), s1) && strstr(lpo_last_error(), s2),
            "%s", lpo_last_error());
  /* A hostile shard is reported with the shard's own path and the tensor. */
  write_st(s2, "{\"b.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,999]}}", 0, 16);
  write_index(dir, "{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\","
                   "\"b.weight\":\"model-00002-of-00002.safetensors\"}}");
  lpo_clear_error();
  CHECK(lpo_st_open(ip) == NULL);
  CHECK_MSG(strstr(lpo_last_error(), s2) && strstr(lpo_last_error(), "'b.weight'"), "%s", lpo_last_error());
}

/* Seeded mutation fuzz over a valid multi-dtype file. */
static void fuzz(void) {
  const char *good = at("good.safetensors"), *p = at("fuzz.safetensors");
  float f[12];
  uint16_t h[6];
  int64_t l[3] = { 1, 2, 3 };
  for (int i = 0; i < 12; i++) f[i] = (float)i;
  for (int i = 0; i < 6; i++) h[i] = lpo_f32_to_bf16((float)i);
  lpo_st_tensor t[4] = { { "x.f32", LPO_F32, 2, { 3, 4 }, f }, { "y.bf16", LPO_BF16, 1, { 6 }, h },
                         { "z.i64", LPO_I64, 1, { 3 }, l }, { "s", LPO_F16, 0, { 0 }, h } };
  CHECK(lpo_st_write(good, t, 4, "{\"k\":\"v\"}") == 0);
  FILE *fp = fopen(good, "rb");
  uint8_t base[1024];
  size_t n = fread(base, 1, sizeof base, fp);
  fclose(fp);
  lpo_philox rng;
  lpo_philox_init(&rng, lpo_philox_key(42, 7, 0, 0, 0), 0);
  int opened = 0, rejected = 0, silent = 0;
  static const char junk[] = "{}[]\",:-0123456789eE.ntfl \\";
  for (int it = 0; it < 3000; it++) {
    uint8_t buf[1024];
    memcpy(buf, base, n);
    size_t len = n;
    int kind = (int)(lpo_philox_u32(&rng) % 4);
    if (kind == 0) len = lpo_philox_u32(&rng) % n;                                   /* truncate */
    int flips = 1 + (int)(lpo_philox_u32(&rng) % 4);
    for (int k = 0; k < flips && kind != 0; k++) {
      size_t pos = kind == 1 ? lpo_philox_u32(&rng) % 8 : 8 + lpo_philox_u32(&rng) % (n - 8);
      if (kind == 3) buf[pos] = (uint8_t)junk[lpo_philox_u32(&rng) % (sizeof junk - 1)];  /* JSON-ish */
      else buf[pos] ^= (uint8_t)(1u << (lpo_philox_u32(&rng) % 8));
    }
    write_bytes(p, buf, len);
    lpo_clear_error();
    lpo_st *st = lpo_st_open(p);
    if (!st) {
      rejected++;
      if (strcmp(lpo_last_error(), "unknown error") == 0) silent++;
      continue;
    }
    opened++;
    /* Whatever opened must be readable in bounds. */
    for (int i = 0; i < lpo_st_count(st); i++) {
      int64_t shape[8], nb = lpo_st_nbytes(st, i);
      int nd = lpo_st_shape(st, i, shape);
      void *dst = malloc((size_t)(nb > 0 ? nb : 1) * 2);
      int dt = lpo_st_dtype(st, i);
      if (dt == LPO_F32 || dt == LPO_BF16 || dt == LPO_F16) CHECK(lpo_st_read_f32(st, lpo_st_name(st, i), dst, nd, shape) == 0);
      else CHECK(lpo_st_read_raw(st, lpo_st_name(st, i), dst, dt, nd, shape) == 0);
      free(dst);
    }
    lpo_st_close(st);
  }
  CHECK_MSG(silent == 0, "%d rejections without a message", silent);
  CHECK(opened > 0 && rejected > 0);
  printf("fuzz: %d mutated files opened, %d rejected\n", opened, rejected);
}

int main(void) {
  CHECK(mkdtemp(tmp) != NULL);
  int64_t live0 = lpo_mem_live_bytes(0);
  hostile_files();
  model_mismatch();
  hostile_index();
  fuzz();
  CHECK_MSG(lpo_mem_live_bytes(0) == live0, "mapped bytes leaked: %lld", (long long)(lpo_mem_live_bytes(0) - live0));
  nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return check_done("test_safetensors_hostile");
}
