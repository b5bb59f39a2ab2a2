/* tok_load.c — reads a Hugging Face tokenizer.json (and tokenizer_config.json beside it) into
 * an lpo_tokenizer: vocabulary, merges, added tokens, pipeline, post-processor, bos/eos/pad.
 * Every malformed input is reported with the file and the JSON field, e.g.
 *   tok/tokenizer.json: model.merges[12]: 'Ġx' is not in model.vocab */
#include "text_internal.h"
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) { lpo_set_error("%s: cannot open: %s", path, strerror(errno)); return NULL; }
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 65536 + 1 > cap) {
      cap = cap ? 2 * cap : 1 << 20;
      char *p = realloc(buf, cap);
      if (!p) { free(buf); fclose(f); lpo_set_error("%s: out of memory reading", path); return NULL; }
      buf = p;
    }
    size_t k = fread(buf + n, 1, 65536, f);
    n += k;
    if (k < 65536) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) { free(buf); lpo_set_error("%s: read error", path); return NULL; }
  buf[n] = 0;
  *len = n;
  return buf;
}

static cJSON *parse_json(const char *path) {
  size_t n;
  char *text = read_file(path, &n);
  if (!text) return NULL;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, n, &end, 0);
  if (!j) {
    size_t at = end && end >= text ? (size_t)(end - text) : 0;
    int line = 1, col = 1;
    for (size_t i = 0; i < at && i < n; i++) { if (text[i] == '\n') { line++; col = 1; } else col++; }
    lpo_set_error("%s: invalid JSON near line %d column %d", path, line, col);
  }
  free(text);
  return j;
}

/* Prefixes the current error with the file name. */
static int file_error(const char *path) {
  char msg[900];
  snprintf(msg, sizeof msg, "%s", lpo_last_error());
  return lpo_set_error("%s: %s", path, msg);
}

static int id_of(const cJSON *v, const char *field, const char *path, int32_t *id) {
  if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble)
    return lpo_set_error("%s: %s: expected an integer id", path, field);
  if (v->valuedouble < 0 || v->valuedouble >= TOK_MAX_ID)
    return lpo_set_error("%s: %s = %.0f: id out of range [0, %d)", path, field, v->valuedouble, TOK_MAX_ID);
  *id = (int32_t)v->valuedouble;
  return 0;
}

/* The model string of a vocabulary entry: raw bytes for byte-level vocabularies (characters
 * outside the byte alphabet stay as written, as HF's decoder does). */
static uint32_t put_key(lpo_tokenizer *t, const char *s, size_t n, tok_buf *tmp) {
  if (t->byte_level) {
    tmp->n = 0;
    if (tok_buf_reserve(tmp, (int64_t)n + 1)) return UINT32_MAX;
    int64_t m = tok_bytelevel_to_bytes(s, (int64_t)n, tmp->p);
    if (m >= 0) return tok_arena_put(t, tmp->p, (size_t)m);
  }
  return tok_arena_put(t, s, n);
}

/* Stores a token's source string (kept only when the first token decodes differently) and
 * its precomputed decoder output. */
static int set_dec(lpo_tokenizer *t, int32_t id, const char *src, size_t n, tok_buf *tmp) {
  tok_entry *e = &t->entries[id];
  int is_byte;
  if (t->dec_first_differs) {
    uint32_t off = tok_arena_put(t, src, n);
    if (off == UINT32_MAX) return -1;
    e->src_off = off;
    e->src_len = (uint32_t)n;
  }
  if (tok_compute_dec(t, id, src, n, 0, tmp, &is_byte)) return -1;
  uint32_t off = tok_arena_put(t, tmp->p, (size_t)tmp->n);
  if (off == UINT32_MAX) return -1;
  e->dec_off = off;
  e->dec_len = (uint32_t)tmp->n;
  e->flags = (uint8_t)((e->flags & ~TOKF_BYTEFB) | TOKF_PRESENT | (is_byte ? TOKF_BYTEFB : 0));
  if ((int)tmp->n > t->max_dec_len) t->max_dec_len = (int)tmp->n;
  return 0;
}

static int load_model(lpo_tokenizer *t, const cJSON *model, int32_t max_added, const char *path, tok_buf *tmp) {
  if (!cJSON_IsObject(model)) return lpo_set_error("%s: model: missing (expected an object)", path);
  const cJSON *ty = cJSON_GetObjectItemCaseSensitive(model, "type");
  if (ty && !cJSON_IsString(ty)) return lpo_set_error("%s: model.type: expected a string", path);
  if (ty && strcmp(ty->valuestring, "BPE") != 0) {
    int known = !strcmp(ty->valuestring, "Unigram") || !strcmp(ty->valuestring, "WordPiece") ||
                !strcmp(ty->valuestring, "WordLevel");
    return lpo_set_error("%s: model.type: '%s' is %s (supported: BPE)", path, ty->valuestring,
                         known ? "not supported" : "unknown");
  }
  const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
  const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
  if (!cJSON_IsObject(vocab)) return lpo_set_error("%s: model.vocab: missing (expected an object token -> id)", path);
  if (!cJSON_IsArray(merges)) return lpo_set_error("%s: model.merges: missing (a BPE model needs its merge list)", path);
  const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
  if (cJSON_IsNumber(drop) && drop->valuedouble > 0)
    return lpo_set_error("%s: model.dropout = %g: BPE dropout is not supported (encoding must be deterministic)", path,
                         drop->valuedouble);
  static const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
  for (int i = 0; i < 2; i++) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
    if (cJSON_IsString(a) && a->valuestring[0])
      return lpo_set_error("%s: model.%s = '%s' is not supported", path, affixes[i], a->valuestring);
  }
  t->byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
  t->fuse_unk = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "fuse_unk"));
  t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));

  /* ids: one table sized by the largest id of the vocabulary and the added tokens */
  int32_t max_id = max_added, n_vocab = 0;
  for (const cJSON *v = vocab->child; v; v = v->next, n_vocab++) {
    char field[160];
    int32_t id;
    snprintf(field, sizeof field, "model.vocab['%.100s']", v->string);
    if (id_of(v, field, path, &id)) return -1;
    if (id > max_id) max_id = id;
  }
  if (tok_alloc_ids(t, max_id + 1) || tok_strmap_init(&t->vocab, (uint32_t)n_vocab)) return -1;
  for (const cJSON *v = vocab->child; v; v = v->next) {
    int32_t id = (int32_t)v->valuedouble;
    size_t n = strlen(v->string);
    tok_entry *e = &t->entries[id];
    if (e->flags & TOKF_PRESENT) continue;  /* an id listed twice keeps its first string */
    uint32_t off = put_key(t, v->string, n, tmp);
    if (off == UINT32_MAX) return -1;
    e->key_off = off;
    e->key_len = (uint32_t)(t->arena_n - off - 1);
    if (tok_strmap_put(&t->vocab, t->arena, off, e->key_len, id) < 0 || set_dec(t, id, v->string, n, tmp)) return -1;
  }

  const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
  t->unk_id = -1;
  if (cJSON_IsString(unk)) {
    /* named but absent: HF loads such files and fails only when a character needs it */
    t->unk_id = tok_strmap_get(&t->vocab, t->arena, unk->valuestring, strlen(unk->valuestring));
    if (t->unk_id < 0) t->unk_id = -2;
  }
  for (int b = 0; b < 256; b++) {
    char name[8];
    if (t->byte_level) { name[0] = (char)b; t->byte_ids[b] = tok_strmap_get(&t->vocab, t->arena, name, 1); }
    else {
      snprintf(name, sizeof name, "<0x%02X>", b);
      t->byte_ids[b] = t->byte_fallback ? tok_strmap_get(&t->vocab, t->arena, name, 6) : -1;
    }
  }

  /* merges: "a b" (older files) or ["a", "b"]; the merged string must be a token too */
  int32_t n_merges = cJSON_GetArraySize(merges);
  if (tok_mergemap_init(&t->merges, (uint32_t)n_merges)) return -1;
  int32_t rank = 0;
  for (const cJSON *m = merges->child; m; m = m->next, rank++) {
    const char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    if (cJSON_IsString(m)) {
      const char *sp = strchr(m->valuestring, ' ');
      if (sp && !strchr(sp + 1, ' ')) { a = m->valuestring; alen = (size_t)(sp - a); b = sp + 1; blen = strlen(b); }
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
               cJSON_IsString(m->child->next)) {
      a = m->child->valuestring; alen = strlen(a);
      b = m->child->next->valuestring; blen = strlen(b);
    }
    if (!a) return lpo_set_error("%s: model.merges[%d]: expected \"a b\" or [\"a\", \"b\"]", path, rank);
    tmp->n = 0;
    if (tok_buf_put(tmp, a, (int64_t)alen) || tok_buf_put(tmp, b, (int64_t)blen)) return -1;
    int32_t ids[3];
    const char *parts[3] = {a, b, tmp->p};
    size_t lens[3] = {alen, blen, alen + blen};
    tok_buf kb = {0};
    for (int k = 0; k < 3; k++) {
      const char *key = parts[k];
      size_t klen = lens[k];
      if (t->byte_level) {
        if (tok_buf_reserve(&kb, (int64_t)klen + 1)) { tok_buf_free(&kb); return -1; }
        int64_t r = tok_bytelevel_to_bytes(key, (int64_t)klen, kb.p);
        if (r >= 0) { key = kb.p; klen = (size_t)r; }
      }
      ids[k] = tok_strmap_get(&t->vocab, t->arena, key, klen);
      if (ids[k] < 0) {
        tok_buf_free(&kb);
        return lpo_set_error("%s: model.merges[%d]: '%.*s' is not in model.vocab", path, rank, (int)lens[k], parts[k]);
      }
    }
    tok_buf_free(&kb);
    tok_mergemap_put(&t->merges, ids[0], ids[1], rank, ids[2]);
  }
  t->n_merges = n_merges;
  return 0;
}

static int cmp_added(const void *x, const void *y, void *arena) {
  const tok_added *a = x, *b = y;
  const unsigned char *ar = arena;
  int fa = ar[a->off], fb = ar[b->off];
  if (fa != fb) return fa - fb;
  if (a->len != b->len) return a->len > b->len ? -1 : 1;  /* longest first: leftmost-longest matching */
  return a->id - b->id;
}

static int load_added(lpo_tokenizer *t, const cJSON *list, const char *path, tok_buf *tmp) {
  int n = cJSON_GetArraySize(list);
  if (n == 0) return 0;
  if (!(t->added = calloc((size_t)n, sizeof *t->added))) return lpo_set_error("%s: out of memory", path);
  if (tok_strmap_init(&t->added_map, (uint32_t)n)) return -1;
  int i = 0;
  for (const cJSON *a = list->child; a; a = a->next, i++) {
    char field[64];
    snprintf(field, sizeof field, "added_tokens[%d].id", i);
    int32_t id;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
    if (id_of(cJSON_GetObjectItemCaseSensitive(a, "id"), field, path, &id)) return -1;
    if (!cJSON_IsString(c) || !c->valuestring[0])
      return lpo_set_error("%s: added_tokens[%d].content: expected a non-empty string", path, i);
    tok_added *ad = &t->added[t->n_added];
    ad->id = id;
    ad->special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special"));
    const cJSON *nz = cJSON_GetObjectItemCaseSensitive(a, "normalized");
    ad->normalized = cJSON_IsBool(nz) ? cJSON_IsTrue(nz) : !ad->special;
    ad->lstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "lstrip"));
    ad->rstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "rstrip"));
    ad->single_word = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "single_word"));
    size_t len = strlen(c->valuestring);
    /* the decoder sees the content (HF's id_to_token prefers added tokens) */
    if (set_dec(t, id, c->valuestring, len, tmp)) return -1;
    tok_entry *e = &t->entries[id];
    e->flags |= TOKF_ADDED | (ad->special ? TOKF_SPECIAL : 0);
    uint32_t coff = tok_arena_put(t, c->valuestring, len);
    if (coff == UINT32_MAX) return -1;
    if (tok_strmap_put(&t->added_map, t->arena, coff, (uint32_t)len, id) < 0) return -1;
    /* a normalized token is matched in normalized text, so match its normalized form */
    if (ad->normalized) {
      t->has_normalized_added = 1;
      if (tok_normalize(t, c->valuestring, (int64_t)len, tmp)) return -1;
      if (tmp->n == 0) continue;
      if ((coff = tok_arena_put(t, tmp->p, (size_t)tmp->n)) == UINT32_MAX) return -1;
      len = (size_t)tmp->n;
    }
    ad->off = coff;
    ad->len = (uint32_t)len;
    t->n_added++;
  }
  qsort_r(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added, t->arena);
  for (int b = 0; b < 256; b++) t->added_first[b] = -1;
  for (int k = t->n_added - 1; k >= 0; k--) t->added_first[(unsigned char)t->arena[t->added[k].off]] = k;
  return 0;
}

/* TemplateProcessing's "single" template: special tokens before and after the sequence. */
static int load_post(lpo_tokenizer *t, const cJSON *pp, const char *path) {
  if (!pp || cJSON_IsNull(pp)) { t->post_ok = 1; return 0; }
  const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pp, "type");
  const char *s = cJSON_IsString(ty) ? ty->valuestring : "";
  if (!strcmp(s, "Sequence")) {
    t->post_ok = 1;
    for (const cJSON *c = cJSON_GetObjectItemCaseSensitive(pp, "processors") ? cJSON_GetObjectItemCaseSensitive(pp, "processors")->child : NULL; c; c = c->next) {
      if (load_post(t, c, path)) return -1;
      if (!t->post_ok) return 0;
    }
    return 0;
  }
  if (!strcmp(s, "ByteLevel")) { t->post_ok = 1; return 0; }  /* offsets only */
  if (strcmp(s, "TemplateProcessing") != 0) { t->post_ok = 0; return 0; }  /* refused at encode time */
  const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
  const cJSON *specials = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
  if (!cJSON_IsArray(single)) return lpo_set_error("%s: post_processor.single: expected an array", path);
  int n = cJSON_GetArraySize(single), seen_seq = 0, i = 0;
  int32_t *pre = calloc((size_t)n * 4 + 1, sizeof *pre), *post = calloc((size_t)n * 4 + 1, sizeof *post);
  if (!pre || !post) { free(pre); free(post); return lpo_set_error("%s: out of memory", path); }
  free(t->pre_ids); free(t->post_ids);
  t->pre_ids = pre; t->post_ids = post; t->n_pre_ids = t->n_post_ids = 0;
  for (const cJSON *p = single->child; p; p = p->next, i++) {
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(p, "SpecialToken");
    if (cJSON_GetObjectItemCaseSensitive(p, "Sequence")) { seen_seq = 1; continue; }
    const cJSON *name = sp ? cJSON_GetObjectItemCaseSensitive(sp, "id") : NULL;
    if (!cJSON_IsString(name)) return lpo_set_error("%s: post_processor.single[%d]: expected SpecialToken or Sequence", path, i);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(specials, name->valuestring);
    const cJSON *ids = st ? cJSON_GetObjectItemCaseSensitive(st, "ids") : NULL;
    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) > 4)
      return lpo_set_error("%s: post_processor.special_tokens['%s'].ids: missing", path, name->valuestring);
    int j = 0;
    for (const cJSON *v = ids->child; v; v = v->next, j++) {
      char field[200];
      int32_t id;
      snprintf(field, sizeof field, "post_processor.special_tokens['%.80s'].ids[%d]", name->valuestring, j);
      if (id_of(v, field, path, &id)) return -1;
      if (id >= t->n_ids) return lpo_set_error("%s: %s = %d: no such token", path, field, id);
      if (seen_seq) post[t->n_post_ids++] = id;
      else pre[t->n_pre_ids++] = id;
    }
  }
  t->post_ok = 1;
  return 0;
}

/* bos/eos/pad from the config: -1 when null or unknown, -2 when the key is absent. */
static int32_t config_token(lpo_tokenizer *t, const cJSON *cfg, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
  if (!v) return -2;
  if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
  return cJSON_IsString(v) ? lpo_tokenizer_token_id(t, v->valuestring) : -1;
}

/* The first of the usual names that is an added token (a plain vocabulary entry spelled "<s>"
 * is text, not a marker). */
static int32_t first_known(lpo_tokenizer *t, const char *const *names) {
  for (; *names; names++) {
    int32_t id = tok_strmap_get(&t->added_map, t->arena, *names, strlen(*names));
    if (id >= 0) return id;
  }
  return -1;
}

static int load_config(lpo_tokenizer *t, const char *cfg_path) {
  struct stat st;
  if (stat(cfg_path, &st) != 0) return 0;  /* optional */
  cJSON *cfg = parse_json(cfg_path);
  if (!cfg) return -1;
  t->bos_id = config_token(t, cfg, "bos_token");
  t->eos_id = config_token(t, cfg, "eos_token");
  t->pad_id = config_token(t, cfg, "pad_token");
  const cJSON *ab = cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token");
  if (cJSON_IsBool(ab)) t->add_bos = cJSON_IsTrue(ab);
  t->add_eos = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "add_eos_token"));
  const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
  if (cJSON_IsArray(ct)) {  /* [{name, template}]: the "default" one, else the first */
    const cJSON *pick = NULL;
    for (const cJSON *c = ct->child; c; c = c->next) {
      const cJSON *nm = cJSON_GetObjectItemCaseSensitive(c, "name");
      if (!pick || (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default"))) pick = c;
    }
    ct = pick ? cJSON_GetObjectItemCaseSensitive(pick, "template") : NULL;
  }
  if (cJSON_IsString(ct) && !(t->chat_template = strdup(ct->valuestring))) {
    cJSON_Delete(cfg);
    return lpo_set_error("%s: out of memory", cfg_path);
  }
  cJSON_Delete(cfg);
  return 0;
}

lpo_tokenizer *lpo_tokenizer_load(const char *path_or_dir) {
  if (!path_or_dir) { lpo_set_error("tokenizer: no path"); return NULL; }
  char path[1024], cfg_path[1100];
  struct stat st;
  if (stat(path_or_dir, &st) != 0) { lpo_set_error("%s: no such file or directory", path_or_dir); return NULL; }
  if (S_ISDIR(st.st_mode)) {
    snprintf(path, sizeof path, "%s/tokenizer.json", path_or_dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/tokenizer_config.json", path_or_dir);
    if (stat(path, &st) != 0) { lpo_set_error("%s: no tokenizer.json in this directory", path_or_dir); return NULL; }
  } else {
    snprintf(path, sizeof path, "%s", path_or_dir);
    const char *slash = strrchr(path, '/');
    snprintf(cfg_path, sizeof cfg_path, "%.*stokenizer_config.json", slash ? (int)(slash - path + 1) : 0, path);
  }
  cJSON *root = parse_json(path);
  if (!root) return NULL;
  lpo_tokenizer *t = calloc(1, sizeof *t);
  tok_buf tmp = {0};
  if (!t) { cJSON_Delete(root); lpo_set_error("%s: out of memory", path); return NULL; }
  pthread_mutex_init(&t->cache_lock, NULL);
  t->kind = TOK_KIND_BPE;
  t->bos_id = t->eos_id = t->pad_id = -2;  /* -2: not given by a config */
  snprintf(t->path, sizeof t->path, "%s", path);
  int rc = 0;
  if (!cJSON_IsObject(root)) rc = lpo_set_error("%s: expected a JSON object", path);
  /* the pipeline first: whether the vocabulary is byte-level depends on the pre-tokenizer */
  if (rc == 0 && (tok_parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "normalizer") ||
                  tok_parse_pre_tokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pre_tokenizer") ||
                  tok_parse_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), "decoder")))
    rc = file_error(path);
  for (int i = 0; i < t->n_pres; i++) t->byte_level |= t->pres[i].kind == PRE_BYTELEVEL;
  const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
  int32_t max_added = -1;
  if (rc == 0 && added && !cJSON_IsNull(added)) {
    if (!cJSON_IsArray(added)) rc = lpo_set_error("%s: added_tokens: expected an array", path);
    int i = 0;
    for (const cJSON *a = rc == 0 ? added->child : NULL; a; a = a->next, i++) {
      char field[64];
      int32_t id;
      snprintf(field, sizeof field, "added_tokens[%d].id", i);
      if ((rc = id_of(cJSON_GetObjectItemCaseSensitive(a, "id"), field, path, &id))) break;
      if (id > max_added) max_added = id;
    }
  }
  if (rc == 0) rc = load_model(t, cJSON_GetObjectItemCaseSensitive(root, "model"), max_added, path, &tmp);
  if (rc == 0 && cJSON_IsArray(added)) rc = load_added(t, added, path, &tmp);
  if (rc == 0) rc = load_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path);
  cJSON_Delete(root);
  tok_buf_free(&tmp);
  if (rc == 0) rc = load_config(t, cfg_path);
  if (rc) { lpo_tokenizer_free(t); return NULL; }
  /* without a config: the post-processor's first token, then the usual names */
  static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<|bos|>", NULL};
  static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<|eos|>", NULL};
  static const char *const pad_names[] = {"<pad>", "<|pad|>", NULL};
  if (t->bos_id == -2) t->bos_id = t->n_pre_ids > 0 ? t->pre_ids[0] : first_known(t, bos_names);
  if (t->eos_id == -2) t->eos_id = first_known(t, eos_names);
  if (t->pad_id == -2) t->pad_id = first_known(t, pad_names);
  if (tok_byte_equivalent(t)) {  /* a saved byte tokenizer: exact bytes again, not lossy UTF-8 */
    lpo_tokenizer *b = lpo_tokenizer_byte();
    if (!b) { lpo_tokenizer_free(t); return NULL; }
    snprintf(b->path, sizeof b->path, "%s", t->path);
    b->chat_template = t->chat_template;
    t->chat_template = NULL;
    lpo_tokenizer_free(t);
    return b;
  }
  tok_account(t);
  return t;
}
