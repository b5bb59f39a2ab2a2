/* checkpoint.c — Hugging Face model directories in and out.
 *
 * Load: config.json -> config; the safetensors reader (safetensors.c, which validates
 * every byte-level header first) -> each tensor our config implies, checked by name and
 * shape, converted to f32 into its range of the parameter buffer, and scanned for NaN/Inf.
 * A checkpoint tensor we would not use is an error too (say a bias the config does not
 * declare, or layer 12 of an 8-layer config): silently dropping weights gives a model that
 * runs and is wrong. Tolerated extras: lm_head.weight of a tied model (transformers ties
 * it over) and the rotary inv_freq buffers old checkpoints carry.
 *
 * Save: the tensor table maps the stacked buffers back onto HF names; written as f32,
 * bf16 or f16 (rounded to nearest even), one file or shards + index, and config.json
 * rendered from our config over the fields of the original file. */
#include "model/model.h"
#include "lpo_safetensors.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { lpo_set_error("%s: cannot open: %s", path, strerror(errno)); return NULL; }
  char *buf = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n < 0 || n > (64L << 20) || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    lpo_set_error("%s: cannot read (or larger than 64 MiB)", path);
    return NULL;
  }
  buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    fclose(f);
    lpo_set_error("%s: read failed", path);
    return NULL;
  }
  buf[n] = 0;
  fclose(f);
  return buf;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

static void shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
  int n = snprintf(buf, size, "[");
  for (int i = 0; i < ndim && n < (int)size; i++) n += snprintf(buf + n, size - (size_t)n, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (n < (int)size) snprintf(buf + n, size - (size_t)n, "]");
}

/* Every checkpoint tensor must be one we use (or a harmless known extra). */
static int check_extras(const lpo_model *m, const lpo_st *st, const char *dir) {
  for (int i = 0; i < lpo_st_count(st); i++) {
    const char *name = lpo_st_name(st, i);
    if (lpo_model_find_tensor(m, name) >= 0) continue;
    if (ends_with(name, "rotary_emb.inv_freq")) continue;
    if (m->cfg.tie_word_embeddings && !strcmp(name, "lm_head.weight")) continue;
    return lpo_set_error("%s: tensor '%s' is not part of the model config.json describes "
                         "(%d layers, qkv bias %s, o bias %s, tied %s)", dir, name, m->cfg.num_layers,
                         m->cfg.qkv_bias ? "yes" : "no", m->cfg.o_bias ? "yes" : "no",
                         m->cfg.tie_word_embeddings ? "yes" : "no");
  }
  return 0;
}

static int load_tensors(lpo_model *m, const lpo_st *st, const char *dir) {
  for (int i = 0; i < m->ntensors; i++) {
    const lpo_model_tensor *t = &m->tensors[i];
    int k = lpo_st_find(st, t->name);
    if (k < 0) return lpo_set_error("%s: tensor '%s' is missing", dir, t->name);
    int64_t shape[8];
    int ndim = lpo_st_shape(st, k, shape);
    int same = ndim == t->ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == t->shape[d];
    if (!same) {
      char got[160], want[64];
      shape_str(got, sizeof got, ndim, shape);
      shape_str(want, sizeof want, t->ndim, t->shape);
      return lpo_set_error("%s: tensor '%s' has shape %s but config.json implies %s", dir, t->name, got, want);
    }
    int dt = lpo_st_dtype(st, k);
    if (dt != LPO_F32 && dt != LPO_BF16 && dt != LPO_F16)
      return lpo_set_error("%s: tensor '%s' has dtype %s (model weights must be f32, bf16 or f16)", dir, t->name, lpo_dtype_name(dt));
    float *dst = m->params_mem + t->offset;
    if (lpo_st_read_f32(st, t->name, dst, t->ndim, t->shape)) return -1;
    for (int64_t j = 0; j < t->numel; j++)
      if (!isfinite(dst[j])) return lpo_set_error("%s: tensor '%s' holds a non-finite value at element %lld", dir, t->name, (long long)j);
  }
  return 0;
}

lpo_model *lpo_model_load(const char *dir) {
  char *cfg_path = join(dir, "config.json");
  char *text = cfg_path ? read_text(cfg_path) : NULL;
  lpo_model_config cfg;
  lpo_model *m = NULL;
  lpo_st *st = NULL;
  if (!text || lpo_model_config_parse(&cfg, text, cfg_path)) goto fail;
  st = lpo_st_open(dir);
  if (!st) goto fail;
  m = lpo_model_build(&cfg, text);
  if (!m || check_extras(m, st, dir) || load_tensors(m, st, dir)) goto fail;
  lpo_st_close(st);
  free(text);
  free(cfg_path);
  return m;
fail:
  lpo_model_free(m);
  lpo_st_close(st);
  free(text);
  free(cfg_path);
  return NULL;
}

/* Atomic text file write: temp file, fsync, rename. */
static int write_text_atomic(const char *path, const char *text) {
  size_t n = strlen(path) + 16;
  char *tmp = malloc(n);
  if (!tmp) return lpo_set_error("%s: out of memory", path);
  snprintf(tmp, n, "%s.tmp%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  int rc = 0;
  if (!f) rc = lpo_set_error("%s: cannot create: %s", tmp, strerror(errno));
  else {
    size_t len = strlen(text);
    if (fwrite(text, 1, len, f) != len || fputc('\n', f) == EOF || fflush(f) || fsync(fileno(f)))
      rc = lpo_set_error("%s: write failed: %s", tmp, strerror(errno));
    if (fclose(f) && rc == 0) rc = lpo_set_error("%s: close failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path)) rc = lpo_set_error("%s: rename failed: %s", path, strerror(errno));
    if (rc) unlink(tmp);
  }
  free(tmp);
  return rc;
}

int lpo_model_save(lpo_model *m, const char *dir, int dtype, int64_t max_shard_bytes) {
  if (dtype < 0) dtype = m->cfg.torch_dtype;
  if (dtype != LPO_F32 && dtype != LPO_BF16 && dtype != LPO_F16)
    return lpo_set_error("save %s: dtype %s not supported (f32, bf16, f16)", dir, lpo_dtype_name(dtype));
  int n = m->ntensors, rc = -1;
  lpo_st_tensor *t = calloc((size_t)n, sizeof *t);
  uint16_t *half = NULL;
  size_t half_bytes = dtype == LPO_F32 ? 0 : (size_t)m->nparams * sizeof(uint16_t);
  char *text = NULL, *cfg_path = NULL;
  if (!t) { lpo_set_error("save %s: out of memory", dir); goto done; }
  if (half_bytes) {
    half = lpo_alloc(half_bytes, 0);
    if (!half) goto done;
    for (int64_t j = 0; j < m->nparams; j++)
      half[j] = dtype == LPO_BF16 ? lpo_f32_to_bf16(m->params_mem[j]) : lpo_f32_to_f16(m->params_mem[j]);
  }
  for (int i = 0; i < n; i++) {
    const lpo_model_tensor *mt = &m->tensors[i];
    t[i].name = mt->name;
    t[i].dtype = dtype;
    t[i].ndim = mt->ndim;
    t[i].shape[0] = mt->shape[0];
    t[i].shape[1] = mt->shape[1];
    t[i].data = half ? (const void *)(half + mt->offset) : (const void *)(m->params_mem + mt->offset);
  }
  if (lpo_st_write_sharded(dir, t, n, max_shard_bytes, NULL)) goto done;
  text = lpo_model_config_render(&m->cfg, m->config_json, dtype);
  cfg_path = join(dir, "config.json");
  if (!text || !cfg_path) { lpo_set_error("save %s: out of memory", dir); goto done; }
  rc = write_text_atomic(cfg_path, text);
done:
  free(t);
  lpo_free(half, half_bytes, 0);
  free(text);
  free(cfg_path);
  return rc;
}
