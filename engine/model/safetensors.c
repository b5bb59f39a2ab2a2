/* safetensors.c — opening and validating safetensors checkpoints (one file, or the
 * shards of a model.safetensors.index.json), memory-mapped read-only.
 *
 * Nothing in a header is trusted until all of it has been checked: a hostile file must
 * give an error naming the file and the tensor, never a read out of bounds. The checks
 * follow the reference implementation (huggingface/safetensors, Metadata::validate):
 * header length within the file and <= 100 MB, a JSON object, known dtypes, shapes
 * whose byte size does not overflow, offsets with end - begin == numel * size inside
 * the data section, and no two tensors sharing bytes. We are more lenient than the
 * reference in one way only: gaps between tensors are allowed (they are harmless). */
#include "lpo_safetensors.h"
#include "safetensors_internal.h"
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

#define ST_MAX_HEADER (100u * 1000u * 1000u)  /* the reference's limit */
#define ST_MAX_INDEX  (64 * 1024 * 1024)

typedef struct st_file {
  char *path;
  uint8_t *map;         /* the whole file, PROT_READ */
  size_t size;
  const uint8_t *data;  /* start of the data section */
  uint64_t data_len;
} st_file;

typedef struct st_entry {
  char *name;
  int dtype, ndim;
  int64_t shape[8];
  uint64_t begin, end;  /* relative to the file's data section */
  int file;
} st_entry;

struct lpo_st {
  st_file *files;
  int nfiles;
  st_entry *t;          /* sorted by name */
  int n;
  cJSON *meta;          /* __metadata__ of the first file, or NULL */
};

/* ---- dtypes ---- */

int lpo_st_dtype_parse(const char *s) {
  static const char *ours[LPO_NDTYPES] = { "F32", "BF16", "F16", "I32", "I64" };
  for (int i = 0; i < LPO_NDTYPES; i++) if (strcmp(s, ours[i]) == 0) return i;
  return -1;
}

const char *lpo_st_dtype_str(int dtype) {
  static const char *ours[LPO_NDTYPES] = { "F32", "BF16", "F16", "I32", "I64" };
  return dtype >= 0 && dtype < LPO_NDTYPES ? ours[dtype] : "?";
}

/* Dtypes the format defines that lpo does not read: named as unsupported, not unknown. */
static int dtype_known_unsupported(const char *s) {
  static const char *other[] = { "F64", "BOOL", "U8", "I8", "I16", "U16", "U32", "U64", "F8_E4M3",
                                 "F8_E5M2", "F8_E8M0", "E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64" };
  for (size_t i = 0; i < sizeof other / sizeof *other; i++) if (strcmp(s, other[i]) == 0) return 1;
  return 0;
}

/* An exact non-negative integer from JSON (cJSON stores doubles: exact up to 2^53). */
static int json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (!isfinite(d) || d < 0 || d != floor(d) || d > 9007199254740992.0) return -1;
  *out = (uint64_t)d;
  return 0;
}

int lpo_st_numel_bytes(int dtype, int ndim, const int64_t *shape, int64_t *numel, int64_t *nbytes) {
  int64_t ne = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0 || __builtin_mul_overflow(ne, shape[d], &ne)) return -1;
  }
  int64_t nb;
  if (__builtin_mul_overflow(ne, (int64_t)lpo_dtype_size(dtype), &nb)) return -1;
  *numel = ne;
  *nbytes = nb;
  return 0;
}

/* ---- one file ---- */

static void file_unmap(st_file *f) {
  if (f->map) { munmap(f->map, f->size); lpo_mem_account(0, -(int64_t)f->size); }
  free(f->path);
  memset(f, 0, sizeof *f);
}

static int map_file(st_file *f, const char *path) {
  f->path = strdup(path);
  if (!f->path) return lpo_set_error("%s: out of memory", path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lpo_set_error("%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return lpo_set_error("%s: not a regular file", path);
  }
  if (sb.st_size < 8) {
    close(fd);
    return lpo_set_error("%s: truncated: %lld bytes, a safetensors file has at least 8 (the header length)",
                         path, (long long)sb.st_size);
  }
  void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return lpo_set_error("%s: cannot map %lld bytes: %s", path, (long long)sb.st_size, strerror(errno));
  f->map = m;
  f->size = (size_t)sb.st_size;
  lpo_mem_account(0, (int64_t)f->size);
  return 0;
}

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Validates one entry `it` of file f into e. */
static int parse_entry(const st_file *f, const cJSON *it, st_entry *e) {
  const char *p = f->path, *name = it->string;
  if (!name[0]) return lpo_set_error("%s: a tensor has an empty name", p);
  if (!cJSON_IsObject(it)) return lpo_set_error("%s: tensor '%s': entry is not a JSON object", p, name);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
  if (!cJSON_IsString(dt)) return lpo_set_error("%s: tensor '%s': missing or non-string \"dtype\"", p, name);
  e->dtype = lpo_st_dtype_parse(dt->valuestring);
  if (e->dtype < 0) {
    if (dtype_known_unsupported(dt->valuestring))
      return lpo_set_error("%s: tensor '%s': unsupported dtype '%s' (lpo reads F32, BF16, F16, I32, I64)", p, name, dt->valuestring);
    return lpo_set_error("%s: tensor '%s': unknown dtype '%s'", p, name, dt->valuestring);
  }
  if (!cJSON_IsArray(sh)) return lpo_set_error("%s: tensor '%s': missing or non-array \"shape\"", p, name);
  int nd = cJSON_GetArraySize(sh);
  if (nd > 8) return lpo_set_error("%s: tensor '%s': %d dimensions, at most 8 are supported", p, name, nd);
  e->ndim = nd;
  int d = 0;
  for (const cJSON *x = sh->child; x; x = x->next, d++) {
    uint64_t v;
    if (json_uint(x, &v) != 0) return lpo_set_error("%s: tensor '%s': shape[%d] is not a non-negative integer", p, name, d);
    e->shape[d] = (int64_t)v;
  }
  int64_t numel, nbytes;
  if (lpo_st_numel_bytes(e->dtype, nd, e->shape, &numel, &nbytes) != 0)
    return lpo_set_error("%s: tensor '%s': shape overflows the byte size", p, name);
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
    return lpo_set_error("%s: tensor '%s': \"data_offsets\" must be an array [begin, end]", p, name);
  if (json_uint(off->child, &e->begin) != 0 || json_uint(off->child->next, &e->end) != 0)
    return lpo_set_error("%s: tensor '%s': data_offsets are not non-negative integers", p, name);
  if (e->end < e->begin)
    return lpo_set_error("%s: tensor '%s': data_offsets [%llu, %llu] end before begin", p, name,
                         (unsigned long long)e->begin, (unsigned long long)e->end);
  if (e->end - e->begin != (uint64_t)nbytes)
    return lpo_set_error("%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s shape needs %lld",
                         p, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)(e->end - e->begin), dt->valuestring, (long long)nbytes);
  if (e->end > f->data_len)
    return lpo_set_error("%s: tensor '%s': data_offsets [%llu, %llu] run past the data section (%llu bytes): file truncated or header lying",
                         p, name, (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)f->data_len);
  e->name = strdup(name);
  if (!e->name) return lpo_set_error("%s: out of memory", p);
  return 0;
}

static int cmp_begin(const void *a, const void *b) {
  const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

static int check_metadata(const char *p, const cJSON *m) {
  if (!cJSON_IsObject(m)) return lpo_set_error("%s: \"__metadata__\" is not a JSON object", p);
  for (const cJSON *x = m->child; x; x = x->next)
    if (!cJSON_IsString(x)) return lpo_set_error("%s: \"__metadata__\" key '%s' is not a string", p, x->string);
  return 0;
}

/* Maps and validates file number fi, appending its tensors to st->t (capacity grows). */
static int load_file(lpo_st *st, int fi, const char *path, int *cap) {
  st_file *f = &st->files[fi];
  if (map_file(f, path) != 0) return -1;
  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++) hlen |= (uint64_t)f->map[i] << (8 * i);
  if (hlen > ST_MAX_HEADER)
    return lpo_set_error("%s: header length %llu exceeds the 100 MB limit (corrupt file?)", path, (unsigned long long)hlen);
  if (hlen > f->size - 8)
    return lpo_set_error("%s: header length %llu runs past the end of the file (%zu bytes): truncated?",
                         path, (unsigned long long)hlen, f->size);
  const char *h = (const char *)f->map + 8;
  if (hlen < 2 || h[0] != '{') return lpo_set_error("%s: header is not a JSON object", path);
  f->data = f->map + 8 + hlen;
  f->data_len = f->size - 8 - hlen;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
  if (!root) {
    long at = end ? (long)(end - h) : -1;
    return lpo_set_error("%s: header is not valid JSON (near byte %ld of %llu)", path, at, (unsigned long long)hlen);
  }
  for (const char *q = end; q < h + hlen; q++) {
    if (!is_space((uint8_t)*q)) {
      cJSON_Delete(root);
      return lpo_set_error("%s: trailing bytes after the header JSON (at byte %ld)", path, (long)(q - h));
    }
  }
  if (!cJSON_IsObject(root)) { cJSON_Delete(root); return lpo_set_error("%s: header is not a JSON object", path); }
  int first = st->n, rc = 0;
  for (const cJSON *it = root->child; it && rc == 0; it = it->next) {
    if (strcmp(it->string, "__metadata__") == 0) {
      rc = check_metadata(path, it);
      if (rc == 0 && fi == 0 && !st->meta) {
        st->meta = cJSON_Duplicate(it, 1);
        if (!st->meta) rc = lpo_set_error("%s: out of memory", path);
      }
      continue;
    }
    if (st->n == *cap) {
      int nc = *cap ? 2 * *cap : 64;
      st_entry *t = realloc(st->t, (size_t)nc * sizeof *t);
      if (!t) { rc = lpo_set_error("%s: out of memory", path); break; }
      st->t = t;
      *cap = nc;
    }
    st_entry *e = &st->t[st->n];
    memset(e, 0, sizeof *e);
    e->file = fi;
    rc = parse_entry(f, it, e);
    if (rc == 0) st->n++;
  }
  cJSON_Delete(root);
  if (rc != 0) return rc;
  /* Overlap: sort this file's tensors by begin; each must start at or after the
   * previous end. Empty tensors own no bytes and may sit anywhere in bounds. */
  int cnt = st->n - first;
  const st_entry **by = malloc((size_t)(cnt ? cnt : 1) * sizeof *by);
  if (!by) return lpo_set_error("%s: out of memory", path);
  int m = 0;
  for (int i = first; i < st->n; i++) if (st->t[i].end > st->t[i].begin) by[m++] = &st->t[i];
  qsort(by, (size_t)m, sizeof *by, cmp_begin);
  for (int i = 1; i < m; i++) {
    if (by[i]->begin < by[i - 1]->end) {
      rc = lpo_set_error("%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]", path,
                         by[i]->name, (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end,
                         by[i - 1]->name, (unsigned long long)by[i - 1]->begin, (unsigned long long)by[i - 1]->end);
      break;
    }
  }
  free(by);
  return rc;
}

/* ---- the checkpoint ---- */

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

void lpo_st_close(lpo_st *st) {
  if (!st) return;
  for (int i = 0; i < st->n; i++) free(st->t[i].name);
  free(st->t);
  for (int i = 0; i < st->nfiles; i++) file_unmap(&st->files[i]);
  free(st->files);
  cJSON_Delete(st->meta);
  free(st);
}

/* Sorts by name and rejects duplicates (within a file or across shards). */
static int finish(lpo_st *st) {
  if (st->n > 1) qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_name);
  for (int i = 1; i < st->n; i++) {
    if (strcmp(st->t[i].name, st->t[i - 1].name) == 0) {
      const st_entry *a = &st->t[i - 1], *b = &st->t[i];
      if (a->file == b->file) return lpo_set_error("%s: tensor '%s' appears twice in the header", st->files[a->file].path, a->name);
      return lpo_set_error("%s: tensor '%s' also appears in %s", st->files[b->file].path, a->name, st->files[a->file].path);
    }
  }
  return 0;
}

static lpo_st *open_file(const char *path) {
  lpo_st *st = calloc(1, sizeof *st);
  if (!st || !(st->files = calloc(1, sizeof *st->files))) { free(st); lpo_set_error("%s: out of memory", path); return NULL; }
  st->nfiles = 1;
  int cap = 0;
  if (load_file(st, 0, path, &cap) != 0 || finish(st) != 0) { lpo_st_close(st); return NULL; }
  return st;
}

static char *read_small_file(const char *path, size_t limit, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) { lpo_set_error("%s: cannot open: %s", path, strerror(errno)); return NULL; }
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? 2 * cap : 65536;
      if (cap > limit + 1) cap = limit + 1;
      char *b = realloc(buf, cap + 1);
      if (!b) { free(buf); fclose(fp); lpo_set_error("%s: out of memory", path); return NULL; }
      buf = b;
    }
    size_t r = fread(buf + n, 1, cap - n, fp);
    n += r;
    if (r == 0) break;
    if (n > limit) { free(buf); fclose(fp); lpo_set_error("%s: larger than %zu bytes", path, limit); return NULL; }
  }
  int err = ferror(fp);
  fclose(fp);
  if (err) { free(buf); lpo_set_error("%s: read error", path); return NULL; }
  buf[n] = 0;
  *len = n;
  return buf;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A shard name from an index must be a plain file name beside the index: no directory
 * parts, so a hostile index cannot point outside the checkpoint. */
static int shard_name_ok(const char *s) {
  return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

static lpo_st *open_index(const char *path) {
  size_t len;
  char *text = read_small_file(path, ST_MAX_INDEX, &len);
  if (!text) return NULL;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!root) {
    lpo_set_error("%s: not valid JSON (near byte %ld)", path, end ? (long)(end - text) : -1L);
    free(text);
    return NULL;
  }
  free(text);
  lpo_st *st = NULL;
  char **shards = NULL;
  int nshards = 0;
  const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
  if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
    lpo_set_error("%s: no \"weight_map\" object", path);
    goto fail;
  }
  int nw = cJSON_GetArraySize(wm);
  shards = calloc((size_t)(nw ? nw : 1), sizeof *shards);
  if (!shards) { lpo_set_error("%s: out of memory", path); goto fail; }
  for (const cJSON *x = wm->child; x; x = x->next) {
    if (!cJSON_IsString(x)) { lpo_set_error("%s: weight_map: tensor '%s': shard is not a string", path, x->string); goto fail; }
    if (!shard_name_ok(x->valuestring)) {
      lpo_set_error("%s: weight_map: tensor '%s': shard '%s' is not a plain file name beside the index", path, x->string, x->valuestring);
      goto fail;
    }
    shards[nshards++] = x->valuestring;
  }
  qsort(shards, (size_t)nshards, sizeof *shards, cmp_str);
  int u = 0;
  for (int i = 0; i < nshards; i++) if (u == 0 || strcmp(shards[i], shards[u - 1]) != 0) shards[u++] = shards[i];
  nshards = u;
  /* Shards live beside the index. */
  const char *slash = strrchr(path, '/');
  size_t dlen = slash ? (size_t)(slash - path + 1) : 0;
  st = calloc(1, sizeof *st);
  if (!st || !(st->files = calloc((size_t)(nshards ? nshards : 1), sizeof *st->files))) { lpo_set_error("%s: out of memory", path); goto fail; }
  int cap = 0;
  for (int i = 0; i < nshards; i++) {
    size_t sl = strlen(shards[i]);
    char *sp = malloc(dlen + sl + 1);
    if (!sp) { lpo_set_error("%s: out of memory", path); goto fail; }
    memcpy(sp, path, dlen);
    memcpy(sp + dlen, shards[i], sl + 1);
    st->nfiles = i + 1;
    int rc = load_file(st, i, sp, &cap);
    if (rc != 0 && access(sp, F_OK) != 0) {
      /* Name the tensor that needed the missing shard. */
      const char *who = "?";
      for (const cJSON *x = wm->child; x; x = x->next) if (strcmp(x->valuestring, shards[i]) == 0) { who = x->string; break; }
      lpo_set_error("%s: shard %s (holding tensor '%s') is missing", path, sp, who);
    }
    free(sp);
    if (rc != 0) goto fail;
  }
  if (finish(st) != 0) goto fail;
  /* Every weight_map entry must be in the shard it names. */
  for (const cJSON *x = wm->child; x; x = x->next) {
    int i = lpo_st_find(st, x->string);
    if (i < 0) {
      lpo_set_error("%s: tensor '%s' is listed in weight_map but missing from shard %s", path, x->string, x->valuestring);
      goto fail;
    }
    const char *fp = st->files[st->t[i].file].path + dlen;
    if (strcmp(fp, x->valuestring) != 0) {
      lpo_set_error("%s: tensor '%s' is mapped to shard %s but found in %s", path, x->string, x->valuestring, fp);
      goto fail;
    }
  }
  free(shards);
  cJSON_Delete(root);
  return st;
fail:
  free(shards);
  cJSON_Delete(root);
  lpo_st_close(st);
  return NULL;
}

static int is_file(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }

lpo_st *lpo_st_open(const char *path) {
  if (!path || !path[0]) { lpo_set_error("lpo_st_open: empty path"); return NULL; }
  struct stat sb;
  if (stat(path, &sb) != 0) { lpo_set_error("%s: cannot open: %s", path, strerror(errno)); return NULL; }
  if (S_ISDIR(sb.st_mode)) {
    /* transformers prefers model.safetensors over the index when both exist; so do we. */
    size_t n = strlen(path);
    char *p = malloc(n + 40);
    if (!p) { lpo_set_error("%s: out of memory", path); return NULL; }
    snprintf(p, n + 40, "%s/model.safetensors", path);
    lpo_st *st = NULL;
    if (is_file(p)) st = open_file(p);
    else {
      snprintf(p, n + 40, "%s/model.safetensors.index.json", path);
      if (is_file(p)) st = open_index(p);
      else lpo_set_error("%s: no model.safetensors or model.safetensors.index.json in this directory", path);
    }
    free(p);
    return st;
  }
  size_t n = strlen(path);
  if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return open_index(path);
  return open_file(path);
}

/* ---- queries ---- */

int lpo_st_count(const lpo_st *st) { return st ? st->n : 0; }

static int valid(const lpo_st *st, int i) { return st && i >= 0 && i < st->n; }

const char *lpo_st_name(const lpo_st *st, int i) { return valid(st, i) ? st->t[i].name : NULL; }

int lpo_st_find(const lpo_st *st, const char *name) {
  if (!st || !name) return -1;
  int lo = 0, hi = st->n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2, c = strcmp(st->t[mid].name, name);
    if (c == 0) return mid;
    if (c < 0) lo = mid + 1; else hi = mid - 1;
  }
  return -1;
}

int lpo_st_dtype(const lpo_st *st, int i) { return valid(st, i) ? st->t[i].dtype : -1; }

int lpo_st_shape(const lpo_st *st, int i, int64_t shape[8]) {
  if (!valid(st, i)) return -1;
  for (int d = 0; d < st->t[i].ndim; d++) shape[d] = st->t[i].shape[d];
  return st->t[i].ndim;
}

int64_t lpo_st_numel(const lpo_st *st, int i) {
  if (!valid(st, i)) return -1;
  int64_t ne = 1;
  for (int d = 0; d < st->t[i].ndim; d++) ne *= st->t[i].shape[d];  /* validated: no overflow */
  return ne;
}

int64_t lpo_st_nbytes(const lpo_st *st, int i) { return valid(st, i) ? (int64_t)(st->t[i].end - st->t[i].begin) : -1; }

const void *lpo_st_data(const lpo_st *st, int i) {
  return valid(st, i) ? st->files[st->t[i].file].data + st->t[i].begin : NULL;
}

const char *lpo_st_file(const lpo_st *st, int i) { return valid(st, i) ? st->files[st->t[i].file].path : NULL; }

const char *lpo_st_metadata(const lpo_st *st, const char *key) {
  if (!st || !st->meta || !key) return NULL;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->meta, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t k = (size_t)snprintf(buf, cap, "[");
  for (int d = 0; d < ndim && k < cap; d++) k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)shape[d]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* Finds `name` and checks its shape against (ndim, shape); ndim < 0 skips the check. */
static int lookup(const lpo_st *st, const char *name, int ndim, const int64_t *shape, const char *what) {
  if (!st || !name) return lpo_set_error("%s: no checkpoint or no tensor name", what);
  int i = lpo_st_find(st, name);
  if (i < 0) {
    const char *where = st->nfiles ? st->files[0].path : "checkpoint";
    if (st->nfiles > 1) return lpo_set_error("tensor '%s' is missing from the checkpoint (%d shards, first %s)", name, st->nfiles, where);
    return lpo_set_error("%s: tensor '%s' is missing", where, name);
  }
  const st_entry *e = &st->t[i];
  if (ndim >= 0) {
    int same = ndim == e->ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == e->shape[d];
    if (!same) {
      char a[200], b[200];
      shape_str(a, sizeof a, e->ndim, e->shape);
      shape_str(b, sizeof b, ndim, shape);
      return lpo_set_error("%s: tensor '%s': shape %s but %s expected", st->files[e->file].path, name, a, b);
    }
  }
  return i;
}

int lpo_st_read_f32(const lpo_st *st, const char *name, float *dst, int ndim, const int64_t *shape) {
  int i = lookup(st, name, ndim, shape, "lpo_st_read_f32");
  if (i < 0) return -1;
  const st_entry *e = &st->t[i];
  const uint8_t *src = st->files[e->file].data + e->begin;
  int64_t n = lpo_st_numel(st, i);
  switch (e->dtype) {
  case LPO_F32: if (n) memcpy(dst, src, (size_t)n * 4); return 0;
  case LPO_BF16:
    /* bf16 is the top half of an f32: a shift (inline, so the loop vectorizes). */
    for (int64_t k = 0; k < n; k++) {
      uint16_t h;
      memcpy(&h, src + 2 * k, 2);
      uint32_t u = (uint32_t)h << 16;
      memcpy(dst + k, &u, 4);
    }
    return 0;
  case LPO_F16:
    for (int64_t k = 0; k < n; k++) { uint16_t h; memcpy(&h, src + 2 * k, 2); dst[k] = lpo_f16_to_f32(h); }
    return 0;
  default:
    return lpo_set_error("%s: tensor '%s': dtype %s cannot be read as floats (F32, BF16 or F16 expected)",
                         st->files[e->file].path, name, lpo_st_dtype_str(e->dtype));
  }
}

int lpo_st_read_raw(const lpo_st *st, const char *name, void *dst, int dtype, int ndim, const int64_t *shape) {
  int i = lookup(st, name, ndim, shape, "lpo_st_read_raw");
  if (i < 0) return -1;
  const st_entry *e = &st->t[i];
  if (e->dtype != dtype)
    return lpo_set_error("%s: tensor '%s': dtype %s but %s expected", st->files[e->file].path, name,
                         lpo_st_dtype_str(e->dtype), lpo_st_dtype_str(dtype));
  if (e->end > e->begin) memcpy(dst, st->files[e->file].data + e->begin, (size_t)(e->end - e->begin));
  return 0;
}
