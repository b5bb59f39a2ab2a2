/* tok_pipeline.c — reads the normalizer, pre_tokenizer and decoder sections of tokenizer.json
 * into flat step lists, and applies the normalizers.
 *
 * Supported (what BPE code models ship): normalizers NFC/NFD/NFKC/NFKD, Lowercase, Strip,
 * Prepend, Replace, Sequence; pre-tokenizers Split, ByteLevel, Metaspace, Digits, Whitespace,
 * WhitespaceSplit, Punctuation, Sequence; decoders ByteLevel, Replace, ByteFallback, Fuse, Strip,
 * Metaspace, Sequence. Anything else is refused by name at load, never half-applied. */
#include "text_internal.h"
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

#define MAX_STEPS 64

static int field_err(const char *field, const char *fmt, const char *arg) {
  char msg[512];
  snprintf(msg, sizeof msg, fmt, arg ? arg : "");
  return lpo_set_error("%s: %s", field, msg);
}

static const char *type_of(const cJSON *j, const char *field) {
  if (!cJSON_IsObject(j)) { field_err(field, "expected an object%s", ""); return NULL; }
  const cJSON *ty = cJSON_GetObjectItemCaseSensitive(j, "type");
  if (!cJSON_IsString(ty)) { field_err(field, "missing string field 'type'%s", ""); return NULL; }
  return ty->valuestring;
}

static int get_bool(const cJSON *j, const char *key, int dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
  return dflt;
}

static char *dup_bytes(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) { lpo_set_error("tokenizer: out of memory"); return NULL; }
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

/* A pattern object {"String": "..."} or {"Regex": "..."}: returns the text, sets *is_regex. */
static const char *pattern_of(const cJSON *j, const char *field, int *is_regex) {
  char f[256];
  snprintf(f, sizeof f, "%s.pattern", field);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pattern");
  if (!cJSON_IsObject(p)) { field_err(f, "missing (expected {\"String\": ...} or {\"Regex\": ...})%s", ""); return NULL; }
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "String");
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "Regex");
  if (cJSON_IsString(s)) { *is_regex = 0; return s->valuestring; }
  if (cJSON_IsString(r)) { *is_regex = 1; return r->valuestring; }
  field_err(f, "expected {\"String\": ...} or {\"Regex\": ...}%s", "");
  return NULL;
}

/* One character given as a JSON string (Metaspace replacement, Strip content). */
static int char_of(const cJSON *j, const char *key, const char *field, const char *dflt, char out[8], int *len) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  const char *s = cJSON_IsString(v) ? v->valuestring : dflt;
  if (!s) { char f[256]; snprintf(f, sizeof f, "%s.%s", field, key); return field_err(f, "missing%s", ""); }
  size_t n = strlen(s);
  if (n == 0 || n > 4 || tok_utf8_seq(s, (int64_t)n) != (int)n) {
    char f[256];
    snprintf(f, sizeof f, "%s.%s", field, key);
    return field_err(f, "expected a single character, got '%s'", s);
  }
  memcpy(out, s, n);
  *len = (int)n;
  return 0;
}

static int prepend_scheme_of(const cJSON *j, const char *field) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "prepend_scheme");
  if (cJSON_IsString(v)) {
    if (!strcmp(v->valuestring, "always")) return PREPEND_ALWAYS;
    if (!strcmp(v->valuestring, "first")) return PREPEND_FIRST;
    if (!strcmp(v->valuestring, "never")) return PREPEND_NEVER;
    char f[256];
    snprintf(f, sizeof f, "%s.prepend_scheme", field);
    return field_err(f, "unknown value '%s' (always, first, never)", v->valuestring);
  }
  return get_bool(j, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;  /* older files */
}

/* ---- normalizers ---- */
static int parse_norm(lpo_tokenizer *t, const cJSON *j, const char *field) {
  if (!j || cJSON_IsNull(j)) return 0;
  const char *ty = type_of(j, field);
  if (!ty) return -1;
  if (!strcmp(ty, "Sequence")) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
    if (!cJSON_IsArray(list)) return field_err(field, "Sequence needs an array 'normalizers'%s", "");
    int i = 0;
    for (const cJSON *c = list->child; c; c = c->next, i++) {
      char f[256];
      snprintf(f, sizeof f, "%s.normalizers[%d]", field, i);
      if (parse_norm(t, c, f)) return -1;
    }
    return 0;
  }
  if (t->n_norms == MAX_STEPS) return field_err(field, "too many normalizers%s", "");
  tok_norm *n = &t->norms[t->n_norms];
  memset(n, 0, sizeof *n);
  if (!strcmp(ty, "NFC")) n->kind = NORM_NFC;
  else if (!strcmp(ty, "NFD")) n->kind = NORM_NFD;
  else if (!strcmp(ty, "NFKC")) n->kind = NORM_NFKC;
  else if (!strcmp(ty, "NFKD")) n->kind = NORM_NFKD;
  else if (!strcmp(ty, "Lowercase")) n->kind = NORM_LOWERCASE;
  else if (!strcmp(ty, "Strip")) {
    n->kind = NORM_STRIP;
    n->left = get_bool(j, "strip_left", 1);
    n->right = get_bool(j, "strip_right", 1);
  } else if (!strcmp(ty, "Prepend")) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prepend");
    if (!cJSON_IsString(p)) return field_err(field, "Prepend needs a string 'prepend'%s", "");
    n->kind = NORM_PREPEND;
    n->alen = (int)strlen(p->valuestring);
    if (!(n->a = dup_bytes(p->valuestring, (size_t)n->alen))) return -1;
  } else if (!strcmp(ty, "Replace")) {
    int is_regex;
    const char *pat = pattern_of(j, field, &is_regex);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
    if (!pat) return -1;
    if (!cJSON_IsString(c)) return field_err(field, "Replace needs a string 'content'%s", "");
    n->kind = NORM_REPLACE;
    n->blen = (int)strlen(c->valuestring);
    if (!(n->b = dup_bytes(c->valuestring, (size_t)n->blen))) return -1;
    if (is_regex) {
      char f[256];
      snprintf(f, sizeof f, "%s.pattern.Regex", field);
      if (!(n->re = tok_regex_compile(pat, strlen(pat), 0, f))) { free(n->b); return -1; }
    } else {
      n->alen = (int)strlen(pat);
      if (!(n->a = dup_bytes(pat, (size_t)n->alen))) { free(n->b); return -1; }
    }
  } else {
    char f[256];
    snprintf(f, sizeof f, "%s.type", field);
    return field_err(f, "normalizer '%s' is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, "
                        "Replace, Sequence)", ty);
  }
  t->n_norms++;
  return 0;
}

int tok_parse_normalizer(lpo_tokenizer *t, const void *json, const char *field) {
  if (!t->norms && !(t->norms = calloc(MAX_STEPS, sizeof *t->norms))) return lpo_set_error("tokenizer: out of memory");
  return parse_norm(t, json, field);
}

/* ---- pre-tokenizers ---- */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int behavior_of(const cJSON *j, const char *field, int dflt) {
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "behavior");
  if (!b) return dflt;
  static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
  if (cJSON_IsString(b))
    for (int i = 0; i < 5; i++)
      if (!strcmp(b->valuestring, names[i])) return i;
  char f[256];
  snprintf(f, sizeof f, "%s.behavior", field);
  return field_err(f, "unknown split behavior '%s' (Removed, Isolated, MergedWithPrevious, MergedWithNext, "
                      "Contiguous)", cJSON_IsString(b) ? b->valuestring : "?") - 1;  /* -2: error */
}

static int parse_pre(lpo_tokenizer *t, const cJSON *j, const char *field) {
  if (!j || cJSON_IsNull(j)) return 0;
  const char *ty = type_of(j, field);
  if (!ty) return -1;
  if (!strcmp(ty, "Sequence")) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
    if (!cJSON_IsArray(list)) return field_err(field, "Sequence needs an array 'pretokenizers'%s", "");
    int i = 0;
    for (const cJSON *c = list->child; c; c = c->next, i++) {
      char f[256];
      snprintf(f, sizeof f, "%s.pretokenizers[%d]", field, i);
      if (parse_pre(t, c, f)) return -1;
    }
    return 0;
  }
  if (t->n_pres == MAX_STEPS) return field_err(field, "too many pre-tokenizers%s", "");
  tok_pre *p = &t->pres[t->n_pres];
  memset(p, 0, sizeof *p);
  char f[256];
  if (!strcmp(ty, "Split")) {
    int is_regex;
    const char *pat = pattern_of(j, field, &is_regex);
    if (!pat) return -1;
    p->kind = PRE_SPLIT;
    if ((p->behavior = behavior_of(j, field, -1)) < 0)
      return p->behavior == -1 ? field_err(field, "Split needs a 'behavior'%s", "") : -1;
    p->invert = get_bool(j, "invert", 0);
    snprintf(f, sizeof f, "%s.pattern.%s", field, is_regex ? "Regex" : "String");
    if (*pat && !(p->re = tok_regex_compile(pat, strlen(pat), !is_regex, f))) return -1;
  } else if (!strcmp(ty, "ByteLevel")) {
    for (int i = 0; i < t->n_pres; i++)
      if (t->pres[i].kind == PRE_BYTELEVEL) return field_err(field, "a second ByteLevel pre-tokenizer%s", "");
    p->kind = PRE_BYTELEVEL;
    p->add_prefix_space = get_bool(j, "add_prefix_space", 1);
    p->use_regex = get_bool(j, "use_regex", 1);
    if (p->use_regex && !(p->re = tok_regex_compile(GPT2_PATTERN, sizeof GPT2_PATTERN - 1, 0, field))) return -1;
    p->behavior = SPLIT_ISOLATED;
  } else if (!strcmp(ty, "Metaspace")) {
    p->kind = PRE_METASPACE;
    if (char_of(j, "replacement", field, "\xe2\x96\x81", p->repl, &p->repl_len)) return -1;
    if ((p->prepend_scheme = prepend_scheme_of(j, field)) < 0) return -1;
    p->split = get_bool(j, "split", 1);
  } else if (!strcmp(ty, "Digits")) {
    p->kind = PRE_DIGITS;
    p->individual = get_bool(j, "individual_digits", 0);
  } else if (!strcmp(ty, "Whitespace") || !strcmp(ty, "WhitespaceSplit") || !strcmp(ty, "Punctuation")) {
    /* Fixed patterns on the Split machinery: words and punctuation runs, whitespace runs
     * removed, or each punctuation character isolated. */
    const char *pat = !strcmp(ty, "Whitespace") ? "\\w+|[^\\w\\s]+"
                    : !strcmp(ty, "WhitespaceSplit") ? "\\s+" : "[\\p{P}$+<=>^`|~]";
    p->kind = PRE_SPLIT;
    p->invert = !strcmp(ty, "Whitespace");
    p->behavior = !strcmp(ty, "Punctuation") ? behavior_of(j, field, SPLIT_ISOLATED) : SPLIT_REMOVED;
    if (p->behavior < 0) return -1;
    if (!(p->re = tok_regex_compile(pat, strlen(pat), 0, field))) return -1;
  } else {
    snprintf(f, sizeof f, "%s.type", field);
    return field_err(f, "pre-tokenizer '%s' is not supported (Split, ByteLevel, Metaspace, Digits, Whitespace, "
                        "WhitespaceSplit, Punctuation, Sequence)", ty);
  }
  t->n_pres++;
  return 0;
}

int tok_parse_pre_tokenizer(lpo_tokenizer *t, const void *json, const char *field) {
  if (!t->pres && !(t->pres = calloc(MAX_STEPS, sizeof *t->pres))) return lpo_set_error("tokenizer: out of memory");
  return parse_pre(t, json, field);
}

/* ---- decoders ---- */
static int parse_dec(lpo_tokenizer *t, const cJSON *j, const char *field) {
  if (!j || cJSON_IsNull(j)) return 0;
  const char *ty = type_of(j, field);
  if (!ty) return -1;
  t->has_decoder = 1;
  if (!strcmp(ty, "Sequence")) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "decoders");
    if (!cJSON_IsArray(list)) return field_err(field, "Sequence needs an array 'decoders'%s", "");
    int i = 0;
    for (const cJSON *c = list->child; c; c = c->next, i++) {
      char f[256];
      snprintf(f, sizeof f, "%s.decoders[%d]", field, i);
      if (parse_dec(t, c, f)) return -1;
    }
    return 0;
  }
  if (t->n_decs == MAX_STEPS) return field_err(field, "too many decoders%s", "");
  tok_dec *d = &t->decs[t->n_decs];
  memset(d, 0, sizeof *d);
  int fused = t->fuse_at < t->n_decs;  /* a step after Fuse/ByteLevel sees the whole text */
  if (!strcmp(ty, "ByteLevel")) d->kind = DEC_BYTELEVEL;
  else if (!strcmp(ty, "ByteFallback")) d->kind = DEC_BYTEFALLBACK;
  else if (!strcmp(ty, "Fuse")) d->kind = DEC_FUSE;
  else if (!strcmp(ty, "Strip")) {
    d->kind = DEC_STRIP;
    if (char_of(j, "content", field, NULL, d->content, &d->content_len)) return -1;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "start"), *b = cJSON_GetObjectItemCaseSensitive(j, "stop");
    d->start = cJSON_IsNumber(a) && a->valuedouble > 0 ? (int)a->valuedouble : 0;
    d->stop = cJSON_IsNumber(b) && b->valuedouble > 0 ? (int)b->valuedouble : 0;
  } else if (!strcmp(ty, "Replace") || !strcmp(ty, "Metaspace")) {
    if (fused) return field_err(field, "decoder '%s' after Fuse/ByteLevel is not supported", ty);
    if (!strcmp(ty, "Metaspace")) {
      d->kind = DEC_METASPACE;
      if (char_of(j, "replacement", field, "\xe2\x96\x81", d->repl, &d->repl_len)) return -1;
      if ((d->prepend_scheme = prepend_scheme_of(j, field)) < 0) return -1;
    } else {
      int is_regex;
      const char *pat = pattern_of(j, field, &is_regex);
      const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
      if (!pat) return -1;
      if (is_regex) return field_err(field, "Replace decoder with a Regex pattern is not supported%s", "");
      if (!cJSON_IsString(c)) return field_err(field, "Replace needs a string 'content'%s", "");
      d->kind = DEC_REPLACE;
      d->alen = (int)strlen(pat);
      d->blen = (int)strlen(c->valuestring);
      if (d->alen == 0) return field_err(field, "Replace with an empty pattern%s", "");
      if (!(d->a = dup_bytes(pat, (size_t)d->alen))) return -1;
      if (!(d->b = dup_bytes(c->valuestring, (size_t)d->blen))) { free(d->a); return -1; }
    }
  } else {
    char f[256];
    snprintf(f, sizeof f, "%s.type", field);
    return field_err(f, "decoder '%s' is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, "
                        "Sequence)", ty);
  }
  if ((d->kind == DEC_FUSE || d->kind == DEC_BYTELEVEL) && !fused) t->fuse_at = t->n_decs;
  if (d->kind == DEC_METASPACE && d->prepend_scheme != PREPEND_NEVER) t->dec_first_differs = 1;
  if (d->kind == DEC_BYTELEVEL) t->dec_lossy = 1;
  t->n_decs++;
  return 0;
}

int tok_parse_decoder(lpo_tokenizer *t, const void *json, const char *field) {
  if (!t->decs && !(t->decs = calloc(MAX_STEPS, sizeof *t->decs))) return lpo_set_error("tokenizer: out of memory");
  t->fuse_at = MAX_STEPS;
  return parse_dec(t, json, field);
}

void tok_pipeline_free(lpo_tokenizer *t) {
  for (int i = 0; i < t->n_norms; i++) { free(t->norms[i].a); free(t->norms[i].b); pcre2_code_free(t->norms[i].re); }
  for (int i = 0; i < t->n_pres; i++) pcre2_code_free(t->pres[i].re);
  for (int i = 0; i < t->n_decs; i++) { free(t->decs[i].a); free(t->decs[i].b); }
  free(t->norms); free(t->pres); free(t->decs);
  t->norms = NULL; t->pres = NULL; t->decs = NULL;
}

/* ---- applying normalizers ---- */
/* Normal forms by segments. A segment starts at a starter (combining class 0) that cannot be
 * the second character of a composition (utf8proc's comb_index flags those with 0x8000;
 * Hangul jamo compose algorithmically); nothing before such a character can combine with it
 * or be reordered across it (unless it decomposes), so normalizing segments separately equals
 * normalizing the whole text. Only segments holding a decomposable character, or a character that may combine with
 * what precedes it, go through utf8proc (which is slow); the rest — all of ASCII, most CJK —
 * are copied. tests/c/test_text.c checks this against utf8proc on the whole text. */
static int seg_start(int32_t cp) {
  if (cp < 0x80) return 1;
  if ((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2)) return 0;  /* V and T jamo */
  const utf8proc_property_t *p = utf8proc_get_property(cp);
  return p->combining_class == 0 && (p->comb_index == UINT16_MAX || p->comb_index < 0x8000);
}

static int decomposes(int kind, int32_t cp) {
  if (cp < 0x80) return 0;
  if (cp >= 0xAC00 && cp <= 0xD7A3) return kind == NORM_NFD || kind == NORM_NFKD;  /* Hangul syllables */
  const utf8proc_property_t *p = utf8proc_get_property(cp);
  return p->decomp_seqindex != UINT16_MAX && (kind == NORM_NFKC || kind == NORM_NFKD || p->decomp_type == 0);
}

static int unicode_run(int kind, const char *s, int64_t n, tok_buf *out) {
  utf8proc_option_t o = UTF8PROC_STABLE;
  o |= (kind == NORM_NFC || kind == NORM_NFKC) ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
  if (kind == NORM_NFKC || kind == NORM_NFKD) o |= UTF8PROC_COMPAT;
  utf8proc_uint8_t *dst = NULL;
  utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)s, n, &dst, o);
  if (k < 0) return lpo_set_error("tokenizer: normalization failed: %s", utf8proc_errmsg(k));
  int rc = tok_buf_put(out, dst, k);
  free(dst);
  return rc;
}

int tok_unicode_form(int kind, const char *s, int64_t n, tok_buf *out) {
  int64_t done = 0, seg = 0;  /* bytes before `done` are written; the segment starts at `seg` */
  int dirty = 0;
  for (int64_t i = 0; i < n;) {
    int32_t cp;
    int k = (unsigned char)s[i] < 0x80 ? (cp = (unsigned char)s[i], 1) : tok_utf8_decode(s + i, n - i, &cp);
    /* a decomposable character may decompose into marks (U+0F73): it never starts a segment */
    int dec = decomposes(kind, cp);
    if (i == 0 || (!dec && seg_start(cp))) {
      if (dirty) {
        if (tok_buf_put(out, s + done, seg - done) || unicode_run(kind, s + seg, i - seg, out)) return -1;
        done = i;
      }
      seg = i;
      dirty = dec;
    } else dirty = 1;
    i += k;
  }
  if (dirty) return tok_buf_put(out, s + done, seg - done) || unicode_run(kind, s + seg, n - seg, out) ? -1 : 0;
  return tok_buf_put(out, s + done, n - done);
}

static int64_t find_lit(const char *s, int64_t n, int64_t from, const char *pat, int64_t m) {
  for (int64_t i = from; i + m <= n; i++)
    if (s[i] == pat[0] && memcmp(s + i, pat, (size_t)m) == 0) return i;
  return -1;
}

static int apply_norm(const tok_norm *nm, const char *s, int64_t n, tok_buf *out, pcre2_match_data *md) {
  switch (nm->kind) {
  case NORM_NFC: case NORM_NFD: case NORM_NFKC: case NORM_NFKD:
    return tok_unicode_form(nm->kind, s, n, out);
  case NORM_LOWERCASE:
    for (int64_t i = 0; i < n;) {
      int32_t cp;
      int k = tok_utf8_decode(s + i, n - i, &cp);
      char enc[8];
      int rc;
      if (cp == 0x130) rc = tok_buf_put(out, "i\xcc\x87", 3);  /* İ lowercases to two characters */
      else rc = tok_buf_put(out, enc, tok_utf8_encode(utf8proc_tolower(cp), enc));
      if (rc) return -1;
      i += k;
    }
    return 0;
  case NORM_STRIP: {
    int64_t a = 0, b = n;
    int32_t cp;
    while (nm->left && a < b) { int k = tok_utf8_decode(s + a, b - a, &cp); if (!tok_is_whitespace(cp)) break; a += k; }
    while (nm->right && b > a) {
      int64_t c = b - 1;
      while (c > a && ((unsigned char)s[c] & 0xC0) == 0x80) c--;
      tok_utf8_decode(s + c, b - c, &cp);
      if (!tok_is_whitespace(cp)) break;
      b = c;
    }
    return tok_buf_put(out, s + a, b - a);
  }
  case NORM_PREPEND:
    if (n == 0) return tok_buf_put(out, "", 0);
    return tok_buf_put(out, nm->a, nm->alen) || tok_buf_put(out, s, n) ? -1 : 0;
  case NORM_REPLACE: {
    int64_t at = 0;
    for (;;) {
      int64_t ms, me;
      if (nm->re) {
        int r = tok_regex_match(nm->re, md, s, n, at, &ms, &me);
        if (r < 0) return -1;
        if (r == 0) break;
        if (me == ms) {  /* an empty match replaces nothing here; step over one character */
          if (ms >= n) break;
          int k = tok_utf8_len((unsigned char)s[ms]);
          if (tok_buf_put(out, s + at, ms + (k ? k : 1) - at)) return -1;
          at = ms + (k ? k : 1);
          continue;
        }
      } else {
        if (nm->alen == 0 || (ms = find_lit(s, n, at, nm->a, nm->alen)) < 0) break;
        me = ms + nm->alen;
      }
      if (tok_buf_put(out, s + at, ms - at) || tok_buf_put(out, nm->b, nm->blen)) return -1;
      at = me;
    }
    return tok_buf_put(out, s + at, n - at);
  }
  }
  LPO_ASSERT(0);
  return -1;
}

int tok_normalize(const lpo_tokenizer *t, const char *s, int64_t n, tok_buf *out) {
  out->n = 0;
  if (t->n_norms == 0) return tok_buf_put(out, s, n);
  tok_buf tmp = {0};
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  int rc = md ? tok_buf_put(out, s, n) : lpo_set_error("tokenizer: out of memory");
  for (int i = 0; rc == 0 && i < t->n_norms; i++) {
    tmp.n = 0;
    if ((rc = tok_buf_put(&tmp, "", 0)) == 0) rc = apply_norm(&t->norms[i], out->p, out->n, &tmp, md);
    tok_buf sw = *out; *out = tmp; tmp = sw;
  }
  tok_buf_free(&tmp);
  pcre2_match_data_free(md);
  return rc;
}
