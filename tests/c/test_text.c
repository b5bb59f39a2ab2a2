/* Tokenizer engine details: the heap BPE against a plain O(n^2) reference merge loop, long
 * words, buffer-size contracts, streaming of split characters, the byte tokenizer on random
 * bytes, errors, and concurrent encoding. Uses the committed fixtures only. */
#include "check.h"
#include "lpo.h"
#include "lpo_text.h"
#include "text/text_internal.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Reference BPE: repeatedly merge the lowest-ranked adjacent pair, leftmost first. */
static int ref_bpe(const lpo_tokenizer *t, const char *w, int n, int32_t *out) {
  int k = 0;
  for (int i = 0; i < n; i++) out[k++] = t->byte_ids[(unsigned char)w[i]];
  for (;;) {
    int best = -1;
    int32_t best_rank = INT32_MAX, best_id = -1;
    for (int i = 0; i + 1 < k; i++) {
      const tok_merge_slot *m = tok_mergemap_get(&t->merges, out[i], out[i + 1]);
      if (m && m->rank < best_rank) { best = i; best_rank = m->rank; best_id = m->id; }
    }
    if (best < 0) return k;
    out[best] = best_id;
    memmove(out + best + 1, out + best + 2, (size_t)(k - best - 2) * sizeof *out);
    k--;
  }
}

static void test_bpe_against_reference(void) {
  lpo_tokenizer *t = lpo_tokenizer_load("tests/fixtures/tokenizers/bl");
  CHECK_MSG(t != NULL, "load: %s", lpo_last_error());
  if (!t) return;
  lpo_philox rng;
  lpo_philox_init(&rng, lpo_philox_key(7, 1, 0, 0, 0), 0);
  static const char alphabet[] = "aeiourstnlcdpm_ ()=:.,'\"xyzq0123\n\t";
  tok_scratch s = {0};
  tok_ibuf got = {0};
  int32_t want[512];
  int bad = 0;
  for (int trial = 0; trial < 3000; trial++) {
    char w[300];
    int n = 1 + (int)(lpo_philox_u32(&rng) % (trial < 2900 ? 40 : 300));
    for (int i = 0; i < n; i++) w[i] = alphabet[lpo_philox_u32(&rng) % (sizeof alphabet - 1)];
    got.n = 0;
    int rc = tok_bpe_word(t, &s, w, n, &got);
    int k = ref_bpe(t, w, n, want);
    int same = rc == 0 && got.n == k;
    for (int i = 0; same && i < k; i++) same = got.p[i] == want[i];
    if (!same && bad++ < 3) fprintf(stderr, "BPE differs from the reference on %.*s\n", n, w);
  }
  CHECK_MSG(bad == 0, "%d of 3000 random words differ from the reference merge loop", bad);
  tok_scratch_free(&s);
  tok_ibuf_free(&got);
  lpo_tokenizer_free(t);
}

/* SentencePiece-style files have no pre-tokenizer: a whole line is one BPE word. A 300 kB
 * line must stay fast (heap merge loop) and decode back. */
static void test_long_word(void) {
  lpo_tokenizer *t = lpo_tokenizer_load("tests/fixtures/tokenizers/sp");
  CHECK_MSG(t != NULL, "load: %s", lpo_last_error());
  if (!t) return;
  int n = 300000;
  char *text = malloc((size_t)n + 1);
  static const char words[] = "def return value index 中文 count ";
  for (int i = 0; i < n; i++) text[i] = words[i % (sizeof words - 1)];
  while ((text[n - 1] & 0xC0) == 0x80 || (unsigned char)text[n - 1] >= 0xC0) n--;  /* whole characters */
  text[n] = 0;
  int32_t *ids = malloc((size_t)(n + 16) * sizeof *ids);
  double t0 = now();
  int k = lpo_tokenizer_encode(t, text, n, LPO_TOK_SPECIAL, ids, n + 16);
  double dt = now() - t0;
  CHECK_MSG(k > 0 && k <= n, "encode returned %d", k);
  CHECK_MSG(dt < 2.0, "a %d-byte word took %.2f s (quadratic merge loop?)", n, dt);
  char *back = malloc((size_t)n + 8);
  int m = lpo_tokenizer_decode(t, ids, k, back, n + 8);
  CHECK_MSG(m == n && memcmp(back, text, (size_t)n) == 0, "long word does not decode back (%d bytes)", m);
  printf("long word: %d bytes -> %d ids in %.3f s\n", n, k, dt);
  free(back); free(ids); free(text);
  lpo_tokenizer_free(t);
}

static void test_buffer_contracts(void) {
  lpo_tokenizer *t = lpo_tokenizer_load("tests/fixtures/tokenizers/bl");
  if (!t) { CHECK(0); return; }
  const char *text = "def add(a, b):\n    return a + b\n";
  int32_t full[256], part[4] = {-7, -7, -7, -7};
  int n = lpo_tokenizer_encode(t, text, -1, LPO_TOK_SPECIAL, full, 256);
  CHECK(n > 4);
  int m = lpo_tokenizer_encode(t, text, (int64_t)strlen(text), LPO_TOK_SPECIAL, part, 3);
  CHECK_MSG(m == n, "a small cap still returns the full count (%d vs %d)", m, n);
  CHECK(part[0] == full[0] && part[2] == full[2] && part[3] == -7);
  CHECK(lpo_tokenizer_encode(t, text, -1, LPO_TOK_SPECIAL, NULL, 0) == n);
  char out[8];
  memset(out, 'Z', sizeof out);
  int len = lpo_tokenizer_decode(t, full, n, out, 5);
  CHECK_MSG(len == (int)strlen(text), "decode returns the text length (%d)", len);
  CHECK(memcmp(out, text, 5) == 0 && out[5] == 'Z');
  char big[256];
  CHECK(lpo_tokenizer_decode(t, full, n, big, 256) == len && big[len] == 0 && strcmp(big, text) == 0);
  CHECK(lpo_tokenizer_decode(t, full, 0, big, 256) == 0 && big[0] == 0);
  /* errors */
  int32_t neg = -3;
  CHECK(lpo_tokenizer_decode(t, &neg, 1, big, 256) == -1 && strstr(lpo_last_error(), "negative token id -3"));
  CHECK(lpo_tokenizer_encode(t, "ab\xe2\x82", 4, LPO_TOK_SPECIAL, full, 256) == -1);
  CHECK_MSG(strstr(lpo_last_error(), "not valid UTF-8 at byte 2") != NULL, "%s", lpo_last_error());
  CHECK(lpo_tokenizer_encode(NULL, "x", 1, 0, full, 256) == -1);
  CHECK(lpo_tokenizer_load("tests/fixtures/tokenizers/no-such") == NULL && strstr(lpo_last_error(), "no-such"));
  /* accessors */
  CHECK(lpo_tokenizer_token_id(t, "<|im_end|>") >= 0 && lpo_tokenizer_is_special(t, lpo_tokenizer_token_id(t, "<|im_end|>")));
  CHECK(lpo_tokenizer_token_id(t, "definitely not a token") == -1);
  CHECK(strcmp(lpo_tokenizer_kind(t), "bpe-bytelevel") == 0);
  int blen;
  const char *b = lpo_tokenizer_token_bytes(t, lpo_tokenizer_token_id(t, "Ġ"), &blen);
  CHECK(b && blen == 1 && b[0] == ' ');
  CHECK(lpo_tokenizer_token_bytes(t, 1 << 20, &blen) == NULL && blen == 0);
  lpo_tokenizer_free(t);
}

static void test_stream_split_characters(void) {
  lpo_tokenizer *t = lpo_tokenizer_byte();
  const char *s = "a\xc3\xa9\xf0\x9f\x99\x82z";  /* a é 🙂 z */
  lpo_tok_stream *st = lpo_tok_stream_new(t);
  int expect[] = {1, 0, 2, 0, 0, 0, 4, 1};  /* bytes ready after each push */
  for (int i = 0; i < 8; i++) {
    int k = lpo_tok_stream_push(st, (unsigned char)s[i]);
    CHECK_MSG(k == expect[i], "push %d: %d bytes ready, want %d", i, k, expect[i]);
  }
  CHECK(lpo_tok_stream_flush(st) == 0);
  lpo_tok_stream_reset(st);
  CHECK(lpo_tok_stream_push(st, 0xF0) == 0 && lpo_tok_stream_push(st, 0x9F) == 0);
  CHECK_MSG(lpo_tok_stream_flush(st) == 2, "an unfinished character comes out raw at the end (byte tokenizer)");
  CHECK(lpo_tok_stream_push(st, -1) == -1);
  lpo_tok_stream_free(st);

  /* random bytes round-trip through the byte tokenizer, whole and streamed */
  lpo_philox rng;
  lpo_philox_init(&rng, lpo_philox_key(11, 2, 0, 0, 0), 0);
  int bad = 0;
  for (int trial = 0; trial < 200; trial++) {
    char in[300], out[400], streamed[400];
    int32_t ids[400];
    int n = (int)(lpo_philox_u32(&rng) % 300);
    for (int i = 0; i < n; i++) in[i] = (char)(lpo_philox_u32(&rng) & 0xFF);
    int k = lpo_tokenizer_encode(t, in, n, 0, ids, 400);
    int m = lpo_tokenizer_decode(t, ids, k, out, 400);
    st = lpo_tok_stream_new(t);
    int sn = 0;
    for (int i = 0; i <= k; i++) {
      int r = i < k ? lpo_tok_stream_push(st, ids[i]) : lpo_tok_stream_flush(st);
      memcpy(streamed + sn, lpo_tok_stream_text(st), (size_t)r);
      sn += r;
    }
    lpo_tok_stream_free(st);
    bad += !(k == n && m == n && memcmp(in, out, (size_t)n) == 0 && sn == n && memcmp(in, streamed, (size_t)n) == 0);
  }
  CHECK_MSG(bad == 0, "%d of 200 random byte strings do not round-trip", bad);
  CHECK(lpo_tokenizer_vocab_size(t) == 261 && lpo_tokenizer_token_id(t, "<|im_end|>") == 260);
  lpo_tokenizer_free(t);

  /* byte-level BPE: invalid UTF-8 in ids becomes U+FFFD, as HF's from_utf8_lossy */
  t = lpo_tokenizer_load("tests/fixtures/tokenizers/bl");
  if (!t) { CHECK(0); return; }
  int32_t lone[3] = {lpo_tokenizer_token_id(t, "a"), lpo_tokenizer_token_id(t, "\xc3\xa4"), lpo_tokenizer_token_id(t, "b")};
  /* "ä" in the byte alphabet is byte 0xE4, a lead byte without continuation */
  char out[32];
  int m = lpo_tokenizer_decode(t, lone, 3, out, 32);
  CHECK_MSG(m == 5 && memcmp(out, "a\xef\xbf\xbd" "b", 5) == 0, "lossy decode: %d bytes", m);
  st = lpo_tok_stream_new(t);
  CHECK(lpo_tok_stream_push(st, lone[0]) == 1);
  CHECK_MSG(lpo_tok_stream_push(st, lone[1]) == 0, "an incomplete lead byte is held back");
  CHECK(lpo_tok_stream_push(st, lone[2]) == 4 && memcmp(lpo_tok_stream_text(st), "\xef\xbf\xbd" "b", 4) == 0);
  lpo_tok_stream_free(st);
  lpo_tokenizer_free(t);
}

typedef struct { lpo_tokenizer *t; int seed, bad; } job;
static const char *TEXTS[] = {"def f(x):\n    return x + 1\n", "for i in range(10): print(i)", "naïve café 中文 🙂",
                              "while True:\n\tpass", "  spaces   and\ttabs  ", "x = [a, b, c]; y = {'k': 2}"};
static void *worker(void *arg) {
  job *j = arg;
  int32_t a[256], b[256];
  for (int r = 0; r < 2000; r++) {
    const char *s = TEXTS[(r + j->seed) % 6];
    int n = lpo_tokenizer_encode(j->t, s, -1, LPO_TOK_SPECIAL, a, 256);
    int m = lpo_tokenizer_encode(j->t, s, -1, LPO_TOK_SPECIAL, b, 256);
    if (n <= 0 || n != m || memcmp(a, b, (size_t)n * sizeof *a) != 0) j->bad++;
  }
  return NULL;
}

static void test_threads(void) {
  lpo_tokenizer *t = lpo_tokenizer_load("tests/fixtures/tokenizers/bl");
  if (!t) { CHECK(0); return; }
  int32_t want[6][256];
  int wn[6];
  for (int i = 0; i < 6; i++) wn[i] = lpo_tokenizer_encode(t, TEXTS[i], -1, LPO_TOK_SPECIAL, want[i], 256);
  pthread_t th[4];
  job jobs[4];
  for (int i = 0; i < 4; i++) { jobs[i] = (job){t, i, 0}; pthread_create(&th[i], NULL, worker, &jobs[i]); }
  int bad = 0;
  for (int i = 0; i < 4; i++) { pthread_join(th[i], NULL); bad += jobs[i].bad; }
  CHECK_MSG(bad == 0, "%d inconsistent encodings across threads", bad);
  for (int i = 0; i < 6; i++) {
    int32_t again[256];
    int n = lpo_tokenizer_encode(t, TEXTS[i], -1, LPO_TOK_SPECIAL, again, 256);
    CHECK(n == wn[i] && memcmp(again, want[i], (size_t)n * sizeof *again) == 0);
  }
  lpo_tokenizer_free(t);
}

/* Segment-wise normal forms against utf8proc on the whole text, on random strings built
 * from the characters that interact: combining marks, class-0 second elements (Indic vowel
 * signs), Hangul jamo and syllables, singletons and compatibility characters, CJK, ASCII. */
static void test_normal_forms_against_utf8proc(void) {
  static const int32_t pool[] = {
    'a', 'e', 'o', 'A', 'K', ' ', '1', 0x301, 0x300, 0x308, 0x327, 0x323, 0x306, 0x3099, 0x309A, 0x304B, 0x30AB,
    0x9C7, 0x9BE, 0x9D7, 0xCC6, 0xCC2, 0xCD5, 0xCD6, 0xB47, 0xB3E, 0xB56, 0xB57, 0x1100, 0x1101, 0x1161, 0x1162,
    0x11A8, 0x11A9, 0xAC00, 0xAC01, 0xD7A3, 0x2126, 0x212B, 0x212A, 0xFB01, 0x2460, 0x1E9B, 0x0344, 0x0F73,
    0x4E2D, 0xF900, 0x438, 0x439, 0x3B1, 0x3AC, 0x1F600, 0xE9, 0xC5, 0x1E0A, 0x0FB5, 0x05B0, 0x05B8};
  static const int kinds[] = {NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD};
  static const utf8proc_option_t opts[] = {UTF8PROC_COMPOSE, UTF8PROC_DECOMPOSE, UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
                                           UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
  lpo_philox rng;
  lpo_philox_init(&rng, lpo_philox_key(5, 3, 0, 0, 0), 0);
  int bad = 0;
  for (int trial = 0; trial < 4000; trial++) {
    char s[256];
    int n = 0, len = 1 + (int)(lpo_philox_u32(&rng) % 20);
    for (int i = 0; i < len; i++)
      n += (int)utf8proc_encode_char(pool[lpo_philox_u32(&rng) % (sizeof pool / sizeof *pool)], (utf8proc_uint8_t *)s + n);
    for (int f = 0; f < 4; f++) {
      tok_buf out = {0};
      utf8proc_uint8_t *want = NULL;
      utf8proc_ssize_t wn = utf8proc_map((const utf8proc_uint8_t *)s, n, &want, UTF8PROC_STABLE | opts[f]);
      int rc = tok_unicode_form(kinds[f], s, n, &out);
      if (rc || wn != out.n || memcmp(want, out.p, (size_t)wn) != 0) {
        if (bad++ < 3) fprintf(stderr, "normal form %d of a %d-byte string differs from utf8proc\n", f, n);
      }
      free(want);
      tok_buf_free(&out);
    }
  }
  CHECK_MSG(bad == 0, "%d of 16000 segment-wise normalizations differ from utf8proc", bad);
  /* every code point that composes, decomposes or is a mark, between letters and marks */
  int tried = 0;
  bad = 0;
  for (int32_t cp = 0x80; cp < 0x30000; cp++) {
    const utf8proc_property_t *p = utf8proc_get_property(cp);
    if (p->category == UTF8PROC_CATEGORY_CN || (cp >= 0xD800 && cp < 0xE000)) continue;
    if (p->combining_class == 0 && p->comb_index == UINT16_MAX && p->decomp_seqindex == UINT16_MAX &&
        !(cp >= 0x1100 && cp < 0x1200) && !(cp >= 0xAC00 && cp <= 0xD7A3))
      continue;
    int32_t seq[] = {'e', 0x308, cp, 0x301, cp, 'a', 0x1100, cp, 0x1161};
    char s[64];
    int n = 0;
    for (int i = 0; i < 9; i++) n += (int)utf8proc_encode_char(seq[i], (utf8proc_uint8_t *)s + n);
    for (int f = 0; f < 4; f++) {
      tok_buf out = {0};
      utf8proc_uint8_t *want = NULL;
      utf8proc_ssize_t wn = utf8proc_map((const utf8proc_uint8_t *)s, n, &want, UTF8PROC_STABLE | opts[f]);
      int rc = tok_unicode_form(kinds[f], s, n, &out);
      if (rc || wn != out.n || memcmp(want, out.p, (size_t)wn) != 0) {
        if (bad++ < 3) fprintf(stderr, "normal form %d around U+%04X differs from utf8proc\n", f, (unsigned)cp);
      }
      free(want);
      tok_buf_free(&out);
    }
    tried++;
  }
  CHECK_MSG(bad == 0 && tried > 5000, "%d of %d interacting code points normalize differently", bad, tried);
}

int main(void) {
  test_normal_forms_against_utf8proc();
  test_bpe_against_reference();
  test_long_word();
  test_buffer_contracts();
  test_stream_split_characters();
  test_threads();
  return check_done("test_text");
}
