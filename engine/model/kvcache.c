/* kvcache.c — incremental decoding with a preallocated KV cache.
 *
 * The cache holds, per layer, keys and values after rotary: K as [rows, Hkv, D, Tcap]
 * (transposed: a new token's scores against 16 keys are 16 lanes of one vector) and V as
 * [rows, Hkv, Tcap, D] (the weighted sum runs over whole value rows); Tcap is max_seq
 * rounded up to 16. Every row has its own length, so a batch of prompts of different
 * lengths needs no left padding: a new token's position is its row's length.
 *
 * Prefill and decode are one step, "extend": n new tokens (token, row, position) go
 * through the layers as rows of a small batch; each layer first stores the new k and v
 * into the cache, then lets every new token attend over its row up to its own position
 * (which includes the new tokens before it: causal). The same layer math as forward.c,
 * with the full-sequence attention replaced by attention over the cache. Scratch for
 * rows x chunk tokens lives in the cache's one allocation with K and V: nothing is
 * allocated per step. */
#include "model/model.h"
#include <stdlib.h>
#include <string.h>

struct lpo_kvcache {
  lpo_model_config cfg;            /* the model it was made for (checked at each use) */
  const lpo_backend *be;           /* whose memory K and V live in */
  int rows, Tc, Tcap, chunk, nmax; /* Tc = max_seq; Tcap = Tc rounded up to 16;
                                      nmax = rows * chunk tokens per step */
  int slots;                       /* attention scratch slots (threads) */
  int32_t *len;                    /* [rows] tokens held */
  float *k, *v;                    /* [L, rows, Hkv, D, Tcap], [L, rows, Hkv, Tcap, D] */
  float *x, *ln, *qkv, *atty, *gu, *h, *rstd, *att;    /* step scratch, [nmax, ...] */
  float *last, *lrstd, *logits;    /* [rows, C], [rows], [rows, V] */
  float *rope_cos, *rope_sin;      /* [Tc, D/2] */
  int32_t *tok, *row, *pos, *lastrow, *lastidx; /* [nmax] x3, [rows] x2 */
  int rope_key;
  void *mem;
  size_t bytes;
  int64_t kv_bytes;
};

lpo_kvcache *lpo_kvcache_new(const lpo_model *m, int rows, int max_seq, int chunk) {
  if (chunk <= 0) chunk = 64;
  if (rows < 1 || max_seq < 1 || (int64_t)rows * chunk > (1 << 22) || (int64_t)rows * max_seq > (1 << 28)) {
    lpo_set_error("kvcache: rows %d x max_seq %d (chunk %d) out of range", rows, max_seq, chunk);
    return NULL;
  }
  lpo_kvcache *c = calloc(1, sizeof *c);
  if (!c) { lpo_set_error("kvcache: out of memory"); return NULL; }
  const lpo_model_config *g = &m->cfg;
  c->cfg = *g;
  c->be = m->be;
  c->rows = rows; c->Tc = max_seq; c->Tcap = (max_seq + 15) & ~15; c->chunk = chunk < max_seq ? chunk : max_seq;
  c->nmax = rows * c->chunk;
  size_t n = (size_t)c->nmax, R = rows, C = g->hidden_size, F = g->intermediate_size, V = g->vocab_size;
  size_t kv = (size_t)g->num_layers * R * g->num_kv_heads * c->Tcap * g->head_dim, half = g->head_dim / 2;
  const size_t f = sizeof(float), i = sizeof(int32_t);
  c->slots = m->be->parallelism ? m->be->parallelism() : 1;
  if (c->slots < 1) c->slots = 1;
  lpo_slot s[] = {
    { "len", (void **)&c->len, R * i }, { "k", (void **)&c->k, kv * f }, { "v", (void **)&c->v, kv * f },
    { "x", (void **)&c->x, n * C * f }, { "ln", (void **)&c->ln, n * C * f },
    { "qkv", (void **)&c->qkv, n * lpo_qkv(g) * f }, { "atty", (void **)&c->atty, n * lpo_qd(g) * f },
    { "gu", (void **)&c->gu, n * 2 * F * f }, { "h", (void **)&c->h, n * F * f }, { "rstd", (void **)&c->rstd, n * f },
    { "att", (void **)&c->att, (size_t)c->slots * c->Tcap * f }, { "last", (void **)&c->last, R * C * f },
    { "lrstd", (void **)&c->lrstd, R * f }, { "logits", (void **)&c->logits, R * V * f },
    { "rope_cos", (void **)&c->rope_cos, (size_t)max_seq * half * f },
    { "rope_sin", (void **)&c->rope_sin, (size_t)max_seq * half * f },
    { "tok", (void **)&c->tok, n * i }, { "row", (void **)&c->row, n * i }, { "pos", (void **)&c->pos, n * i },
    { "lastrow", (void **)&c->lastrow, R * i }, { "lastidx", (void **)&c->lastidx, R * i },
  };
  if (lpo_model_carve(s, (int)(sizeof s / sizeof s[0]), &c->mem, &c->bytes, "kvcache")) { free(c); return NULL; }
  c->kv_bytes = (int64_t)(2 * kv * f);
  c->rope_key = -1;
  return c;
}

void lpo_kvcache_free(lpo_kvcache *c) {
  if (!c) return;
  lpo_free(c->mem, c->bytes, 0);
  free(c);
}

void lpo_kvcache_reset(lpo_kvcache *c) { memset(c->len, 0, (size_t)c->rows * sizeof(int32_t)); }
int64_t lpo_kvcache_bytes(const lpo_kvcache *c) { return (int64_t)c->bytes; }

int lpo_kvcache_length(const lpo_kvcache *c, int row) {
  if (row < 0 || row >= c->rows) return lpo_set_error("kvcache: row %d out of range [0, %d)", row, c->rows);
  return c->len[row];
}

int lpo_kvcache_truncate(lpo_kvcache *c, int row, int length) {
  if (row < 0 || row >= c->rows) return lpo_set_error("kvcache: row %d out of range [0, %d)", row, c->rows);
  if (length < 0 || length > c->len[row]) return lpo_set_error("kvcache: truncate row %d to %d (holds %d)", row, length, c->len[row]);
  c->len[row] = length;
  return 0;
}

int lpo_kvcache_copy_row(lpo_kvcache *c, int dst, int src) {
  if (dst < 0 || dst >= c->rows || src < 0 || src >= c->rows)
    return lpo_set_error("kvcache: copy_row %d <- %d out of range [0, %d)", dst, src, c->rows);
  if (dst == src) return 0;
  const lpo_model_config *g = &c->cfg;
  const int D = g->head_dim;
  size_t head = (size_t)c->Tcap * D, len = (size_t)c->len[src];
  for (int l = 0; l < g->num_layers; l++)
    for (int h = 0; h < g->num_kv_heads; h++) {
      size_t at_s = (((size_t)l * c->rows + src) * g->num_kv_heads + h) * head;
      size_t at_d = (((size_t)l * c->rows + dst) * g->num_kv_heads + h) * head;
      for (int d = 0; d < D; d++)   /* K: one run of len keys per channel */
        c->be->copy(c->k + at_d + (size_t)d * c->Tcap, c->k + at_s + (size_t)d * c->Tcap, len);
      c->be->copy(c->v + at_d, c->v + at_s, len * D);
    }
  c->len[dst] = c->len[src];
  return 0;
}

/* Runs c->tok/row/pos [n] through the model, storing k/v; leaves the final residual of
 * every token in c->x. */
static void extend(lpo_model *m, lpo_kvcache *c, int n) {
  const lpo_backend *be = m->be;
  const lpo_model_config *g = &m->cfg;
  const int C = g->hidden_size, F = g->intermediate_size, Hq = g->num_heads, Hkv = g->num_kv_heads;
  const int D = g->head_dim, QD = lpo_qd(g), QKV = lpo_qkv(g);
  const float eps = (float)g->rms_norm_eps;
  int maxpos = 0;
  for (int i = 0; i < n; i++) maxpos = c->pos[i] > maxpos ? c->pos[i] : maxpos;
  int key = (g->rope_kind == LPO_ROPE_DYNAMIC && maxpos + 1 > g->max_position_embeddings) ? maxpos + 1 : 0;
  if (c->rope_key != key) {
    lpo_rope_tables(c->rope_cos, c->rope_sin, g, c->Tc, key);   /* key 0: unscaled */
    c->rope_key = key;
  }
  size_t layer_kv = (size_t)c->rows * Hkv * c->Tcap * D;
  be->embedding_forward(c->x, c->tok, m->p.wte, n, C);
  for (int l = 0; l < g->num_layers; l++) {
    const float *bqkv = m->p.bqkv ? m->p.bqkv + (size_t)l * QKV : NULL;
    const float *bo = m->p.bo ? m->p.bo + (size_t)l * C : NULL;
    float *K = c->k + l * layer_kv, *Vc = c->v + l * layer_kv;
    be->rmsnorm_forward(c->ln, c->rstd, c->x, m->p.ln1 + (size_t)l * C, n, C, eps);
    be->matmul_forward(c->qkv, c->ln, m->p.wqkv + (size_t)l * QKV * C, bqkv, n, C, QKV, 0);
    be->rope_forward(c->qkv, c->pos, c->rope_cos, c->rope_sin, n, Hq + Hkv, D, QKV);   /* q and k heads */
    be->kv_store(K, Vc, c->qkv, c->row, c->pos, n, Hq, Hkv, D, c->Tcap);
    be->attention_cached(c->atty, c->qkv, QKV, K, Vc, c->row, c->pos, n, Hq, Hkv, D, c->Tcap, c->att, c->slots);
    be->matmul_forward(c->x, c->atty, m->p.wo + (size_t)l * C * QD, bo, n, QD, C, 1);
    be->rmsnorm_forward(c->ln, c->rstd, c->x, m->p.ln2 + (size_t)l * C, n, C, eps);
    be->matmul_forward(c->gu, c->ln, m->p.wgu + (size_t)l * 2 * F * C, NULL, n, C, 2 * F, 0);
    be->swiglu_forward(c->h, c->gu, n, F);
    be->matmul_forward(c->x, c->h, m->p.wd + (size_t)l * C * F, NULL, n, F, C, 1);
  }
}

/* Logits of the k tokens c->lastidx[0..k) (indices into the step) for rows c->lastrow. */
static void emit_logits(lpo_model *m, lpo_kvcache *c, int k, float *logits) {
  if (!k) return;
  const int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
  m->be->gather_rows(c->last, c->x, c->lastidx, k, C);
  m->be->rmsnorm_forward(c->ln, c->lrstd, c->last, m->p.lnf, k, C, (float)m->cfg.rms_norm_eps);
  m->be->matmul_forward(c->logits, c->ln, m->p.wlm, NULL, k, C, V, 0);
  for (int j = 0; j < k; j++)
    memcpy(logits + (size_t)c->lastrow[j] * V, c->logits + (size_t)j * V, (size_t)V * sizeof(float));
}

static int check_cache(const lpo_model *m, const lpo_kvcache *c) {
  if (memcmp(&m->cfg, &c->cfg, sizeof c->cfg)) return lpo_set_error("kvcache: made for a model with a different config");
  return 0;
}

int lpo_model_prefill(lpo_model *m, lpo_kvcache *c, const int32_t *tokens, const int32_t *lens,
                      int T, float *logits) {
  if (check_cache(m, c)) return -1;
  if (T < 1) return lpo_set_error("prefill: T = %d must be >= 1", T);
  int V = m->cfg.vocab_size, maxlen = 0;
  for (int b = 0; b < c->rows; b++) {
    int n = lens ? lens[b] : T;
    if (n < 0 || n > T) return lpo_set_error("prefill: lens[%d] = %d out of range [0, %d]", b, n, T);
    if (c->len[b] + n > c->Tc)
      return lpo_set_error("prefill: row %d would hold %d tokens, the cache holds %d", b, c->len[b] + n, c->Tc);
    for (int t = 0; t < n; t++)
      if (tokens[(size_t)b * T + t] < 0 || tokens[(size_t)b * T + t] >= V)
        return lpo_set_error("prefill: tokens[%d][%d] = %d is out of range for vocab_size %d", b, t, (int)tokens[(size_t)b * T + t], V);
    maxlen = n > maxlen ? n : maxlen;
  }
  for (int t0 = 0; t0 < maxlen; t0 += c->chunk) {
    int n = 0, k = 0;
    for (int b = 0; b < c->rows; b++) {
      int len = lens ? lens[b] : T;
      for (int t = t0; t < len && t < t0 + c->chunk; t++) {
        c->tok[n] = tokens[(size_t)b * T + t];
        c->row[n] = b;
        c->pos[n] = c->len[b] + t;
        if (t == len - 1) { c->lastrow[k] = b; c->lastidx[k] = n; k++; }
        n++;
      }
    }
    extend(m, c, n);
    emit_logits(m, c, k, logits);
  }
  for (int b = 0; b < c->rows; b++) c->len[b] += lens ? lens[b] : T;
  return 0;
}

int lpo_model_decode(lpo_model *m, lpo_kvcache *c, const int32_t *tokens, const uint8_t *active,
                     float *logits) {
  if (check_cache(m, c)) return -1;
  int n = 0, V = m->cfg.vocab_size;
  for (int b = 0; b < c->rows; b++) {
    if (active && !active[b]) continue;
    if (tokens[b] < 0 || tokens[b] >= V) return lpo_set_error("decode: tokens[%d] = %d is out of range for vocab_size %d", b, (int)tokens[b], V);
    if (c->len[b] >= c->Tc) return lpo_set_error("decode: row %d is full (%d tokens)", b, c->Tc);
    c->tok[n] = tokens[b]; c->row[n] = b; c->pos[n] = c->len[b];
    c->lastrow[n] = b; c->lastidx[n] = n;
    n++;
  }
  if (!n) return 0;
  extend(m, c, n);
  emit_logits(m, c, n, logits);
  for (int i = 0; i < n; i++) c->len[c->row[i]]++;
  return 0;
}
