/* safetensors_write.c — writing safetensors files and sharded HF checkpoints.
 *
 * Layout as the reference implementation writes it: 8-byte little-endian header length,
 * compact JSON header ("__metadata__" first), padded with spaces to a multiple of 8, then
 * the data. Tensors are ordered by element size (largest first), then by name: every
 * tensor then starts at a multiple of its element size, so mapped data stays aligned
 * (the reference orders by dtype for the same reason). Every write goes to a temp file
 * in the same directory, is fsync'ed and renamed over the target, so a crash leaves
 * either the old file or the new one, never a torn one.
 *
 * Sharding follows huggingface_hub's split_state_dict_into_shards_factory, walking the
 * tensors in name order: a tensor larger than the limit gets a shard of its own, and a
 * shard is closed when the next tensor would push it past the limit. One shard is named
 * model.safetensors; n shards are model-0000k-of-0000n.safetensors plus
 * model.safetensors.index.json, written like transformers' save_pretrained
 * (json.dumps(indent=2, sort_keys=True) + "\n"). */
#include "lpo_safetensors.h"
#include "safetensors_internal.h"
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a growable string ---- */
typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->n + n + 1) c *= 2;
    char *q = realloc(b->p, c);
    if (!q) { b->oom = 1; return; }
    b->p = q;
    b->cap = c;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  sb_add(b, tmp, (size_t)(k < (int)sizeof tmp ? k : (int)sizeof tmp - 1));
}
/* A JSON string literal; bytes >= 0x80 pass through (names are UTF-8). */
static void sb_json(sbuf *b, const char *s) {
  sb_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; sb_add(b, e, 2); }
    else if (c < 0x20) sb_fmt(b, "\\u%04x", c);
    else sb_add(b, (const char *)&c, 1);
  }
  sb_add(b, "\"", 1);
}

/* ---- validation ---- */

static int check_tensors(const char *path, const lpo_st_tensor *t, int n, int64_t *nbytes) {
  if (n < 0 || (n > 0 && !t)) return lpo_set_error("%s: invalid tensor list (n = %d)", path, n);
  for (int i = 0; i < n; i++) {
    const char *name = t[i].name;
    if (!name || !name[0]) return lpo_set_error("%s: tensor #%d has no name", path, i);
    if (strcmp(name, "__metadata__") == 0) return lpo_set_error("%s: '__metadata__' is not a valid tensor name", path);
    if (lpo_dtype_size(t[i].dtype) == 0) return lpo_set_error("%s: tensor '%s': unknown dtype %d", path, name, t[i].dtype);
    if (t[i].ndim < 0 || t[i].ndim > 8) return lpo_set_error("%s: tensor '%s': %d dimensions (0..8 allowed)", path, name, t[i].ndim);
    int64_t ne;
    if (lpo_st_numel_bytes(t[i].dtype, t[i].ndim, t[i].shape, &ne, &nbytes[i]) != 0)
      return lpo_set_error("%s: tensor '%s': negative or overflowing shape", path, name);
    if (nbytes[i] > 0 && !t[i].data) return lpo_set_error("%s: tensor '%s': no data", path, name);
  }
  return 0;
}

static int cmp_layout(const void *a, const void *b, void *base) {
  const lpo_st_tensor *t = base, *x = &t[*(const int *)a], *y = &t[*(const int *)b];
  int sx = lpo_dtype_size(x->dtype), sy = lpo_dtype_size(y->dtype);
  if (sx != sy) return sx > sy ? -1 : 1;
  return strcmp(x->name, y->name);
}
static int cmp_idx_name(const void *a, const void *b, void *base) {
  const lpo_st_tensor *t = base;
  return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

/* Sorts idx[0..n) by name and rejects duplicate names. */
static int sort_names(const char *path, const lpo_st_tensor *t, int *idx, int n) {
  qsort_r(idx, (size_t)n, sizeof *idx, cmp_idx_name, (void *)t);
  for (int i = 1; i < n; i++)
    if (strcmp(t[idx[i]].name, t[idx[i - 1]].name) == 0) return lpo_set_error("%s: tensor '%s' given twice", path, t[idx[i]].name);
  return 0;
}

/* The __metadata__ object as compact JSON with sorted keys, "format":"pt" added when
 * absent (transformers refuses a file whose format is missing or unknown). */
static int metadata_text(const char *path, const char *metadata_json, sbuf *out) {
  cJSON *m = metadata_json ? cJSON_Parse(metadata_json) : cJSON_CreateObject();
  if (!m) return lpo_set_error("%s: metadata is not valid JSON: %.80s", path, metadata_json);
  if (!cJSON_IsObject(m)) { cJSON_Delete(m); return lpo_set_error("%s: metadata must be a JSON object of strings", path); }
  int n = 0;
  for (cJSON *x = m->child; x; x = x->next, n++) {
    if (!cJSON_IsString(x)) {
      int rc = lpo_set_error("%s: metadata key '%s' is not a string (safetensors metadata is string -> string)", path, x->string);
      cJSON_Delete(m);
      return rc;
    }
  }
  if (!cJSON_GetObjectItemCaseSensitive(m, "format")) { cJSON_AddStringToObject(m, "format", "pt"); n++; }
  const cJSON **kv = malloc((size_t)n * sizeof *kv);
  if (!kv) { cJSON_Delete(m); return lpo_set_error("%s: out of memory", path); }
  int k = 0;
  for (cJSON *x = m->child; x; x = x->next) kv[k++] = x;
  for (int i = 1; i < n; i++)  /* insertion sort: metadata is a handful of keys */
    for (int j = i; j > 0 && strcmp(kv[j - 1]->string, kv[j]->string) > 0; j--) { const cJSON *s = kv[j]; kv[j] = kv[j - 1]; kv[j - 1] = s; }
  sb_str(out, "{");
  for (int i = 0; i < n; i++) {
    if (i) sb_str(out, ",");
    sb_json(out, kv[i]->string);
    sb_str(out, ":");
    sb_json(out, kv[i]->valuestring);
  }
  sb_str(out, "}");
  free(kv);
  cJSON_Delete(m);
  return 0;
}

/* ---- atomic file writing ---- */

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    size_t chunk = n > (1u << 30) ? (1u << 30) : n;
    ssize_t w = write(fd, b, chunk);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static void fsync_dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) { fsync(fd); close(fd); }
}

typedef struct piece { const void *p; size_t n; } piece;

/* Writes the pieces to path via temp + fsync + rename. */
static int write_atomic(const char *path, const piece *pc, int npc) {
  size_t len = strlen(path);
  char *tmp = malloc(len + 16);
  if (!tmp) return lpo_set_error("%s: out of memory", path);
  snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) { int rc = lpo_set_error("%s: cannot create a temp file: %s", path, strerror(errno)); free(tmp); return rc; }
  int rc = 0;
  for (int i = 0; i < npc && rc == 0; i++)
    if (pc[i].n && write_all(fd, pc[i].p, pc[i].n) != 0) rc = lpo_set_error("%s: write failed: %s", path, strerror(errno));
  if (rc == 0 && fchmod(fd, 0644) != 0) rc = lpo_set_error("%s: chmod failed: %s", path, strerror(errno));
  if (rc == 0 && fsync(fd) != 0) rc = lpo_set_error("%s: fsync failed: %s", path, strerror(errno));
  if (close(fd) != 0 && rc == 0) rc = lpo_set_error("%s: close failed: %s", path, strerror(errno));
  if (rc == 0 && rename(tmp, path) != 0) rc = lpo_set_error("%s: rename failed: %s", path, strerror(errno));
  if (rc != 0) unlink(tmp);
  else fsync_dir_of(path);
  free(tmp);
  return rc;
}

/* Writes tensors t[idx[0..n)] (already validated, nbytes known) as one file. */
static int write_file(const char *path, const lpo_st_tensor *t, const int64_t *nbytes, int *idx, int n, const char *meta_text) {
  qsort_r(idx, (size_t)n, sizeof *idx, cmp_layout, (void *)t);
  sbuf h = { 0 };
  sb_str(&h, "{\"__metadata__\":");
  sb_str(&h, meta_text);
  uint64_t off = 0;
  for (int k = 0; k < n; k++) {
    const lpo_st_tensor *x = &t[idx[k]];
    sb_str(&h, ",");
    sb_json(&h, x->name);
    sb_fmt(&h, ":{\"dtype\":\"%s\",\"shape\":[", lpo_st_dtype_str(x->dtype));
    for (int d = 0; d < x->ndim; d++) sb_fmt(&h, d ? ",%" PRId64 : "%" PRId64, x->shape[d]);
    sb_fmt(&h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + (uint64_t)nbytes[idx[k]]);
    off += (uint64_t)nbytes[idx[k]];
  }
  sb_str(&h, "}");
  while (!h.oom && h.n % 8) sb_str(&h, " ");
  if (h.oom) { free(h.p); return lpo_set_error("%s: out of memory building the header", path); }
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
  piece *pc = malloc((size_t)(n + 2) * sizeof *pc);
  if (!pc) { free(h.p); return lpo_set_error("%s: out of memory", path); }
  pc[0] = (piece){ len8, 8 };
  pc[1] = (piece){ h.p, h.n };
  for (int k = 0; k < n; k++) pc[k + 2] = (piece){ t[idx[k]].data, (size_t)nbytes[idx[k]] };
  int rc = write_atomic(path, pc, n + 2);
  free(pc);
  free(h.p);
  return rc;
}

int lpo_st_write(const char *path, const lpo_st_tensor *t, int n, const char *metadata_json) {
  if (!path || !path[0]) return lpo_set_error("lpo_st_write: empty path");
  int64_t *nbytes = malloc((size_t)(n > 0 ? n : 1) * sizeof *nbytes);
  int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
  sbuf meta = { 0 };
  int rc = (!nbytes || !idx) ? lpo_set_error("%s: out of memory", path) : check_tensors(path, t, n, nbytes);
  for (int i = 0; rc == 0 && i < n; i++) idx[i] = i;
  if (rc == 0) rc = sort_names(path, t, idx, n);
  if (rc == 0) rc = metadata_text(path, metadata_json, &meta);
  if (rc == 0 && meta.oom) rc = lpo_set_error("%s: out of memory", path);
  if (rc == 0) rc = write_file(path, t, nbytes, idx, n, meta.p);
  free(meta.p);
  free(idx);
  free(nbytes);
  return rc;
}

/* ---- sharded checkpoints ---- */

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (p) { memcpy(p, dir, a); p[a] = '/'; memcpy(p + a + 1, name, b + 1); }
  return p;
}

/* Is `name` a weights file of ours that the new checkpoint does not use? Old shards of a
 * different count, or model.safetensors / the index when switching between layouts. */
static int stale(const char *name, int nshards) {
  /* model-KKKKK-of-NNNNN.safetensors: 32 characters */
  if (strlen(name) == 32 && strncmp(name, "model-", 6) == 0 && strncmp(name + 11, "-of-", 4) == 0 &&
      strcmp(name + 20, ".safetensors") == 0) {
    for (int i = 0; i < 5; i++)
      if (name[6 + i] < '0' || name[6 + i] > '9' || name[15 + i] < '0' || name[15 + i] > '9') return 0;
    int m = atoi(name + 15);
    return nshards <= 1 || m != nshards;
  }
  if (strcmp(name, "model.safetensors") == 0) return nshards > 1;
  if (strcmp(name, "model.safetensors.index.json") == 0) return nshards <= 1;
  return 0;
}

static void remove_stale(const char *dir, int nshards) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!stale(e->d_name, nshards)) continue;
    char *p = join(dir, e->d_name);
    if (p) unlink(p);
    free(p);
  }
  closedir(d);
}

int lpo_st_write_sharded(const char *dir, const lpo_st_tensor *t, int n, int64_t max_shard_bytes, const char *metadata_json) {
  if (!dir || !dir[0]) return lpo_set_error("lpo_st_write_sharded: empty directory");
  struct stat sb;
  if (stat(dir, &sb) != 0) {
    if (mkdir(dir, 0755) != 0) return lpo_set_error("%s: cannot create directory: %s", dir, strerror(errno));
  } else if (!S_ISDIR(sb.st_mode)) return lpo_set_error("%s: exists and is not a directory", dir);
  int64_t *nbytes = malloc((size_t)(n > 0 ? n : 1) * sizeof *nbytes);
  int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
  int *shard = malloc((size_t)(n > 0 ? n : 1) * sizeof *shard);   /* shard of idx[k] */
  int *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
  sbuf meta = { 0 }, index = { 0 };
  char *path = NULL;
  int rc = (!nbytes || !idx || !shard || !tmp) ? lpo_set_error("%s: out of memory", dir) : check_tensors(dir, t, n, nbytes);
  for (int i = 0; rc == 0 && i < n; i++) idx[i] = i;
  if (rc == 0) rc = sort_names(dir, t, idx, n);
  if (rc == 0) rc = metadata_text(dir, metadata_json, &meta);
  if (rc == 0 && meta.oom) rc = lpo_set_error("%s: out of memory", dir);
  if (rc != 0) goto done;
  /* Assign shards in name order (huggingface_hub's greedy split). */
  int nshards = 0;
  int64_t cur = 0, total = 0, params = 0;
  int open_shard = -1;
  for (int k = 0; k < n; k++) {
    int64_t sz = nbytes[idx[k]], ne = lpo_dtype_size(t[idx[k]].dtype) ? sz / lpo_dtype_size(t[idx[k]].dtype) : 0;
    total += sz;
    params += ne;
    if (max_shard_bytes <= 0) { shard[k] = 0; nshards = 1; continue; }
    if (sz > max_shard_bytes) { shard[k] = nshards++; continue; }     /* alone; the open shard stays open */
    if (open_shard < 0 || cur + sz > max_shard_bytes) { open_shard = nshards++; cur = 0; }
    shard[k] = open_shard;
    cur += sz;
  }
  if (nshards > 99999) { rc = lpo_set_error("%s: %d shards (at most 99999)", dir, nshards); goto done; }
  if (nshards <= 1) {
    path = join(dir, "model.safetensors");
    if (!path) { rc = lpo_set_error("%s: out of memory", dir); goto done; }
    rc = write_file(path, t, nbytes, idx, n, meta.p);
    if (rc == 0) remove_stale(dir, 1);
    goto done;
  }
  /* Shards, then the index: a reader sees the new index only once all shards exist. */
  char fname[64];
  for (int s = 0; s < nshards && rc == 0; s++) {
    int m = 0;
    for (int k = 0; k < n; k++) if (shard[k] == s) tmp[m++] = idx[k];
    snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, nshards);
    free(path);
    path = join(dir, fname);
    if (!path) { rc = lpo_set_error("%s: out of memory", dir); break; }
    rc = write_file(path, t, nbytes, tmp, m, meta.p);
  }
  if (rc != 0) goto done;
  sb_fmt(&index, "{\n  \"metadata\": {\n    \"total_parameters\": %" PRId64 ",\n    \"total_size\": %" PRId64 "\n  },\n  \"weight_map\": {",
         params, total);
  for (int k = 0; k < n; k++) {  /* idx is in name order = json.dumps(sort_keys=True) for ASCII names */
    snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", shard[k] + 1, nshards);
    sb_str(&index, k ? ",\n    " : "\n    ");
    sb_json(&index, t[idx[k]].name);
    sb_str(&index, ": ");
    sb_json(&index, fname);
  }
  sb_str(&index, "\n  }\n}\n");
  if (index.oom) { rc = lpo_set_error("%s: out of memory", dir); goto done; }
  free(path);
  path = join(dir, "model.safetensors.index.json");
  if (!path) { rc = lpo_set_error("%s: out of memory", dir); goto done; }
  piece pc = { index.p, index.n };
  rc = write_atomic(path, &pc, 1);
  if (rc == 0) remove_stale(dir, nshards);
done:
  free(path);
  free(meta.p);
  free(index.p);
  free(tmp);
  free(shard);
  free(idx);
  free(nbytes);
  return rc;
}
