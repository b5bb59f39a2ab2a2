/* tok_util.c — growable buffers, hashing, and the two hash maps of the tokenizer:
 * strings → ids (vocabulary, added tokens) and id pairs → merges. Open addressing with
 * linear probing, tables at most half full. */
#include "text_internal.h"
#include <stdlib.h>

int tok_buf_reserve(tok_buf *b, int64_t extra) {
  if (b->n + extra <= b->cap) return 0;
  int64_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + extra) cap *= 2;
  char *p = realloc(b->p, (size_t)cap);
  if (!p) return lpo_set_error("tokenizer: out of memory (%lld bytes)", (long long)cap);
  b->p = p;
  b->cap = cap;
  return 0;
}

int tok_buf_put(tok_buf *b, const void *s, int64_t n) {
  if (tok_buf_reserve(b, n + 1)) return -1;
  if (n) memcpy(b->p + b->n, s, (size_t)n);
  b->n += n;
  b->p[b->n] = 0;  /* always terminated, so pieces can be printed while debugging */
  return 0;
}

int tok_ibuf_push(tok_ibuf *b, int32_t v) {
  if (b->n == b->cap) {
    int64_t cap = b->cap ? b->cap * 2 : 256;
    int32_t *p = realloc(b->p, (size_t)cap * sizeof *p);
    if (!p) return lpo_set_error("tokenizer: out of memory (%lld ids)", (long long)cap);
    b->p = p;
    b->cap = cap;
  }
  b->p[b->n++] = v;
  return 0;
}

void tok_buf_free(tok_buf *b) { free(b->p); memset(b, 0, sizeof *b); }
void tok_ibuf_free(tok_ibuf *b) { free(b->p); memset(b, 0, sizeof *b); }

/* A 64-bit hash over 8-byte words (multiply-xorshift); tokens are short, so the tail matters. */
uint64_t tok_hash(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  h *= 0xFF51AFD7ED558CCDull;
  return h ^ (h >> 32);
}

static uint32_t table_size(uint32_t expected) {
  uint32_t cap = 16;
  while (cap < 2 * expected + 2) cap *= 2;
  return cap;
}

int tok_strmap_init(tok_strmap *m, uint32_t expected) {
  uint32_t cap = table_size(expected);
  m->slots = calloc(cap, sizeof *m->slots);
  if (!m->slots) return lpo_set_error("tokenizer: out of memory (map of %u)", cap);
  for (uint32_t i = 0; i < cap; i++) m->slots[i].val = -1;
  m->mask = cap - 1;
  m->count = 0;
  return 0;
}

static int strmap_grow(tok_strmap *m) {
  tok_strmap n;
  if (tok_strmap_init(&n, (m->mask + 1))) return -1;
  for (uint32_t i = 0; i <= m->mask; i++) {
    tok_strmap_slot *s = &m->slots[i];
    if (s->val < 0) continue;
    uint32_t j = s->hash & n.mask;
    while (n.slots[j].val >= 0) j = (j + 1) & n.mask;
    n.slots[j] = *s;
  }
  n.count = m->count;
  free(m->slots);
  *m = n;
  return 0;
}

int tok_strmap_put(tok_strmap *m, const char *arena, uint32_t off, uint32_t len, int32_t val) {
  if (2 * (m->count + 1) > m->mask + 1 && strmap_grow(m)) return -1;
  uint32_t h = (uint32_t)tok_hash(arena + off, len);
  uint32_t i = h & m->mask;
  for (;;) {
    tok_strmap_slot *s = &m->slots[i];
    if (s->val < 0) {
      s->off = off; s->len = len; s->val = val; s->hash = h;
      m->count++;
      return 1;
    }
    if (s->hash == h && s->len == len && memcmp(arena + s->off, arena + off, len) == 0) return 0;
    i = (i + 1) & m->mask;
  }
}

int32_t tok_strmap_get(const tok_strmap *m, const char *arena, const char *key, size_t len) {
  if (!m->slots) return -1;
  uint32_t h = (uint32_t)tok_hash(key, len);
  uint32_t i = h & m->mask;
  for (;;) {
    const tok_strmap_slot *s = &m->slots[i];
    if (s->val < 0) return -1;
    if (s->hash == h && s->len == len && memcmp(arena + s->off, key, len) == 0) return s->val;
    i = (i + 1) & m->mask;
  }
}

void tok_strmap_free(tok_strmap *m) { free(m->slots); memset(m, 0, sizeof *m); }

int tok_mergemap_init(tok_mergemap *m, uint32_t expected) {
  uint32_t cap = table_size(expected);
  m->slots = malloc((size_t)cap * sizeof *m->slots);
  if (!m->slots) return lpo_set_error("tokenizer: out of memory (merge table of %u)", cap);
  for (uint32_t i = 0; i < cap; i++) m->slots[i].rank = -1;
  m->mask = cap - 1;
  m->count = 0;
  return 0;
}

int tok_mergemap_put(tok_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
  LPO_ASSERT(2 * (m->count + 1) <= m->mask + 1);  /* sized from the merge count at init */
  uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;
  for (;;) {
    tok_merge_slot *s = &m->slots[i];
    if (s->rank < 0) {
      s->key = key; s->rank = rank; s->id = id;
      m->count++;
      return 0;
    }
    if (s->key == key) return 1;  /* a duplicate merge keeps its first (best) rank, as HF */
    i = (i + 1) & m->mask;
  }
}

void tok_mergemap_free(tok_mergemap *m) { free(m->slots); memset(m, 0, sizeof *m); }

uint32_t tok_arena_put(lpo_tokenizer *t, const void *s, size_t n) {
  if ((uint64_t)t->arena_n + n + 1 > UINT32_MAX) { lpo_set_error("tokenizer: strings exceed 4 GiB"); return UINT32_MAX; }
  if (t->arena_n + n + 1 > t->arena_cap) {
    uint64_t cap = t->arena_cap ? t->arena_cap : 4096;
    while (cap < t->arena_n + n + 1) cap *= 2;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    char *p = realloc(t->arena, cap);
    if (!p) { lpo_set_error("tokenizer: out of memory (%llu bytes of strings)", (unsigned long long)cap); return UINT32_MAX; }
    t->arena = p;
    t->arena_cap = (uint32_t)cap;
  }
  uint32_t off = t->arena_n;
  if (n) memcpy(t->arena + off, s, n);
  t->arena[off + n] = 0;
  t->arena_n += (uint32_t)n + 1;
  return off;
}

int tok_alloc_ids(lpo_tokenizer *t, int32_t n_ids) {
  t->entries = calloc((size_t)n_ids, sizeof *t->entries);
  if (!t->entries) return lpo_set_error("tokenizer: out of memory (%d ids)", n_ids);
  t->n_ids = n_ids;
  return 0;
}
