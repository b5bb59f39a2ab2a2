/* tok_decode.c — ids back to text, whole or streaming, through one state machine so that a
 * stream's pieces always add up to the whole decode.
 *
 * Each token's decoder output (the per-token part of HF's decoder chain: Replace, ByteFallback,
 * Metaspace, Strip, ByteLevel) is precomputed at load. Decoding then concatenates, with three
 * stages that need context:
 *   1. byte-fallback runs (<0xE4><0xBD><0xA0>) become their UTF-8 text if the run is valid,
 *      else one U+FFFD per byte (HF's ByteFallback); a stream holds a run until it closes;
 *   2. invalid UTF-8 becomes U+FFFD per maximal bad subsequence (HF's from_utf8_lossy, which
 *      ByteLevel uses); a stream holds back an incomplete final character;
 *   3. Strip after Fuse removes leading/trailing characters of the whole text; a stream holds
 *      back trailing candidates until more text proves them inner.
 * The byte tokenizer skips stage 2: its text is the exact bytes. */
#include "text_internal.h"
#include <stdlib.h>

static const char REPLACEMENT[] = "\xef\xbf\xbd";

/* ---- per-token decoder chain (load time, and for the first token of a text) ---- */
static int replace_all(tok_buf *out, const char *s, int64_t n, const char *a, int alen, const char *b, int blen) {
  for (int64_t i = 0; i < n;) {
    if (i + alen <= n && memcmp(s + i, a, (size_t)alen) == 0) {
      if (tok_buf_put(out, b, blen)) return -1;
      i += alen;
    } else {
      if (tok_buf_put(out, s + i, 1)) return -1;
      i++;
    }
  }
  return tok_buf_put(out, "", 0);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int strip_chars(tok_buf *out, const char *s, int64_t n, const tok_dec *d) {
  int64_t a = 0, b = n;
  int cl = d->content_len;
  for (int i = 0; i < d->start && a + cl <= b && memcmp(s + a, d->content, (size_t)cl) == 0; i++) a += cl;
  for (int i = 0; i < d->stop && b - cl >= a && memcmp(s + b - cl, d->content, (size_t)cl) == 0; i++) b -= cl;
  return tok_buf_put(out, s + a, b - a);
}

int tok_compute_dec(lpo_tokenizer *t, int32_t id, const char *src, size_t len, int first, tok_buf *out, int *is_byte) {
  (void)id;
  tok_buf cur = {0}, nxt = {0};
  *is_byte = 0;
  int rc = tok_buf_put(&cur, src, (int64_t)len);
  int last = t->fuse_at < t->n_decs ? t->fuse_at : t->n_decs - 1;
  for (int i = 0; rc == 0 && i <= last && i < t->n_decs; i++) {
    const tok_dec *d = &t->decs[i];
    nxt.n = 0;
    switch (d->kind) {
    case DEC_REPLACE:
      rc = replace_all(&nxt, cur.p, cur.n, d->a, d->alen, d->b, d->blen);
      break;
    case DEC_BYTEFALLBACK:
      if (cur.n == 6 && memcmp(cur.p, "<0x", 3) == 0 && cur.p[5] == '>' && hexval(cur.p[3]) >= 0 && hexval(cur.p[4]) >= 0) {
        char byte = (char)(hexval(cur.p[3]) * 16 + hexval(cur.p[4]));
        *is_byte = 1;
        out->n = 0;
        rc = tok_buf_put(out, &byte, 1);
        tok_buf_free(&cur);
        tok_buf_free(&nxt);
        return rc;  /* later per-token steps do not see single bytes (they act on the run) */
      }
      rc = tok_buf_put(&nxt, cur.p, cur.n);
      break;
    case DEC_METASPACE:
      /* ▁ → space; on the first token (when encoding prepends ▁) every ▁ is dropped, as HF */
      if (first && d->prepend_scheme != PREPEND_NEVER) rc = replace_all(&nxt, cur.p, cur.n, d->repl, d->repl_len, "", 0);
      else rc = replace_all(&nxt, cur.p, cur.n, d->repl, d->repl_len, " ", 1);
      break;
    case DEC_STRIP:
      rc = strip_chars(&nxt, cur.p, cur.n, d);
      break;
    case DEC_BYTELEVEL:
      if (tok_buf_reserve(&nxt, cur.n + 1)) { rc = -1; break; }
      nxt.n = tok_bytelevel_to_bytes(cur.p, cur.n, nxt.p);
      if (nxt.n < 0) { nxt.n = 0; rc = tok_buf_put(&nxt, cur.p, cur.n); }  /* as HF: raw text */
      break;
    case DEC_FUSE:
      rc = tok_buf_put(&nxt, cur.p, cur.n);
      break;
    }
    tok_buf sw = cur; cur = nxt; nxt = sw;
  }
  out->n = 0;
  if (rc == 0) rc = tok_buf_put(out, cur.p, cur.n);
  tok_buf_free(&cur);
  tok_buf_free(&nxt);
  return rc;
}

/* ---- the decode state machine ---- */
struct lpo_tok_stream {
  const lpo_tokenizer *t;
  int64_t count;       /* tokens decoded so far (unknown ids do not count, as HF drops them) */
  int strip_left;      /* Strip(start) characters still to remove at the start of the text */
  int strip_stop;
  const tok_dec *strip;
  tok_buf run;         /* open byte-fallback run */
  tok_buf pend;        /* incomplete UTF-8 at the end */
  tok_buf hold;        /* trailing Strip(stop) characters held back */
  tok_buf out;         /* text ready */
  tok_buf tmp;
};

static void state_init(lpo_tok_stream *s, const lpo_tokenizer *t) {
  memset(s, 0, sizeof *s);
  s->t = t;
  for (int i = t->fuse_at + 1; i < t->n_decs; i++)
    if (t->decs[i].kind == DEC_STRIP) s->strip = &t->decs[i];  /* Strip of the whole text */
  if (s->strip) { s->strip_left = s->strip->start; s->strip_stop = s->strip->stop; }
}

static void state_free(lpo_tok_stream *s) {
  tok_buf_free(&s->run); tok_buf_free(&s->pend); tok_buf_free(&s->hold); tok_buf_free(&s->out); tok_buf_free(&s->tmp);
}

/* Stage 3: complete characters in, text out. */
static int emit(lpo_tok_stream *s, const char *p, int64_t n) {
  if (!s->strip) return tok_buf_put(&s->out, p, n);
  int cl = s->strip->content_len;
  const char *c = s->strip->content;
  while (s->strip_left > 0 && n >= cl && memcmp(p, c, (size_t)cl) == 0) { p += cl; n -= cl; s->strip_left--; }
  if (n > 0) s->strip_left = 0;
  if (s->strip_stop == 0) return tok_buf_put(&s->out, p, n);
  if (tok_buf_put(&s->hold, p, n)) return -1;
  int64_t keep = s->hold.n;  /* hold back at most `stop` trailing content characters */
  for (int i = 0; i < s->strip_stop && keep >= cl && memcmp(s->hold.p + keep - cl, c, (size_t)cl) == 0; i++) keep -= cl;
  if (tok_buf_put(&s->out, s->hold.p, keep)) return -1;
  memmove(s->hold.p, s->hold.p + keep, (size_t)(s->hold.n - keep));
  s->hold.n -= keep;
  return 0;
}

/* Stage 2: bytes in; complete characters (or U+FFFD) to stage 3. */
static int feed(lpo_tok_stream *s, const char *p, int64_t n, int final) {
  if (tok_buf_put(&s->pend, p, n)) return -1;
  const char *b = s->pend.p;
  int64_t m = s->pend.n, i = 0, done = 0;
  int lossy = s->t->dec_lossy;
  while (i < m) {
    if ((unsigned char)b[i] < 0x80) { i++; continue; }
    int k = tok_utf8_seq(b + i, m - i);
    if (k > 0) { i += k; continue; }
    if (k < 0 && !final) break;  /* incomplete final character: wait for more bytes */
    if (!lossy) { i += k < 0 ? -k : 1; continue; }
    /* replace the maximal invalid subpart: a valid lead and its valid continuations */
    int bad = 1;
    if (k < 0) bad = -k;
    else {
      int need = tok_utf8_len((unsigned char)b[i]);
      while (need > 1 && bad < need && i + bad < m) {
        int r = tok_utf8_seq(b + i, bad + 1);
        if (r != -(bad + 1) && r != bad + 1) break;
        bad++;
      }
    }
    if (emit(s, b + done, i - done) || emit(s, REPLACEMENT, 3)) return -1;
    i += bad;
    done = i;
  }
  if (emit(s, b + done, i - done)) return -1;
  memmove(s->pend.p, s->pend.p + i, (size_t)(m - i));
  s->pend.n = m - i;
  return 0;
}

/* Stage 1: closes an open byte-fallback run. */
static int close_run(lpo_tok_stream *s) {
  if (s->run.n == 0) return 0;
  int rc;
  if (tok_utf8_valid_prefix(s->run.p, s->run.n) == s->run.n) rc = feed(s, s->run.p, s->run.n, 0);
  else {
    rc = 0;
    for (int64_t i = 0; rc == 0 && i < s->run.n; i++) rc = feed(s, REPLACEMENT, 3, 0);
  }
  s->run.n = 0;
  return rc;
}

static int push(lpo_tok_stream *s, int32_t id) {
  const lpo_tokenizer *t = s->t;
  if (id < 0) return lpo_set_error("decode: negative token id %d", id);
  if (id >= t->n_ids || !(t->entries[id].flags & TOKF_PRESENT)) return 0;
  const tok_entry *e = &t->entries[id];
  const char *p = t->arena + e->dec_off;
  int64_t n = e->dec_len;
  int is_byte = (e->flags & TOKF_BYTEFB) != 0;
  if (s->count == 0 && t->dec_first_differs) {
    if (tok_compute_dec((lpo_tokenizer *)t, id, t->arena + e->src_off, e->src_len, 1, &s->tmp, &is_byte)) return -1;
    p = s->tmp.p;
    n = s->tmp.n;
  }
  if (!t->has_decoder && s->count > 0) {  /* no decoder: HF joins the tokens with spaces */
    if (close_run(s) || feed(s, " ", 1, 0)) return -1;
  }
  s->count++;
  if (is_byte) return tok_buf_put(&s->run, p, n);
  if (close_run(s)) return -1;
  return feed(s, p, n, 0);
}

static int finish(lpo_tok_stream *s) {
  if (close_run(s) || feed(s, "", 0, 1)) return -1;
  s->hold.n = 0;  /* what is still held is the trailing part Strip removes */
  return 0;
}

int lpo_tokenizer_decode(const lpo_tokenizer *t, const int32_t *ids, int n, char *out, int cap) {
  if (!t) return lpo_set_error("decode: no tokenizer");
  if (n < 0 || (n > 0 && !ids)) return lpo_set_error("decode: bad id list (n = %d)", n);
  lpo_tok_stream s;
  state_init(&s, t);
  int rc = 0;
  for (int i = 0; rc == 0 && i < n; i++) rc = push(&s, ids[i]);
  if (rc == 0) rc = finish(&s);
  if (rc == 0 && s.out.n > INT32_MAX - 1) rc = lpo_set_error("decode: text longer than 2 GiB");
  if (rc == 0) {
    rc = (int)s.out.n;
    if (out && cap > 0) {
      int64_t k = s.out.n < cap ? s.out.n : cap;
      if (k) memcpy(out, s.out.p, (size_t)k);
      if (s.out.n < cap) out[s.out.n] = 0;
    }
  }
  state_free(&s);
  return rc;
}

lpo_tok_stream *lpo_tok_stream_new(const lpo_tokenizer *t) {
  if (!t) { lpo_set_error("decode stream: no tokenizer"); return NULL; }
  lpo_tok_stream *s = malloc(sizeof *s);
  if (!s) { lpo_set_error("decode stream: out of memory"); return NULL; }
  state_init(s, t);
  return s;
}

int lpo_tok_stream_push(lpo_tok_stream *s, int32_t id) {
  s->out.n = 0;
  if (push(s, id)) return -1;
  if (tok_buf_put(&s->out, "", 0)) return -1;
  return (int)s->out.n;
}

int lpo_tok_stream_flush(lpo_tok_stream *s) {
  s->out.n = 0;
  if (finish(s) || tok_buf_put(&s->out, "", 0)) return -1;
  return (int)s->out.n;
}

const char *lpo_tok_stream_text(const lpo_tok_stream *s) { return s->out.p ? s->out.p : ""; }

void lpo_tok_stream_reset(lpo_tok_stream *s) {
  const lpo_tokenizer *t = s->t;
  tok_buf run = s->run, pend = s->pend, hold = s->hold, out = s->out, tmp = s->tmp;
  state_init(s, t);
  run.n = pend.n = hold.n = out.n = tmp.n = 0;  /* keep the buffers */
  s->run = run; s->pend = pend; s->hold = hold; s->out = out; s->tmp = tmp;
}

void lpo_tok_stream_free(lpo_tok_stream *s) {
  if (!s) return;
  state_free(s);
  free(s);
}
