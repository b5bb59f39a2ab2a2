/* text_internal.h — the tokenizer's insides, shared by the files of engine/text.
 *
 * A tokenizer is the pipeline of a Hugging Face tokenizer.json, compiled into flat tables:
 *
 *   text ─► added tokens split out (longest match) ─► normalizers ─► pre-tokenizers
 *        ─► BPE per piece (merge ranks, word cache) ─► ids
 *   ids  ─► per-token decoded bytes (precomputed decoder chain) ─► byte-fallback runs
 *        ─► UTF-8 repair (U+FFFD, as HF's from_utf8_lossy) ─► Strip ─► text
 *
 * Byte-level vocabularies (GPT-2/Qwen/Llama-3) spell bytes as printable code points; we
 * translate every vocabulary string back to raw bytes once at load, so encoding never maps
 * text to that alphabet and decoding is a concatenation. */
#ifndef LPO_TEXT_INTERNAL_H
#define LPO_TEXT_INTERNAL_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lpo.h"
#include "lpo_text.h"
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define TOK_MAX_ID (1 << 24)        /* ids beyond this are a malformed file, not a vocabulary */
#define TOK_CACHE_MAX_WORD 256      /* longer words are not cached (as HF) */
#define TOK_CACHE_SLOTS (1 << 15)   /* word cache capacity (filled to half, never evicted) */

/* ---- growable byte and int buffers (per call scratch; lpo never grows inside a step,
 *      but encoding arbitrary user text has no static bound) ---- */
typedef struct tok_buf { char *p; int64_t n, cap; } tok_buf;
typedef struct tok_ibuf { int32_t *p; int64_t n, cap; } tok_ibuf;
int tok_buf_reserve(tok_buf *b, int64_t extra);
int tok_buf_put(tok_buf *b, const void *s, int64_t n);
int tok_ibuf_push(tok_ibuf *b, int32_t v);
void tok_buf_free(tok_buf *b);
void tok_ibuf_free(tok_ibuf *b);

/* ---- hashing and maps ---- */
uint64_t tok_hash(const void *p, size_t n);

/* String → int map over strings stored in an arena (offset, length), open addressing. */
typedef struct tok_strmap_slot { uint32_t off, len; int32_t val; uint32_t hash; } tok_strmap_slot;
typedef struct tok_strmap { tok_strmap_slot *slots; uint32_t mask, count; } tok_strmap;
int tok_strmap_init(tok_strmap *m, uint32_t expected);
/* Inserts unless present; returns 1 if inserted, 0 if the key existed, -1 on OOM. */
int tok_strmap_put(tok_strmap *m, const char *arena, uint32_t off, uint32_t len, int32_t val);
int32_t tok_strmap_get(const tok_strmap *m, const char *arena, const char *key, size_t len); /* -1 absent */
void tok_strmap_free(tok_strmap *m);

/* (left id, right id) → (rank, merged id). */
typedef struct tok_merge_slot { uint64_t key; int32_t rank, id; } tok_merge_slot;
typedef struct tok_mergemap { tok_merge_slot *slots; uint32_t mask, count; } tok_mergemap;
int tok_mergemap_init(tok_mergemap *m, uint32_t expected);
int tok_mergemap_put(tok_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t id); /* 0 ok, 1 dup */
static inline const tok_merge_slot *tok_mergemap_get(const tok_mergemap *m, int32_t a, int32_t b) {
  uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;
  for (;;) {
    const tok_merge_slot *s = &m->slots[i];
    if (s->rank < 0) return NULL;
    if (s->key == key) return s;
    i = (i + 1) & m->mask;
  }
}
void tok_mergemap_free(tok_mergemap *m);

/* ---- pipeline steps (parsed from tokenizer.json) ---- */
enum { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_LOWERCASE, NORM_STRIP, NORM_PREPEND, NORM_REPLACE };
typedef struct tok_norm {
  int kind;
  char *a, *b; int alen, blen;      /* Prepend: a; Replace: a (literal) → b */
  pcre2_code *re;                   /* Replace with a Regex pattern */
  int left, right;                  /* Strip */
} tok_norm;

enum { PRE_SPLIT, PRE_BYTELEVEL, PRE_METASPACE, PRE_DIGITS };
enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
typedef struct tok_pre {
  int kind;
  pcre2_code *re;                   /* Split (also ByteLevel's GPT-2 regex when use_regex) */
  int behavior, invert;
  int add_prefix_space, use_regex;  /* ByteLevel */
  char repl[8]; int repl_len;       /* Metaspace replacement character (UTF-8) */
  int prepend_scheme, split;        /* Metaspace */
  int individual;                   /* Digits */
} tok_pre;

enum { DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE };
typedef struct tok_dec {
  int kind;
  char *a, *b; int alen, blen;      /* Replace a → b (literal) */
  char content[8]; int content_len; /* Strip */
  int start, stop;                  /* Strip */
  char repl[8]; int repl_len;       /* Metaspace */
  int prepend_scheme;               /* Metaspace */
} tok_dec;

/* ---- vocabulary ---- */
enum { TOKF_PRESENT = 1, TOKF_ADDED = 2, TOKF_SPECIAL = 4, TOKF_BYTEFB = 8 };
typedef struct tok_entry {
  uint32_t key_off, key_len;  /* model string: raw bytes for byte-level vocabularies */
  uint32_t dec_off, dec_len;  /* decoder output for this token when it is not the first */
  uint32_t src_off, src_len;  /* the string as written in tokenizer.json (for the first token) */
  uint8_t flags;
} tok_entry;

typedef struct tok_added {
  int32_t id;
  uint32_t off, len;          /* content as matched (normalized for normalized tokens) */
  uint8_t special, normalized, lstrip, rstrip, single_word;
} tok_added;

enum { TOK_KIND_BPE = 1, TOK_KIND_BYTE = 2 };

typedef struct tok_cache_slot { uint64_t hash; char *key; int32_t *ids; int32_t key_len, n; } tok_cache_slot;

struct lpo_tokenizer {
  int kind;
  char path[1024];
  char *arena; uint32_t arena_n, arena_cap;   /* every string the tokenizer keeps */
  tok_entry *entries; int32_t n_ids;          /* ids 0..n_ids-1; holes have flags 0 */
  tok_strmap vocab;                           /* model vocabulary: key bytes → id */
  tok_strmap added_map;                       /* added token content → id */
  tok_mergemap merges;
  int32_t n_merges;

  /* model options */
  int byte_level;                             /* vocabulary spelled in the GPT-2 byte alphabet */
  int byte_fallback, fuse_unk, ignore_merges;
  int32_t unk_id;                             /* -1 none; -2 named but not in the vocabulary */
  int32_t byte_ids[256];                      /* byte-level: id of each byte; fallback: <0xNN> */

  /* pipeline */
  tok_norm *norms; int n_norms;
  tok_pre *pres; int n_pres;
  tok_dec *decs; int n_decs;
  int has_decoder, dec_lossy, dec_first_differs;
  int fuse_at;                                /* index of the first fusing decoder step */

  tok_added *added; int n_added;
  int32_t added_first[256];                   /* first index in `added` (sorted by first byte, then
                                                 length descending) per first byte; -1 none */
  int has_normalized_added;

  /* post-processor (TemplateProcessing single) and tokenizer_config.json */
  int32_t *pre_ids, *post_ids; int n_pre_ids, n_post_ids; int post_ok;
  int32_t bos_id, eos_id, pad_id;
  int add_bos, add_eos;
  char *chat_template;
  int max_dec_len;

  int64_t accounted;                          /* bytes reported to lpo_mem_account */
  pthread_mutex_t cache_lock;
  tok_cache_slot *cache; uint32_t cache_count;
};

/* arena: appends bytes, returns offset (or UINT32_MAX on OOM/overflow) */
uint32_t tok_arena_put(lpo_tokenizer *t, const void *s, size_t n);
void tok_account(lpo_tokenizer *t);
int tok_byte_equivalent(const lpo_tokenizer *t);  /* reports the tables' size to lpo_mem_account */
int tok_alloc_ids(lpo_tokenizer *t, int32_t n_ids);

/* UTF-8 */
int tok_utf8_len(unsigned char c);                                /* 1..4, 0 for a bad lead byte */
/* The valid sequence at s: its length (1..4); 0 if invalid; -k if the k bytes there are a valid
 * but incomplete start of a sequence. */
int tok_utf8_seq(const char *s, int64_t n);
int64_t tok_utf8_valid_prefix(const char *s, int64_t n);          /* bytes of s that are valid */
int tok_utf8_decode(const char *s, int64_t n, int32_t *cp);       /* valid input; returns length */
int tok_utf8_encode(int32_t cp, char *out);
int tok_is_whitespace(int32_t cp);                                /* Unicode White_Space */
int tok_is_word(int32_t cp);                                      /* letter, mark, number, _ */

/* byte-level alphabet (GPT-2): byte ↔ code point */
int32_t tok_bytelevel_cp(unsigned char b);
int tok_bytelevel_byte(int32_t cp);                               /* -1 outside the alphabet */
/* Maps a byte-level string to raw bytes into out (capacity >= n); returns length or -1 when a
 * character is outside the alphabet. */
int64_t tok_bytelevel_to_bytes(const char *s, int64_t n, char *out);

/* regex: compiles a tokenizer.json pattern (Oniguruma flavour) for PCRE2; `literal` for String
 * patterns. NULL + error naming `field` on failure. */
pcre2_code *tok_regex_compile(const char *pat, size_t len, int literal, const char *field);
int tok_regex_match(const pcre2_code *re, pcre2_match_data *md, const char *s, int64_t n,
                    int64_t from, int64_t *ms, int64_t *me);      /* 1 match, 0 none, -1 error */

/* pipeline parts */
int tok_parse_normalizer(lpo_tokenizer *t, const void *json, const char *field);
int tok_parse_pre_tokenizer(lpo_tokenizer *t, const void *json, const char *field);
int tok_parse_decoder(lpo_tokenizer *t, const void *json, const char *field);
void tok_pipeline_free(lpo_tokenizer *t);
int tok_normalize(const lpo_tokenizer *t, const char *s, int64_t n, tok_buf *out);
/* NFC/NFD/NFKC/NFKD (kind NORM_*) of valid UTF-8, appended to out; utf8proc only where needed. */
int tok_unicode_form(int kind, const char *s, int64_t n, tok_buf *out);

/* Pre-tokenization: pieces of text in `buf`. `first` marks the piece that begins at the
 * original offset 0 (Metaspace's prepend_scheme "first"). */
typedef struct tok_piece { int64_t off, len; int first; } tok_piece;
typedef struct tok_pieces { tok_piece *p; int64_t n, cap; } tok_pieces;
typedef struct tok_seg { int64_t a, b; int m; } tok_seg;  /* a split's part; m: it matched */
typedef struct tok_scratch {
  tok_buf buf;                    /* text of the pieces */
  tok_pieces a, b;                /* ping-pong piece lists */
  tok_seg *segs; int64_t seg_cap;
  tok_buf norm;                   /* normalizer output */
  tok_buf tmp;
  pcre2_match_data *md;
  void *sym; int64_t sym_cap;     /* BPE symbols of the current word */
  uint64_t *heap; int64_t heap_cap; /* BPE candidate merges (rank << 32 | position) */
} tok_scratch;
int tok_pretokenize(const lpo_tokenizer *t, tok_scratch *s, const char *text, int64_t n, int first,
                    tok_pieces **out);
void tok_scratch_free(tok_scratch *s);

/* BPE: appends the ids of one pre-tokenized word */
int tok_bpe_word(lpo_tokenizer *t, tok_scratch *s, const char *w, int64_t n, tok_ibuf *out);
void tok_cache_free(lpo_tokenizer *t);

/* decoding */
int tok_compute_dec(lpo_tokenizer *t, int32_t id, const char *src, size_t len, int first, tok_buf *out,
                    int *is_byte);
#endif
