/* generate.c — the batched sampler (see lpo_gen.h for the contract).
 *
 * Rows of the KV cache are grouped in slots of n rows; a slot holds one prompt. Each
 * round of the loop (1) fills empty slots with the next prompts — one batched prefill of
 * their first rows, then copy_row to the other n-1 rows — and samples each row's first
 * token from the prefill logits, (2) runs one batched decode step over the active rows,
 * (3) samples, checks stops, and frees a slot when its n rows have all stopped. */
#include "lpo.h"
#include "lpo_gen.h"
#include "lpo_sample.h"
#include <stdlib.h>
#include <string.h>

enum { TAIL_CAP = 256 };   /* bytes of recent output kept per row for stop strings */

typedef struct row_state {
  int32_t prompt;          /* prompt index, -1 when the row is free */
  int32_t sample;          /* j in [0, n) */
  int32_t active;          /* still generating */
  int32_t count;           /* tokens generated */
  uint64_t key;            /* Philox key of (seed, purpose, round, prompt key, sample) */
  int32_t tail_len;
  char tail[TAIL_CAP];
} row_state;

static int is_stop_id(const lpo_gen_config *cfg, int32_t id) {
  for (int i = 0; i < cfg->n_stop_ids; i++) if (cfg->stop_ids[i] == id) return 1;
  return 0;
}

/* Appends a token's bytes to the row's tail; returns 1 if a stop string now occurs in
 * the tail ending inside the new bytes (so each stop is found exactly when completed). */
static int push_bytes(row_state *r, const char *bytes, int n, const lpo_gen_config *cfg) {
  if (n >= TAIL_CAP) { bytes += n - (TAIL_CAP - 1); n = TAIL_CAP - 1; }
  if (r->tail_len + n > TAIL_CAP) {
    int drop = r->tail_len + n - TAIL_CAP;
    memmove(r->tail, r->tail + drop, (size_t)(r->tail_len - drop));
    r->tail_len -= drop;
  }
  memcpy(r->tail + r->tail_len, bytes, (size_t)n);
  r->tail_len += n;
  for (int s = 0; s < cfg->n_stop_strings; s++) {
    const char *stop = cfg->stop_strings[s];
    int sl = (int)strlen(stop);
    if (sl == 0 || sl > r->tail_len) continue;
    /* A match must end in the new bytes: start >= tail_len - n - sl + 1. */
    int first = r->tail_len - n - sl + 1;
    if (first < 0) first = 0;
    for (int st = first; st + sl <= r->tail_len; st++)
      if (memcmp(r->tail + st, stop, (size_t)sl) == 0) return 1;
  }
  return 0;
}

/* The draws of one step: rows with want[r] set, each independent of the others (its own
 * Philox key and counter), so they are split over the host pool; part tid uses scratch
 * slot tid. The sampler's rows were a serial tail of every decode step (a sort of V
 * probabilities per row) that the pool's other threads sat through. */
typedef struct draw_job {
  const float *logits;
  const lpo_sample_config *sc;
  const row_state *rs;
  const uint8_t *want;
  char *scratch;
  size_t stride;       /* bytes per scratch slot */
  int32_t *id;         /* [rows] drawn token, -1 on error */
  float *lp;           /* [rows] its log-prob */
  int V;
} draw_job;

static void draw_task(void *ctx, int r0, int r1, int tid) {
  const draw_job *d = ctx;
  void *scratch = d->scratch + (size_t)tid * d->stride;
  for (int r = r0; r < r1; r++)
    if (d->want[r])
      d->id[r] = lpo_sample_next(d->logits + (size_t)r * d->V, d->V, d->sc, d->rs[r].key, (uint64_t)d->rs[r].count, scratch, &d->lp[r]);
}

int lpo_generate(lpo_model *m, const lpo_tokenizer *tok, const int32_t *const *prompts,
                 const int32_t *prompt_lens, const uint64_t *prompt_keys, int32_t P,
                 const lpo_gen_config *cfg, int32_t *ids, float *logps, int32_t *len, int32_t *stop,
                 lpo_gen_progress_fn progress, void *user) {
  if (!cfg || cfg->n < 1 || cfg->max_new_tokens < 1 || P < 0)
    return lpo_set_error("generate: n (%d) and max_new_tokens (%d) must be >= 1", cfg ? cfg->n : 0, cfg ? cfg->max_new_tokens : 0);
  if (cfg->n_stop_strings > 0 && !tok) return lpo_set_error("generate: stop strings need a tokenizer");
  lpo_sample_config sc = { cfg->temperature, cfg->top_k, cfg->top_p };
  if (lpo_sample_check(&sc)) return -1;
  for (int s = 0; s < cfg->n_stop_strings; s++)
    if ((int)strlen(cfg->stop_strings[s]) >= TAIL_CAP) return lpo_set_error("generate: stop string %d longer than %d bytes", s, TAIL_CAP - 1);
  const int n = cfg->n, V = lpo_model_get_config(m)->vocab_size;
  int max_seq = cfg->max_seq > 0 ? cfg->max_seq : 1024;
  for (int i = 0; i < P; i++) {
    if (prompt_lens[i] < 1) return lpo_set_error("generate: prompt %d is empty", i);
    if (prompt_lens[i] >= max_seq) return lpo_set_error("generate: prompt %d has %d tokens, max_seq is %d", i, prompt_lens[i], max_seq);
  }
  int slots = (cfg->max_rows > n ? cfg->max_rows : n) / n;
  if (slots > P && P > 0) slots = P;
  if (slots < 1) slots = 1;
  const int rows = slots * n;
  /* A row never holds more than its prompt and max_new_tokens - 1 generated tokens (the
   * last one is emitted, not decoded), so the cache needs no more positions than that:
   * the cache is allocated (and zeroed) at every call, and sizing it for max_seq (1024
   * by default) cost more than a short sampling run itself. */
  int maxT = 1;
  for (int i = 0; i < P; i++) if (prompt_lens[i] > maxT) maxT = prompt_lens[i];
  int64_t need = (int64_t)maxT + cfg->max_new_tokens;
  int cache_seq = need < max_seq ? (int)need : max_seq;
  lpo_kvcache *cache = lpo_kvcache_new(m, rows, cache_seq, 0);
  if (!cache) return -1;
  /* The decode layout of the weights as they are now: the snapshot lives only for this
   * call, so weights updated between calls (training rounds) are always seen. */
  if (lpo_kvcache_pack(cache, m) != 0) { lpo_kvcache_free(cache); return -1; }
  /* One allocation for the step buffers (freed together below). */
  const int nslots = lpo_parallel_threads();
  const size_t stride = ((size_t)lpo_sample_scratch_bytes(V) + 63) & ~(size_t)63;
  size_t bytes = (size_t)rows * V * sizeof(float)            /* logits [rows,V] */
               + (size_t)rows * maxT * sizeof(int32_t)       /* prefill tokens [rows,maxT] */
               + (size_t)rows * sizeof(int32_t) * 3          /* prefill lens, next tokens, drawn */
               + (size_t)rows * sizeof(float)                /* drawn log-probs */
               + (size_t)rows                                 /* active mask */
               + (size_t)rows * sizeof(row_state)
               + (size_t)nslots * stride + 128;
  char *mem = lpo_alloc(bytes, 0);
  if (!mem) { lpo_kvcache_free(cache); return -1; }
  float *logits = (float *)mem;
  int32_t *ptoks = (int32_t *)(logits + (size_t)rows * V);
  int32_t *plens = ptoks + (size_t)rows * maxT;
  int32_t *next = plens + rows, *drawn = next + rows;
  float *drawn_lp = (float *)(drawn + rows);
  uint8_t *active = (uint8_t *)(drawn_lp + rows);
  row_state *rs = (row_state *)(((uintptr_t)(active + rows) + 15) & ~(uintptr_t)15);
  char *scratch = (char *)(((uintptr_t)(rs + rows) + 63) & ~(uintptr_t)63);
  draw_job dj = { logits, &sc, rs, active, scratch, stride, drawn, drawn_lp, V };
  for (int r = 0; r < rows; r++) rs[r].prompt = -1;

  int rc = 0, next_prompt = 0, done_prompts = 0;

  /* Records token `id` (with log-prob lp) for row r, or stops the row. */
  #define EMIT(r, id, lp) do { \
    row_state *R = &rs[r]; size_t o = (size_t)(R->prompt * n + R->sample); \
    if (is_stop_id(cfg, id)) { stop[o] = LPO_STOP_TOKEN; R->active = 0; break; } \
    ids[o * cfg->max_new_tokens + R->count] = id; logps[o * cfg->max_new_tokens + R->count] = lp; \
    R->count++; len[o] = R->count; \
    int blen = 0; const char *b = tok ? lpo_tokenizer_token_bytes(tok, id, &blen) : NULL; \
    if (cfg->n_stop_strings && b && push_bytes(R, b, blen, cfg)) { stop[o] = LPO_STOP_STRING; R->active = 0; break; } \
    if (R->count >= cfg->max_new_tokens) { stop[o] = LPO_STOP_LENGTH; R->active = 0; break; } \
    if (lpo_kvcache_length(cache, r) >= max_seq) { stop[o] = LPO_STOP_CONTEXT; R->active = 0; break; } \
    next[r] = id; \
  } while (0)

  while (done_prompts < P) {
    /* (1) Fill free slots. */
    int filled = 0;
    memset(plens, 0, (size_t)rows * sizeof(int32_t));
    for (int s = 0; s < slots && next_prompt < P; s++) {
      if (rs[s * n].prompt != -1) continue;
      int p = next_prompt++, r0 = s * n;
      for (int j = 0; j < n; j++) {
        row_state *R = &rs[r0 + j];
        memset(R, 0, sizeof *R);
        R->prompt = p; R->sample = j; R->active = 1;
        R->key = lpo_philox_key(cfg->seed, cfg->purpose, cfg->round, prompt_keys ? prompt_keys[p] : (uint64_t)p, (uint64_t)j);
        lpo_kvcache_truncate(cache, r0 + j, 0);
        size_t o = (size_t)p * n + j;
        len[o] = 0; stop[o] = LPO_STOP_LENGTH;
      }
      memcpy(ptoks + (size_t)r0 * maxT, prompts[p], (size_t)prompt_lens[p] * sizeof(int32_t));
      plens[r0] = prompt_lens[p];
      filled++;
    }
    if (filled) {
      if (lpo_model_prefill(m, cache, ptoks, plens, maxT, logits) != 0) { rc = -1; break; }
      memset(active, 0, (size_t)rows);
      for (int r = 0; r < rows; r++) {
        if (!plens[r]) continue;
        for (int j = 1; j < n; j++) {
          if (lpo_kvcache_copy_row(cache, r + j, r) != 0) { rc = -1; goto out; }
          memcpy(logits + (size_t)(r + j) * V, logits + (size_t)r * V, (size_t)V * sizeof(float));
        }
        memset(active + r, 1, (size_t)n);
      }
      lpo_parallel(draw_task, &dj, rows);
      for (int r = 0; r < rows; r++) {
        if (!active[r]) continue;
        if (drawn[r] < 0) { rc = lpo_set_error("generate: sampling failed for row %d", r); goto out; }
        EMIT(r, drawn[r], drawn_lp[r]);
      }
    }
    /* (2) One decode step over the active rows. */
    int any = 0;
    for (int r = 0; r < rows; r++) { active[r] = rs[r].prompt >= 0 && rs[r].active; any |= active[r]; }
    if (any) {
      if (lpo_model_decode(m, cache, next, active, logits) != 0) { rc = -1; break; }
      lpo_parallel(draw_task, &dj, rows);
      for (int r = 0; r < rows; r++) {
        if (!active[r]) continue;
        if (drawn[r] < 0) { rc = lpo_set_error("generate: sampling failed for row %d", r); goto out; }
        EMIT(r, drawn[r], drawn_lp[r]);
      }
    }
    /* (3) Free the slots whose samples have all stopped. */
    for (int s = 0; s < slots; s++) {
      int r0 = s * n;
      if (rs[r0].prompt < 0) continue;
      int live = 0;
      for (int j = 0; j < n; j++) live |= rs[r0 + j].active;
      if (!live) {
        for (int j = 0; j < n; j++) rs[r0 + j].prompt = -1;
        done_prompts++;
        if (progress) progress(done_prompts, P, user);
      }
    }
  }
  #undef EMIT
out:
  lpo_free(mem, bytes, 0);
  lpo_kvcache_free(cache);
  return rc;
}
