/* tok_bpe.c — byte-pair encoding of one pre-tokenized word, and the word cache.
 *
 * A word starts as one symbol per byte (byte-level) or per character (SentencePiece-style,
 * with <0xNN> byte fallback for characters outside the vocabulary). Then the best-ranked
 * adjacent pair is merged until no pair has a merge. Candidates live in a binary min-heap keyed
 * (rank, position) and symbols in a doubly linked list, so a word of n symbols costs
 * O(n log n) — a 100 kB line without spaces (SentencePiece words span whole segments) stays
 * linear-ish instead of the O(n^2) rescan loop. Stale heap entries are skipped on pop by
 * checking that the pair at that position still has that merge. Equal ranks resolve leftmost
 * first, exactly as Hugging Face's Word::merge_all. */
#include "text_internal.h"
#include <stdlib.h>

typedef struct bpe_sym { int32_t id, prev, next; } bpe_sym;

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return 0;
  int64_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = realloc(*p, (size_t)c * elem);
  if (!q) return lpo_set_error("tokenizer: out of memory (BPE word of %lld symbols)", (long long)need);
  *p = q;
  *cap = c;
  return 0;
}

static void heap_push(uint64_t *h, int64_t *n, uint64_t key) {
  int64_t i = (*n)++;
  while (i > 0) {
    int64_t parent = (i - 1) / 2;
    if (h[parent] <= key) break;
    h[i] = h[parent];
    i = parent;
  }
  h[i] = key;
}

static uint64_t heap_pop(uint64_t *h, int64_t *n) {
  uint64_t top = h[0], last = h[--(*n)];
  int64_t i = 0, m = *n;
  for (;;) {
    int64_t c = 2 * i + 1;
    if (c >= m) break;
    if (c + 1 < m && h[c + 1] < h[c]) c++;
    if (h[c] >= last) break;
    h[i] = h[c];
    i = c;
  }
  if (m > 0) h[i] = last;
  return top;
}

/* ---- word cache: words up to TOK_CACHE_MAX_WORD bytes; filled to half, never evicted ---- */
static int cache_get(lpo_tokenizer *t, uint64_t h, const char *w, int64_t n, tok_ibuf *out) {
  int found = 0;
  pthread_mutex_lock(&t->cache_lock);
  if (t->cache) {
    uint32_t i = (uint32_t)h & (TOK_CACHE_SLOTS - 1);
    for (; t->cache[i].key; i = (i + 1) & (TOK_CACHE_SLOTS - 1)) {
      tok_cache_slot *c = &t->cache[i];
      if (c->hash == h && c->key_len == n && memcmp(c->key, w, (size_t)n) == 0) {
        found = 1;
        for (int32_t k = 0; k < c->n; k++)
          if (tok_ibuf_push(out, c->ids[k])) { found = -1; break; }
        break;
      }
    }
  }
  pthread_mutex_unlock(&t->cache_lock);
  return found;
}

static void cache_put(lpo_tokenizer *t, uint64_t h, const char *w, int64_t n, const int32_t *ids, int64_t k) {
  pthread_mutex_lock(&t->cache_lock);
  if (!t->cache) t->cache = calloc(TOK_CACHE_SLOTS, sizeof *t->cache);
  if (t->cache && t->cache_count < TOK_CACHE_SLOTS / 2) {
    uint32_t i = (uint32_t)h & (TOK_CACHE_SLOTS - 1);
    int present = 0;
    for (; t->cache[i].key; i = (i + 1) & (TOK_CACHE_SLOTS - 1))
      if (t->cache[i].hash == h && t->cache[i].key_len == n && memcmp(t->cache[i].key, w, (size_t)n) == 0) { present = 1; break; }
    char *blk = present ? NULL : malloc((size_t)k * sizeof(int32_t) + (size_t)n + 1);
    if (blk) {  /* one block: ids then key bytes; a failed malloc just skips caching */
      tok_cache_slot *c = &t->cache[i];
      c->ids = (int32_t *)blk;
      memcpy(c->ids, ids, (size_t)k * sizeof(int32_t));
      c->key = blk + k * sizeof(int32_t);
      memcpy(c->key, w, (size_t)n);
      c->hash = h;
      c->key_len = (int32_t)n;
      c->n = (int32_t)k;
      t->cache_count++;
    }
  }
  pthread_mutex_unlock(&t->cache_lock);
}

void tok_cache_free(lpo_tokenizer *t) {
  if (!t->cache) return;
  for (uint32_t i = 0; i < TOK_CACHE_SLOTS; i++) free(t->cache[i].ids);
  free(t->cache);
  t->cache = NULL;
  t->cache_count = 0;
}

/* Initial symbols of the word; returns their count or -1. */
static int64_t initial_symbols(const lpo_tokenizer *t, tok_scratch *s, const char *w, int64_t n) {
  if (grow(&s->sym, &s->sym_cap, n, sizeof(bpe_sym))) return -1;
  bpe_sym *sym = s->sym;
  int64_t k = 0;
  int last_unk = 0;
  for (int64_t i = 0; i < n;) {
    int len = 1;
    int32_t id;
    if (t->byte_level) {
      id = t->byte_ids[(unsigned char)w[i]];
    } else {
      len = tok_utf8_len((unsigned char)w[i]);
      if (len == 0 || i + len > n) len = 1;
      id = tok_strmap_get(&t->vocab, t->arena, w + i, (size_t)len);
      if (id < 0 && t->byte_fallback) {
        int ok = 1;
        for (int j = 0; j < len; j++) ok &= t->byte_ids[(unsigned char)w[i + j]] >= 0;
        if (ok) {
          for (int j = 0; j < len; j++) sym[k++].id = t->byte_ids[(unsigned char)w[i + j]];
          last_unk = 0;
          i += len;
          continue;
        }
      }
    }
    i += len;
    if (id < 0) {  /* unknown: the unk token (fused when asked), or dropped when there is none */
      if (t->unk_id == -2) return lpo_set_error("tokenizer: model.unk_token is not in model.vocab, and the text has "
                                                "a character the vocabulary lacks");
      if (t->unk_id < 0 || (t->fuse_unk && last_unk)) continue;
      id = t->unk_id;
      last_unk = 1;
    } else last_unk = 0;
    sym[k++].id = id;
  }
  for (int64_t i = 0; i < k; i++) {
    sym[i].prev = (int32_t)(i - 1);
    sym[i].next = i + 1 < k ? (int32_t)(i + 1) : -1;
  }
  return k;
}

static void push_pair(const lpo_tokenizer *t, tok_scratch *s, int64_t *hn, int32_t pos) {
  bpe_sym *sym = s->sym;
  int32_t nx = sym[pos].next;
  if (nx < 0) return;
  const tok_merge_slot *m = tok_mergemap_get(&t->merges, sym[pos].id, sym[nx].id);
  if (m) heap_push(s->heap, hn, ((uint64_t)(uint32_t)m->rank << 32) | (uint32_t)pos);
}

int tok_bpe_word(lpo_tokenizer *t, tok_scratch *s, const char *w, int64_t n, tok_ibuf *out) {
  if (n <= 0) return 0;
  if (n > INT32_MAX / 2) return lpo_set_error("tokenizer: a word of %lld bytes is too long", (long long)n);
  uint64_t h = 0;
  if (n <= TOK_CACHE_MAX_WORD) {
    h = tok_hash(w, (size_t)n);
    int r = cache_get(t, h, w, n, out);
    if (r) return r < 0 ? -1 : 0;
  }
  int64_t start = out->n;
  int32_t whole = t->ignore_merges ? tok_strmap_get(&t->vocab, t->arena, w, (size_t)n) : -1;
  if (whole >= 0) {
    if (tok_ibuf_push(out, whole)) return -1;
  } else {
    int64_t k = initial_symbols(t, s, w, n);
    if (k < 0) return -1;
    /* each merge pushes at most two candidates: the heap never exceeds 3k entries */
    if (k > 0 && grow((void **)&s->heap, &s->heap_cap, 3 * k, sizeof(uint64_t))) return -1;
    bpe_sym *sym = s->sym;
    int64_t hn = 0;
    for (int64_t i = 0; i + 1 < k; i++) push_pair(t, s, &hn, (int32_t)i);
    while (hn > 0) {
      uint64_t key = heap_pop(s->heap, &hn);
      int32_t pos = (int32_t)(key & 0xffffffffu), rank = (int32_t)(key >> 32);
      if (sym[pos].id < 0) continue;  /* merged into its left neighbour */
      int32_t nx = sym[pos].next;
      if (nx < 0) continue;
      const tok_merge_slot *m = tok_mergemap_get(&t->merges, sym[pos].id, sym[nx].id);
      if (!m || m->rank != rank) continue;  /* stale: one side changed since the push */
      sym[pos].id = m->id;
      sym[pos].next = sym[nx].next;
      if (sym[nx].next >= 0) sym[sym[nx].next].prev = pos;
      sym[nx].id = -1;
      if (sym[pos].prev >= 0) push_pair(t, s, &hn, sym[pos].prev);
      push_pair(t, s, &hn, pos);
    }
    for (int32_t i = k > 0 ? 0 : -1; i >= 0; i = sym[i].next)
      if (tok_ibuf_push(out, sym[i].id)) return -1;
  }
  if (n <= TOK_CACHE_MAX_WORD) cache_put(t, h, w, n, out->p + start, out->n - start);
  return 0;
}
