/* tok_encode.c — text to ids, and the tokenizer's accessors.
 *
 * As Hugging Face's AddedVocabulary::extract_and_normalize, then the pipeline:
 *   1. added tokens that are not `normalized` are cut out of the raw text (leftmost-longest,
 *      with single_word / lstrip / rstrip);
 *   2. each remaining segment is normalized, and `normalized` added tokens are cut out of it;
 *   3. each remaining part is pre-tokenized and each piece BPE-encoded.
 * Special tokens written in the text are recognized only with LPO_TOK_SPECIAL; otherwise they
 * are encoded as the plain text they are (HF's split_special_tokens). */
#include "text_internal.h"
#include <limits.h>
#include <stdlib.h>

typedef struct enc_ctx {
  lpo_tokenizer *t;
  tok_scratch s;
  tok_ibuf ids;
  int special_ok;
} enc_ctx;

static int prev_char(const char *s, int64_t i) {  /* start of the character before s[i] */
  int64_t j = i - 1;
  while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
  return (int)(i - j);
}

/* The next added-token match in s[from, n) of this pass; the match bounds include stripped spaces. */
static int next_added(const lpo_tokenizer *t, const char *s, int64_t n, int64_t from, int64_t start_offset,
                      int normalized_pass, int special_ok, int64_t *ms, int64_t *me, int32_t *id) {
  for (int64_t i = from; i < n; i++) {
    int k = t->added_first[(unsigned char)s[i]];
    if (k < 0) continue;
    const tok_added *hit = NULL;
    for (; k < t->n_added && t->arena[t->added[k].off] == s[i]; k++) {
      const tok_added *a = &t->added[k];  /* sorted longest first: the first hit is the longest */
      if (a->normalized != normalized_pass || a->len > (uint32_t)(n - i)) continue;
      if (memcmp(s + i, t->arena + a->off, a->len) == 0) { hit = a; break; }
    }
    if (!hit) continue;
    int64_t a = i, b = i + hit->len;
    int32_t cp;
    /* a skipped match still consumes its text, as HF's Aho-Corasick iteration does */
    if (hit->special && !special_ok) { i = b - 1; continue; }
    if (hit->single_word) {
      int before = 0, after = 0;
      if (a > 0) { int64_t p = a - prev_char(s, a); tok_utf8_decode(s + p, a - p, &cp); before = tok_is_word(cp); }
      if (b < n) { tok_utf8_decode(s + b, n - b, &cp); after = tok_is_word(cp); }
      if (before || after) { i = b - 1; continue; }
    }
    if (hit->lstrip) {
      while (a > start_offset) {
        int64_t p = a - prev_char(s, a);
        if (p < start_offset) break;
        tok_utf8_decode(s + p, a - p, &cp);
        if (!tok_is_whitespace(cp)) break;
        a = p;
      }
    }
    if (hit->rstrip) {
      while (b < n) {
        int k2 = tok_utf8_decode(s + b, n - b, &cp);
        if (!tok_is_whitespace(cp)) break;
        b += k2;
      }
    }
    *ms = a;
    *me = b;
    *id = hit->id;
    return 1;
  }
  return 0;
}

static int encode_pieces(enc_ctx *c, const char *text, int64_t n, int first) {
  if (n == 0) return 0;
  tok_pieces *P;
  if (tok_pretokenize(c->t, &c->s, text, n, first, &P)) return -1;
  for (int64_t i = 0; i < P->n; i++)
    if (tok_bpe_word(c->t, &c->s, c->s.buf.p + P->p[i].off, P->p[i].len, &c->ids)) return -1;
  return 0;
}

static int encode_segment(enc_ctx *c, const char *text, int64_t n, int first) {
  lpo_tokenizer *t = c->t;
  if (n == 0) return 0;  /* HF drops empty splits: nothing is normalized or prepended */
  if (t->kind == TOK_KIND_BYTE) {
    for (int64_t i = 0; i < n; i++)
      if (tok_ibuf_push(&c->ids, (unsigned char)text[i])) return -1;
    return 0;
  }
  const char *s = text;
  if (t->n_norms > 0) {
    if (tok_normalize(t, text, n, &c->s.norm)) return -1;
    s = c->s.norm.p;
    n = c->s.norm.n;
  }
  if (!t->has_normalized_added) return encode_pieces(c, s, n, first);
  int64_t at = 0, ms, me;
  int32_t id;
  while (next_added(t, s, n, at, at, 1, c->special_ok, &ms, &me, &id)) {
    if (encode_pieces(c, s + at, ms - at, first && at == 0) || tok_ibuf_push(&c->ids, id)) return -1;
    at = me;
  }
  return encode_pieces(c, s + at, n - at, first && at == 0);
}

int lpo_tokenizer_encode(lpo_tokenizer *t, const char *text, int64_t len, int special, int32_t *out, int cap) {
  if (!t) return lpo_set_error("encode: no tokenizer");
  if (!text) return lpo_set_error("encode: no text");
  if (len < 0) len = (int64_t)strlen(text);
  if (t->kind != TOK_KIND_BYTE) {
    int64_t ok = tok_utf8_valid_prefix(text, len);
    if (ok < len) return lpo_set_error("encode: text is not valid UTF-8 at byte %lld (0x%02x)", (long long)ok,
                                       (unsigned char)text[ok]);
  }
  if ((special & LPO_TOK_ADD_SPECIAL) && !t->post_ok)
    return lpo_set_error("encode: %s: post_processor type is not supported, cannot add special tokens", t->path);
  enc_ctx c = {.t = t, .special_ok = (special & LPO_TOK_SPECIAL) != 0};
  int rc = 0;
  if (special & LPO_TOK_ADD_SPECIAL)
    for (int i = 0; rc == 0 && i < t->n_pre_ids; i++) rc = tok_ibuf_push(&c.ids, t->pre_ids[i]);
  int64_t at = 0, ms, me;
  int32_t id;
  while (rc == 0 && next_added(t, text, len, at, at, 0, c.special_ok, &ms, &me, &id)) {
    rc = encode_segment(&c, text + at, ms - at, at == 0);
    if (rc == 0) rc = tok_ibuf_push(&c.ids, id);
    at = me;
  }
  if (rc == 0) rc = encode_segment(&c, text + at, len - at, at == 0);
  if (special & LPO_TOK_ADD_SPECIAL)
    for (int i = 0; rc == 0 && i < t->n_post_ids; i++) rc = tok_ibuf_push(&c.ids, t->post_ids[i]);
  if (rc == 0 && c.ids.n > INT_MAX) rc = lpo_set_error("encode: more than %d ids", INT_MAX);
  if (rc == 0) {
    rc = (int)c.ids.n;
    if (out && cap > 0 && c.ids.n > 0) memcpy(out, c.ids.p, (size_t)(c.ids.n < cap ? c.ids.n : cap) * sizeof *out);
  }
  tok_ibuf_free(&c.ids);
  tok_scratch_free(&c.s);
  return rc;
}

/* ---- accessors ---- */
int lpo_tokenizer_vocab_size(const lpo_tokenizer *t) { return t ? t->n_ids : 0; }

int lpo_tokenizer_token_id(const lpo_tokenizer *t, const char *token) {
  if (!t || !token) return -1;
  size_t n = strlen(token);
  int32_t id = tok_strmap_get(&t->added_map, t->arena, token, n);
  if (id >= 0) return id;
  if (t->byte_level) {  /* the file spells byte-level tokens in the GPT-2 alphabet ("Ġhello") */
    char *raw = malloc(n + 1);
    if (!raw) return -1;
    int64_t m = tok_bytelevel_to_bytes(token, (int64_t)n, raw);
    id = m >= 0 ? tok_strmap_get(&t->vocab, t->arena, raw, (size_t)m) : -1;
    free(raw);
    return id;
  }
  return tok_strmap_get(&t->vocab, t->arena, token, n);
}

const char *lpo_tokenizer_token_bytes(const lpo_tokenizer *t, int32_t id, int *len) {
  if (!t || id < 0 || id >= t->n_ids || !(t->entries[id].flags & TOKF_PRESENT)) { if (len) *len = 0; return NULL; }
  if (len) *len = (int)t->entries[id].dec_len;
  return t->arena + t->entries[id].dec_off;
}

int lpo_tokenizer_is_special(const lpo_tokenizer *t, int32_t id) {
  return t && id >= 0 && id < t->n_ids && (t->entries[id].flags & TOKF_SPECIAL) != 0;
}

int lpo_tokenizer_bos_id(const lpo_tokenizer *t) { return t ? t->bos_id : -1; }
int lpo_tokenizer_eos_id(const lpo_tokenizer *t) { return t ? t->eos_id : -1; }
int lpo_tokenizer_pad_id(const lpo_tokenizer *t) { return t ? t->pad_id : -1; }
int lpo_tokenizer_add_bos(const lpo_tokenizer *t) { return t ? t->add_bos : 0; }
const char *lpo_tokenizer_chat_template(const lpo_tokenizer *t) { return t ? t->chat_template : NULL; }
const char *lpo_tokenizer_path(const lpo_tokenizer *t) { return t ? t->path : ""; }

const char *lpo_tokenizer_kind(const lpo_tokenizer *t) {
  if (!t) return "";
  if (t->kind == TOK_KIND_BYTE) return "byte";
  return t->byte_level ? "bpe-bytelevel" : "bpe";
}

/* The tables' bytes count as live CPU memory (lpo_mem_live_bytes), so the Lua side's garbage
 * collector sees what a tokenizer holds (~25 MiB for a 150k vocabulary). */
void tok_account(lpo_tokenizer *t) {
  int64_t b = (int64_t)t->arena_cap + (int64_t)t->n_ids * (int64_t)sizeof *t->entries +
              (int64_t)(t->vocab.slots ? t->vocab.mask + 1 : 0) * (int64_t)sizeof(tok_strmap_slot) +
              (int64_t)(t->added_map.slots ? t->added_map.mask + 1 : 0) * (int64_t)sizeof(tok_strmap_slot) +
              (int64_t)(t->merges.slots ? t->merges.mask + 1 : 0) * (int64_t)sizeof(tok_merge_slot) +
              (int64_t)t->n_added * (int64_t)sizeof *t->added;
  lpo_mem_account(0, b - t->accounted);
  t->accounted = b;
}

void lpo_tokenizer_free(lpo_tokenizer *t) {
  if (!t) return;
  lpo_mem_account(0, -t->accounted);
  tok_pipeline_free(t);
  tok_cache_free(t);
  tok_strmap_free(&t->vocab);
  tok_strmap_free(&t->added_map);
  tok_mergemap_free(&t->merges);
  pthread_mutex_destroy(&t->cache_lock);
  free(t->arena);
  free(t->entries);
  free(t->added);
  free(t->pre_ids);
  free(t->post_ids);
  free(t->chat_template);
  free(t);
}
