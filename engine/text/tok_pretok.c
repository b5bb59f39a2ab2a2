/* tok_pretok.c — pre-tokenization: cuts a normalized segment into the pieces ("words") that
 * BPE encodes independently, following Hugging Face's pre-tokenizers step by step.
 *
 * A step maps a list of pieces to a new list. Splitting steps only cut (pieces are offsets
 * into one text buffer); rewriting steps (ByteLevel's prefix space, Metaspace) append new text
 * to the buffer. Empty pieces are dropped, as in HF. */
#include "text_internal.h"
#include <stdlib.h>

static int push_piece(tok_pieces *P, int64_t off, int64_t len, int first) {
  if (len <= 0) return 0;
  if (P->n == P->cap) {
    int64_t cap = P->cap ? 2 * P->cap : 64;
    tok_piece *p = realloc(P->p, (size_t)cap * sizeof *p);
    if (!p) return lpo_set_error("tokenizer: out of memory (%lld pieces)", (long long)cap);
    P->p = p;
    P->cap = cap;
  }
  P->p[P->n++] = (tok_piece){off, len, first};
  return 0;
}

static int push_seg(tok_scratch *s, int64_t *n, int64_t a, int64_t b, int m) {
  if (*n == s->seg_cap) {
    int64_t cap = s->seg_cap ? 2 * s->seg_cap : 256;
    tok_seg *p = realloc(s->segs, (size_t)cap * sizeof *p);
    if (!p) return lpo_set_error("tokenizer: out of memory (%lld splits)", (long long)cap);
    s->segs = p;
    s->seg_cap = cap;
  }
  s->segs[(*n)++] = (tok_seg){a, b, m};
  return 0;
}

/* Regex matches of one piece as (gap, match) segments, as HF's find_matches: an empty match
 * right after a match is skipped, otherwise empty matches cut too. */
static int regex_segs(tok_scratch *s, const pcre2_code *re, const char *p, int64_t L, int64_t *nseg) {
  int64_t prev = 0, from = 0, last_end = -1;
  *nseg = 0;
  while (re && from <= L) {
    int64_t ms, me;
    int r = tok_regex_match(re, s->md, p, L, from, &ms, &me);
    if (r < 0) return -1;
    if (r == 0) break;
    if (ms == me) {
      if (ms != last_end) {
        if ((prev != ms && push_seg(s, nseg, prev, ms, 0)) || push_seg(s, nseg, ms, me, 1)) return -1;
        prev = last_end = me;
      }
      if (ms >= L) break;
      int k = tok_utf8_len((unsigned char)p[ms]);
      from = ms + (k ? k : 1);
      continue;
    }
    if ((prev != ms && push_seg(s, nseg, prev, ms, 0)) || push_seg(s, nseg, ms, me, 1)) return -1;
    prev = last_end = from = me;
  }
  if (prev != L && push_seg(s, nseg, prev, L, 0)) return -1;
  return 0;
}

/* Occurrences of a literal (Metaspace's ▁) or ASCII digits (Digits), one match each. */
static int literal_segs(tok_scratch *s, const char *p, int64_t L, const char *lit, int litlen, int64_t *nseg) {
  int64_t prev = 0;
  *nseg = 0;
  for (int64_t i = 0; i < L;) {
    int hit = lit ? (i + litlen <= L && memcmp(p + i, lit, (size_t)litlen) == 0) : (p[i] >= '0' && p[i] <= '9');
    if (!hit) { i++; continue; }
    int64_t e = i + (lit ? litlen : 1);
    if ((prev != i && push_seg(s, nseg, prev, i, 0)) || push_seg(s, nseg, i, e, 1)) return -1;
    prev = i = e;
  }
  if (prev != L && push_seg(s, nseg, prev, L, 0)) return -1;
  return 0;
}

/* Applies a split behavior to the segments in place; returns the new count. These folds are
 * HF's SplitDelimiterBehavior, including their treatment of leading matches. */
static int64_t apply_behavior(tok_seg *g, int64_t n, int behavior, int invert) {
  if (invert)
    for (int64_t i = 0; i < n; i++) g[i].m = !g[i].m;
  int64_t k = 0;
  int prev = 0;
  switch (behavior) {
  case SPLIT_REMOVED:
    for (int64_t i = 0; i < n; i++) if (!g[i].m) g[k++] = g[i];
    return k;
  case SPLIT_ISOLATED:
    return n;
  case SPLIT_MERGED_PREV:
    for (int64_t i = 0; i < n; i++) {
      tok_seg c = g[i];
      if (c.m && !prev && k > 0) g[k - 1].b = c.b;
      else g[k++] = c;
      prev = c.m;
    }
    return k;
  case SPLIT_MERGED_NEXT: {
    /* fold from the right: a match glues onto the part after it */
    int64_t w = n;
    for (int64_t i = n - 1; i >= 0; i--) {
      tok_seg c = g[i];
      if (c.m && !prev && w < n) g[w].a = c.a;
      else g[--w] = c;
      prev = c.m;
    }
    memmove(g, g + w, (size_t)(n - w) * sizeof *g);
    return n - w;
  }
  case SPLIT_CONTIGUOUS:
    for (int64_t i = 0; i < n; i++) {
      tok_seg c = g[i];
      if (c.m == prev && k > 0) g[k - 1].b = c.b;
      else g[k++] = c;
      prev = c.m;
    }
    return k;
  }
  LPO_ASSERT(0);
  return 0;
}

static int emit_segs(tok_scratch *s, tok_pieces *out, const tok_piece *pc, int64_t nseg, int behavior, int invert) {
  nseg = apply_behavior(s->segs, nseg, behavior, invert);
  for (int64_t i = 0; i < nseg; i++)
    if (push_piece(out, pc->off + s->segs[i].a, s->segs[i].b - s->segs[i].a, pc->first && s->segs[i].a == 0)) return -1;
  return 0;
}

/* Re-spells pieces between the raw-byte and byte-level alphabets (only needed when a step
 * runs after ByteLevel, which is rare: the usual ByteLevel is the last step). */
static int respell(tok_scratch *s, tok_pieces *P, int to_alphabet) {
  for (int64_t i = 0; i < P->n; i++) {
    tok_piece *pc = &P->p[i];
    if (tok_buf_reserve(&s->buf, 2 * pc->len + 1)) return -1;
    const char *src = s->buf.p + pc->off;
    char *dst = s->buf.p + s->buf.n;
    int64_t m = 0;
    if (to_alphabet) {
      for (int64_t j = 0; j < pc->len; j++) m += tok_utf8_encode(tok_bytelevel_cp((unsigned char)src[j]), dst + m);
    } else if ((m = tok_bytelevel_to_bytes(src, pc->len, dst)) < 0) {
      m = pc->len;  /* a later step wrote characters outside the alphabet: keep them as they are */
      memcpy(dst, src, (size_t)m);
    }
    pc->off = s->buf.n;
    pc->len = m;
    s->buf.n += m;
    s->buf.p[s->buf.n] = 0;
  }
  return 0;
}

static int step(const lpo_tokenizer *t, const tok_pre *st, tok_scratch *s, const tok_pieces *in, tok_pieces *out) {
  out->n = 0;
  for (int64_t i = 0; i < in->n; i++) {
    tok_piece pc = in->p[i];
    int64_t nseg;
    switch (st->kind) {
    case PRE_SPLIT:
      if (regex_segs(s, st->re, s->buf.p + pc.off, pc.len, &nseg) ||
          emit_segs(s, out, &pc, nseg, st->behavior, st->invert)) return -1;
      break;
    case PRE_DIGITS:
      if (literal_segs(s, s->buf.p + pc.off, pc.len, NULL, 0, &nseg) ||
          emit_segs(s, out, &pc, nseg, st->individual ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, 0)) return -1;
      break;
    case PRE_BYTELEVEL:
      if (st->add_prefix_space && s->buf.p[pc.off] != ' ') {
        if (tok_buf_reserve(&s->buf, pc.len + 2)) return -1;  /* then no pointer moves */
        char *dst = s->buf.p + s->buf.n;
        dst[0] = ' ';
        memcpy(dst + 1, s->buf.p + pc.off, (size_t)pc.len);
        pc.off = s->buf.n;
        pc.len += 1;
        s->buf.n += pc.len;
        s->buf.p[s->buf.n] = 0;
      }
      if (st->use_regex) {
        if (regex_segs(s, st->re, s->buf.p + pc.off, pc.len, &nseg) ||
            emit_segs(s, out, &pc, nseg, SPLIT_ISOLATED, 0)) return -1;
      } else if (push_piece(out, pc.off, pc.len, pc.first)) return -1;
      break;
    case PRE_METASPACE: {
      /* spaces become the replacement; "first" prepends only at the start of the text */
      /* HF replaces first, then prepends unless the text starts with the replacement */
      int pre = (st->prepend_scheme == PREPEND_ALWAYS || (st->prepend_scheme == PREPEND_FIRST && pc.first)) &&
                s->buf.p[pc.off] != ' ' &&
                !(pc.len >= st->repl_len && memcmp(s->buf.p + pc.off, st->repl, (size_t)st->repl_len) == 0);
      int64_t spaces = 0;
      for (int64_t j = 0; j < pc.len; j++) spaces += s->buf.p[pc.off + j] == ' ';
      if (tok_buf_reserve(&s->buf, pc.len + (spaces + 1) * st->repl_len + 1)) return -1;
      const char *src = s->buf.p + pc.off;
      char *dst = s->buf.p + s->buf.n;
      int64_t m = 0;
      if (pre) { memcpy(dst, st->repl, (size_t)st->repl_len); m += st->repl_len; }
      for (int64_t j = 0; j < pc.len; j++) {
        if (src[j] == ' ') { memcpy(dst + m, st->repl, (size_t)st->repl_len); m += st->repl_len; }
        else dst[m++] = src[j];
      }
      pc.off = s->buf.n;
      pc.len = m;
      s->buf.n += m;
      s->buf.p[s->buf.n] = 0;
      if (st->split) {
        if (literal_segs(s, s->buf.p + pc.off, pc.len, st->repl, st->repl_len, &nseg) ||
            emit_segs(s, out, &pc, nseg, SPLIT_MERGED_NEXT, 0)) return -1;
      } else if (push_piece(out, pc.off, pc.len, pc.first)) return -1;
      break;
    }
    default:
      LPO_ASSERT(0);
    }
  }
  (void)t;
  return 0;
}

int tok_pretokenize(const lpo_tokenizer *t, tok_scratch *s, const char *text, int64_t n, int first, tok_pieces **out) {
  s->buf.n = 0;
  s->a.n = 0;
  if (tok_buf_put(&s->buf, text, n) || push_piece(&s->a, 0, n, first)) return -1;
  if (!s->md && !(s->md = pcre2_match_data_create(1, NULL))) return lpo_set_error("tokenizer: out of memory");
  tok_pieces *in = &s->a, *o = &s->b;
  int spelled = 0;
  for (int i = 0; i < t->n_pres; i++) {
    if (step(t, &t->pres[i], s, in, o)) return -1;
    tok_pieces *sw = in; in = o; o = sw;
    if (t->pres[i].kind == PRE_BYTELEVEL && i + 1 < t->n_pres) {
      if (respell(s, in, 1)) return -1;
      spelled = 1;
    }
  }
  if (spelled && respell(s, in, 0)) return -1;
  *out = in;
  return 0;
}

void tok_scratch_free(tok_scratch *s) {
  tok_buf_free(&s->buf);
  tok_buf_free(&s->norm);
  tok_buf_free(&s->tmp);
  free(s->a.p);
  free(s->b.p);
  free(s->segs);
  free(s->sym);
  free(s->heap);
  if (s->md) pcre2_match_data_free(s->md);
  memset(s, 0, sizeof *s);
}
