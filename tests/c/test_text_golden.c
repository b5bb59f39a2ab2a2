/* Every line of golden files made by Hugging Face `tokenizers` (text, ids, decoded) must encode
 * to exactly those ids (encode(text, add_special_tokens=False)) and decode back to `decoded`
 * (decode(ids, skip_special_tokens=False)); the stream decoder, fed one id at a time, must give
 * the same text. Files: Qwen3's shared golden set (skips with 77 when ../shared is absent) and
 * the committed fixtures of tests/fixtures/tokenizers (made by make_fixtures.py). */
#include "check.h"
#include "lpo.h"
#include "lpo_text.h"
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)len + 1);
  if (fread(p, 1, (size_t)len, f) != (size_t)len) { free(p); fclose(f); return NULL; }
  fclose(f);
  p[len] = 0;
  *n = (size_t)len;
  return p;
}

/* The string value of "key" in a JSON line, unescaped with its true length (cJSON cuts
 * strings at an escaped NUL, and the golden texts contain one). Keys are found as ,"key":" or
 * {"key":" — inside a JSON string every quote is escaped, so these cannot occur there. */
static char *field_string(const char *line, const char *key, size_t *len) {
  char pat[64];
  const char *p = NULL;
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  for (const char *q = strstr(line, pat); q; q = strstr(q + 1, pat))
    if (q > line && (q[-1] == ',' || q[-1] == '{')) { p = q + strlen(pat); break; }
  if (!p) return NULL;
  char *out = malloc(strlen(p) + 1);
  size_t n = 0;
  while (*p && *p != '"') {
    if (*p != '\\') { out[n++] = *p++; continue; }
    char e = p[1];
    p += 2;
    const char *simple = strchr("\"\\/bfnrt", e);
    if (simple && e != 'u') { out[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"]; continue; }
    unsigned cp = (unsigned)strtoul((char[5]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
    p += 4;
    if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
      unsigned lo = (unsigned)strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p += 6;
    }
    if (cp < 0x80) out[n++] = (char)cp;
    else if (cp < 0x800) { out[n++] = (char)(0xC0 | cp >> 6); out[n++] = (char)(0x80 | (cp & 63)); }
    else if (cp < 0x10000) { out[n++] = (char)(0xE0 | cp >> 12); out[n++] = (char)(0x80 | ((cp >> 6) & 63)); out[n++] = (char)(0x80 | (cp & 63)); }
    else { out[n++] = (char)(0xF0 | cp >> 18); out[n++] = (char)(0x80 | ((cp >> 12) & 63)); out[n++] = (char)(0x80 | ((cp >> 6) & 63)); out[n++] = (char)(0x80 | (cp & 63)); }
  }
  out[n] = 0;
  *len = n;
  return out;
}

/* Checks one golden file; returns the number of lines, -1 if the file is missing. */
static int same_ids(const int32_t *got, int ngot, const cJSON *want) {
  if (ngot != cJSON_GetArraySize(want)) return 0;
  int i = 0;
  for (const cJSON *v = want->child; v; v = v->next, i++)
    if (got[i] != v->valueint) return 0;
  return 1;
}

static int check_golden(const char *dir, const char *path, double *mb_per_s) {
  size_t n;
  char *text = slurp(path, &n);
  if (!text) return -1;
  lpo_tokenizer *tok = lpo_tokenizer_load(dir);
  CHECK_MSG(tok != NULL, "load %s: %s", dir, lpo_last_error());
  if (!tok) { free(text); return 0; }
  int lines = 0, enc_bad = 0, dec_bad = 0, stream_bad = 0;
  static int32_t ids[65536], ids2[65536];
  char *out = malloc(1 << 20), *streamed = malloc(1 << 20);
  const char **texts = calloc(100000, sizeof *texts);
  size_t *lens = calloc(100000, sizeof *lens);
  cJSON **rows = calloc(100000, sizeof *rows);
  size_t total_bytes = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    cJSON *row = cJSON_Parse(line);
    CHECK_MSG(row != NULL, "%s:%d: bad JSON", path, lines + 1);
    if (!row) continue;
    const cJSON *want = cJSON_GetObjectItem(row, "ids");
    size_t slen, dlen;
    char *s = field_string(line, "text", &slen), *dec = field_string(line, "decoded", &dlen);
    if (!dec && cJSON_IsNull(cJSON_GetObjectItem(row, "decoded"))) dec = calloc(1, 1), dlen = 0;
    CHECK_MSG(s && dec && cJSON_IsArray(want), "%s:%d: needs text, ids, decoded", path, lines + 1);
    if (!s || !dec || !cJSON_IsArray(want)) { free(s); free(dec); cJSON_Delete(row); continue; }
    rows[lines] = row;
    texts[lines] = s;
    lens[lines] = slen;
    total_bytes += slen;
    int got = lpo_tokenizer_encode(tok, s, (int64_t)slen, LPO_TOK_SPECIAL, ids, 65536);
    int nwant = cJSON_GetArraySize(want);
    /* optional: special tokens as plain text (HF encode_special_tokens=True), and with the
     * post-processor's tokens added (add_special_tokens=True) */
    const cJSON *split = cJSON_GetObjectItem(row, "ids_special_split"), *added = cJSON_GetObjectItem(row, "ids_add_special");
    if (split) {
      int k = lpo_tokenizer_encode(tok, s, (int64_t)slen, 0, ids2, 65536);
      CHECK_MSG(same_ids(ids2, k, split), "%s:%d: special=0 encoding differs from HF encode_special_tokens", path, lines + 1);
    }
    if (added) {
      int k = lpo_tokenizer_encode(tok, s, (int64_t)slen, LPO_TOK_SPECIAL | LPO_TOK_ADD_SPECIAL, ids2, 65536);
      CHECK_MSG(same_ids(ids2, k, added), "%s:%d: add_special encoding differs from HF add_special_tokens=True", path, lines + 1);
    }
    int same = got == nwant;
    for (int i = 0; same && i < nwant; i++) same = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
    if (!same) {
      enc_bad++;
      if (enc_bad <= 5) {
        fprintf(stderr, "%s:%d: encode mismatch (got %d ids, want %d): %.60s\n", path, lines + 1, got, nwant, s);
        for (int i = 0; i < nwant && i < got; i++)
          if (ids[i] != cJSON_GetArrayItem(want, i)->valueint) {
            fprintf(stderr, "  first difference at %d: got %d want %d\n", i, ids[i], cJSON_GetArrayItem(want, i)->valueint);
            break;
          }
      }
    }
    /* decode the golden ids, whole and streamed */
    int32_t wid[65536];
    for (int i = 0; i < nwant; i++) wid[i] = cJSON_GetArrayItem(want, i)->valueint;
    int dn = lpo_tokenizer_decode(tok, wid, nwant, out, 1 << 20);
    int null_dec = strstr(line, ",\"decoded\":null") != NULL;  /* HF itself failed to decode */
    if (!null_dec && (dn < 0 || (size_t)dn != dlen || memcmp(out, dec, dlen) != 0)) {
      dec_bad++;
      if (dec_bad <= 5) fprintf(stderr, "%s:%d: decode mismatch: [%.60s] want [%.60s]\n", path, lines + 1, dn >= 0 ? out : "", dec);
    }
    free(dec);
    lpo_tok_stream *st = lpo_tok_stream_new(tok);
    size_t sn = 0;
    for (int i = 0; i <= nwant; i++) {
      int k = i < nwant ? lpo_tok_stream_push(st, wid[i]) : lpo_tok_stream_flush(st);
      if (k < 0) { sn = (size_t)-1; break; }
      memcpy(streamed + sn, lpo_tok_stream_text(st), (size_t)k);
      sn += (size_t)k;
    }
    lpo_tok_stream_free(st);
    if (dn < 0 || sn != (size_t)dn || memcmp(streamed, out, sn) != 0) {
      stream_bad++;
      if (stream_bad <= 5) fprintf(stderr, "%s:%d: stream decode differs from whole decode\n", path, lines + 1);
    }
    lines++;
  }
  CHECK_MSG(enc_bad == 0, "%s: %d of %d lines encode differently", path, enc_bad, lines);
  CHECK_MSG(dec_bad == 0, "%s: %d of %d lines decode differently", path, dec_bad, lines);
  CHECK_MSG(stream_bad == 0, "%s: %d of %d lines stream-decode differently", path, stream_bad, lines);

  if (mb_per_s) {  /* encode throughput over the golden texts, after one warm pass */
    struct timespec a, b;
    int reps = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
      for (int i = 0; i < lines; i++) lpo_tokenizer_encode(tok, texts[i], (int64_t)lens[i], LPO_TOK_SPECIAL, ids, 65536);
      reps++;
      clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec) < 0.5);
    double dt = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    *mb_per_s = (double)total_bytes * reps / dt / 1e6;
  }
  for (int i = 0; i < lines; i++) { cJSON_Delete(rows[i]); free((char *)texts[i]); }
  free(rows); free(texts); free(lens); free(out); free(streamed); free(text);
  lpo_tokenizer_free(tok);
  return lines;
}

int main(void) {
  /* committed fixtures first: they need nothing outside the repo */
  static const char *fixtures[] = {"sp", "bl", "byte"};
  for (int i = 0; i < 3; i++) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "tests/fixtures/tokenizers/%s", fixtures[i]);
    snprintf(path, sizeof path, "%s/golden.jsonl", dir);
    int n = check_golden(dir, path, NULL);
    if (i == 2) {  /* an HF file of the byte tokenizer loads as the byte tokenizer */
      lpo_tokenizer *t = lpo_tokenizer_load(dir);
      CHECK_MSG(t && strcmp(lpo_tokenizer_kind(t), "byte") == 0, "byte/tokenizer.json loads as %s", t ? lpo_tokenizer_kind(t) : "?");
      lpo_tokenizer_free(t);
    }
    CHECK_MSG(n >= 80, "%s: %d lines (missing fixture?)", path, n);
    printf("%s: %d golden lines\n", fixtures[i], n);
  }
  double mbs = 0;
  char dir[512], path[600];  /* LPO_SHARED overrides ../shared (a worktree not beside shared/) */
  snprintf(dir, sizeof dir, "%s/data/tokenizers/qwen3", getenv("LPO_SHARED") ? getenv("LPO_SHARED") : "../shared");
  snprintf(path, sizeof path, "%s/golden.jsonl", dir);
  int n = check_golden(dir, path, &mbs);
  if (n < 0) {
    fprintf(stderr, "SKIP: %s not found (clone shared/ beside the repo or set LPO_SHARED)\n", path);
    return check_done("test_text_golden") ? 1 : 77;  /* a fixture failure is not a skip */
  }
  CHECK_MSG(n == 361, "qwen3 golden has %d lines, expected 361", n);
  printf("qwen3: %d golden lines; encode %.2f MB/s (one thread)\n", n, mbs);
  n = check_golden(dir, "tests/fixtures/tokenizers/qwen3_extra.jsonl", NULL);
  CHECK_MSG(n >= 80, "qwen3_extra: %d lines", n);
  printf("qwen3_extra: %d lines\n", n);
  return check_done("test_text_golden");
}
