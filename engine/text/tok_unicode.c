/* tok_unicode.c — UTF-8, Unicode character classes (utf8proc), the GPT-2 byte alphabet, and
 * tokenizer.json regexes on PCRE2.
 *
 * Hugging Face compiles Split patterns with Oniguruma. PCRE2 (UTF + UCP) reads the same syntax
 * for what tokenizers use — \p{L}, \p{N}, (?i:...), lookahead — with two differences we fix by
 * rewriting the pattern: Oniguruma's \s is Unicode White_Space while PCRE2's also takes U+180E
 * (so \s/\S become \p{White_Space}/\P{White_Space}), and Oniguruma's \h is a hex digit. */
#include "text_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

int tok_utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid, or -k when the k bytes
 * available are a valid but incomplete start of a sequence (k < needed). */
static int utf8_seq(const unsigned char *s, int64_t n) {
  int len = tok_utf8_len(s[0]);
  if (len <= 1) return len;
  unsigned lo = 0x80, hi = 0xBF;  /* the second byte's range excludes overlongs and surrogates */
  if (s[0] == 0xE0) lo = 0xA0;
  else if (s[0] == 0xED) hi = 0x9F;
  else if (s[0] == 0xF0) lo = 0x90;
  else if (s[0] == 0xF4) hi = 0x8F;
  for (int i = 1; i < len; i++) {
    if (i >= n) return -i;
    unsigned c = s[i];
    if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return 0;
  }
  return len;
}

int tok_utf8_seq(const char *s, int64_t n) { return utf8_seq((const unsigned char *)s, n); }

int64_t tok_utf8_valid_prefix(const char *s, int64_t n) {
  int64_t i = 0;
  while (i < n) {
    if ((unsigned char)s[i] < 0x80) { i++; continue; }
    int k = utf8_seq((const unsigned char *)s + i, n - i);
    if (k <= 0) return i;
    i += k;
  }
  return n;
}

int tok_utf8_decode(const char *s, int64_t n, int32_t *cp) {
  utf8proc_int32_t c;
  utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, n, &c);
  if (k <= 0) { *cp = 0xFFFD; return 1; }
  *cp = c;
  return (int)k;
}

int tok_utf8_encode(int32_t cp, char *out) {
  return (int)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
}

int tok_is_whitespace(int32_t cp) {
  if ((cp >= 9 && cp <= 13) || cp == 0x20 || cp == 0x85) return 1;
  if (cp < 0x80) return 0;
  utf8proc_category_t c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

int tok_is_word(int32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  if (cp == 0x200C || cp == 0x200D) return 1;
  switch (utf8proc_category(cp)) {
  case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
    return 1;
  default:
    return 0;
  }
}

/* GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * (controls, space, 0x7F-0xA0, 0xAD) take code points 256, 257, ... in byte order. */
static int visible(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174); }

int32_t tok_bytelevel_cp(unsigned char b) {
  if (visible(b)) return b;
  int32_t k = 0;
  for (unsigned x = 0; x < b; x++) k += !visible(x);
  return 256 + k;
}

int tok_bytelevel_byte(int32_t cp) {
  static int16_t inv[324];
  static int ready;
  if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    int16_t tmp[324];
    for (int i = 0; i < 324; i++) tmp[i] = -1;
    for (int b = 0; b < 256; b++) tmp[tok_bytelevel_cp((unsigned char)b)] = (int16_t)b;
    memcpy(inv, tmp, sizeof inv);  /* racing initializers write identical values */
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
  }
  return (cp >= 0 && cp < 324) ? inv[cp] : -1;
}

int64_t tok_bytelevel_to_bytes(const char *s, int64_t n, char *out) {
  int64_t o = 0;
  for (int64_t i = 0; i < n;) {
    int32_t cp;
    int k = tok_utf8_decode(s + i, n - i, &cp);
    int b = tok_bytelevel_byte(cp);
    if (b < 0) return -1;
    out[o++] = (char)b;
    i += k;
  }
  return o;
}

/* ---- regex ---- */
pcre2_code *tok_regex_compile(const char *pat, size_t len, int literal, const char *field) {
  tok_buf rw = {0};
  const char *src = pat;
  size_t srclen = len;
  if (!literal) {
    /* Rewrite Oniguruma-only escapes; \Q..\E quoting and escaped backslashes pass through. */
    int in_class = 0;
    for (size_t i = 0; i < len; i++) {
      char c = pat[i];
      int rc = 0;
      if (c == '\\' && i + 1 < len) {
        char e = pat[i + 1];
        if (e == 's') rc = tok_buf_put(&rw, "\\p{White_Space}", 15);
        else if (e == 'S') rc = tok_buf_put(&rw, "\\P{White_Space}", 15);
        else if (e == 'h') rc = in_class ? tok_buf_put(&rw, "0-9a-fA-F", 9) : tok_buf_put(&rw, "[0-9a-fA-F]", 11);
        else if (e == 'H' && !in_class) rc = tok_buf_put(&rw, "[^0-9a-fA-F]", 12);
        else if (e == 'Q') {
          size_t j = i + 2;
          while (j + 1 < len && !(pat[j] == '\\' && pat[j + 1] == 'E')) j++;
          size_t end = (j + 1 < len) ? j + 2 : len;
          rc = tok_buf_put(&rw, pat + i, (int64_t)(end - i));
          i = end - 1;
          if (rc) { tok_buf_free(&rw); return NULL; }
          continue;
        } else rc = tok_buf_put(&rw, pat + i, 2);
        i++;
      } else {
        if (c == '[' && !in_class) in_class = 1;
        else if (c == ']' && in_class) in_class = 0;
        rc = tok_buf_put(&rw, &c, 1);
      }
      if (rc) { tok_buf_free(&rw); return NULL; }
    }
    src = rw.p ? rw.p : "";
    srclen = (size_t)rw.n;
  }
  int err;
  PCRE2_SIZE eoff;
  uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);  /* UCP is refused with LITERAL */
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, srclen, opts, &err, &eoff, NULL);
  int rewritten = srclen != len;
  tok_buf_free(&rw);
  if (!re) {
    PCRE2_UCHAR msg[256];
    char at[64] = "";
    pcre2_get_error_message(err, msg, sizeof msg);
    if (!rewritten) snprintf(at, sizeof at, " (near offset %zu)", (size_t)eoff);  /* offsets of our rewrite would mislead */
    lpo_set_error("%s: invalid regex /%.*s/: %s%s", field, (int)(len > 200 ? 200 : len), pat, (const char *)msg, at);
    return NULL;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  /* optional: without JIT pcre2_match interprets */
  return re;
}

int tok_regex_match(const pcre2_code *re, pcre2_match_data *md, const char *s, int64_t n, int64_t from,
                    int64_t *ms, int64_t *me) {
  /* The subject was validated once per encode; checking it again on every call would make
   * iterating over a text quadratic. */
  int rc = pcre2_match(re, (PCRE2_SPTR)s, (PCRE2_SIZE)n, (PCRE2_SIZE)from, PCRE2_NO_UTF_CHECK, md, NULL);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
    rc = pcre2_match(re, (PCRE2_SPTR)s, (PCRE2_SIZE)n, (PCRE2_SIZE)from, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return lpo_set_error("tokenizer: regex match failed: %s", (const char *)msg);
  }
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);  /* rc == 0: ovector too small, match still valid */
  *ms = (int64_t)ov[0];
  *me = (int64_t)ov[1];
  return 1;
}
