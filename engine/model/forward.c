/* forward.c — the transformer's forward and backward passes and the sequence
 * log-probabilities built on them. Every op goes through the backend table m->be.
 *
 * One layer (x: residual stream [N,C], N = B*T rows), everything kept for backward:
 *   ln1  = rmsnorm(x) * w1                          (and rstd1)
 *   qkv  = ln1 Wqkv^T + bqkv,  rotary on q and k    (after rotary)
 *   atty = causal GQA attention(qkv)                (and lse per score row)
 *   res2 = x + atty Wo^T + bo
 *   ln2  = rmsnorm(res2) * w2                       (and rstd2)
 *   gu   = ln2 Wgu^T;  h = silu(gu_gate) * gu_up
 *   x'   = res2 + h Wd^T
 * (Keeping ln1, ln2 and h costs 2C + F floats per token per layer and saves recomputing
 * them in backward; in inference one set of buffers serves every layer.)
 * The head runs only on the rows whose next token is a target (mask != 0). */
#include "model/model.h"
#include <math.h>
#include <string.h>

/* Per-layer activation pointers: layer stride 0 in inference so one set is reused. */
typedef struct layer_acts { float *xin, *xout, *rstd1, *ln1, *qkv, *atty, *lse, *res2, *rstd2, *ln2, *gu, *h; } layer_acts;

static layer_acts layer(const lpo_model *m, int l) {
  const lpo_model_config *c = &m->cfg;
  size_t Nm = (size_t)m->Bmax * m->Tmax, C = c->hidden_size, ls = m->train ? (size_t)l : 0;
  size_t ls1 = m->train ? (size_t)l + 1 : 0;
  layer_acts r = {
    .xin = m->a.resid + ls * Nm * C, .xout = m->a.resid + ls1 * Nm * C,
    .rstd1 = m->a.rstd1 + ls * Nm, .ln1 = m->a.ln1 + ls * Nm * C, .qkv = m->a.qkv + ls * Nm * lpo_qkv(c),
    .atty = m->a.atty + ls * Nm * lpo_qd(c), .lse = m->a.lse + ls * Nm * c->num_heads,
    .res2 = m->a.res2 + ls * Nm * C, .rstd2 = m->a.rstd2 + ls * Nm, .ln2 = m->a.ln2 + ls * Nm * C,
    .gu = m->a.gu + ls * Nm * 2 * c->intermediate_size, .h = m->a.h + ls * Nm * c->intermediate_size,
  };
  return r;
}

static float *final_resid(const lpo_model *m) {
  return m->a.resid + (m->train ? (size_t)m->cfg.num_layers : 0) * m->Bmax * m->Tmax * m->cfg.hidden_size;
}

/* Rotary tables for the current length (only dynamic scaling depends on it). */
static void ensure_rope(lpo_model *m, int T) {
  const lpo_model_config *c = &m->cfg;
  int key = (c->rope_kind == LPO_ROPE_DYNAMIC && T > c->max_position_embeddings) ? T : 0;
  if (m->rope_len == key) return;
  lpo_rope_tables(m->a.rope_cos, m->a.rope_sin, c, m->Tmax, key ? key : T);
  m->rope_len = key;
}

static int check_batch(const lpo_model *m, const int32_t *tokens, int B, int T, const char *what) {
  if (!m->acts_mem) return lpo_set_error("%s: no activation memory: call reserve(max_batch, max_seq) first", what);
  if (B < 1 || T < 1 || B > m->Bmax || T > m->Tmax)
    return lpo_set_error("%s: batch %d x %d does not fit the reserved %d x %d (call reserve)", what, B, T, m->Bmax, m->Tmax);
  int V = m->cfg.vocab_size;
  for (int i = 0; i < B * T; i++)
    if (tokens[i] < 0 || tokens[i] >= V)
      return lpo_set_error("%s: tokens[%d][%d] = %d is out of range for vocab_size %d", what, i / T, i % T, (int)tokens[i], V);
  return 0;
}

/* Embedding + all layers; the final residual is left in final_resid(m). */
static void forward_body(lpo_model *m, const int32_t *tokens, int B, int T) {
  const lpo_backend *be = m->be;
  const lpo_model_config *c = &m->cfg;
  const int N = B * T, C = c->hidden_size, F = c->intermediate_size, Hq = c->num_heads;
  const int Hkv = c->num_kv_heads, D = c->head_dim, QD = lpo_qd(c), QKV = lpo_qkv(c);
  const float eps = (float)c->rms_norm_eps;
  lpo_acts *a = &m->a;
  memcpy(a->tokens, tokens, (size_t)N * sizeof(int32_t));
  for (int n = 0; n < N; n++) a->pos[n] = n % T;
  ensure_rope(m, T);
  be->embedding_forward(layer(m, 0).xin, a->tokens, m->p.wte, N, C);
  for (int l = 0; l < c->num_layers; l++) {
    layer_acts x = layer(m, l);
    const float *bqkv = m->p.bqkv ? m->p.bqkv + (size_t)l * QKV : NULL;
    const float *bo = m->p.bo ? m->p.bo + (size_t)l * C : NULL;
    be->rmsnorm_forward(x.ln1, x.rstd1, x.xin, m->p.ln1 + (size_t)l * C, N, C, eps);
    be->matmul_forward(x.qkv, x.ln1, m->p.wqkv + (size_t)l * QKV * C, bqkv, N, C, QKV, 0);
    /* q heads then k heads are adjacent in a row: one rotation over Hq + Hkv heads */
    be->rope_forward(x.qkv, a->pos, a->rope_cos, a->rope_sin, N, Hq + Hkv, D, QKV);
    be->attention_forward(x.atty, x.lse, x.qkv, B, T, Hq, Hkv, D, a->att, m->att_slots);
    be->copy(x.res2, x.xin, (size_t)N * C);
    be->matmul_forward(x.res2, x.atty, m->p.wo + (size_t)l * C * QD, bo, N, QD, C, 1);
    be->rmsnorm_forward(x.ln2, x.rstd2, x.res2, m->p.ln2 + (size_t)l * C, N, C, eps);
    be->matmul_forward(x.gu, x.ln2, m->p.wgu + (size_t)l * 2 * F * C, NULL, N, C, 2 * F, 0);
    be->swiglu_forward(x.h, x.gu, N, F);
    be->copy(x.xout, x.res2, (size_t)N * C);   /* in inference xout aliases xin: done with it */
    be->matmul_forward(x.xout, x.h, m->p.wd + (size_t)l * C * F, NULL, N, F, C, 1);
  }
}

int lpo_model_logprobs(lpo_model *m, const int32_t *tokens, const float *mask, int B, int T,
                       float *tok_logp, float *seq_logp) {
  if (check_batch(m, tokens, B, T, "logprobs")) return -1;
  lpo_acts *a = &m->a;
  const int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
  /* Select the targets: row b*T+t-1 predicts tokens[b,t]. */
  int M = 0;
  for (int b = 0; b < B; b++) {
    if (mask[(size_t)b * T] != 0.0f)
      return lpo_set_error("logprobs: mask[%d][0] must be 0 (the first token has no prediction)", b);
    for (int t = 1; t < T; t++) {
      float w = mask[(size_t)b * T + t];
      if (!isfinite(w)) return lpo_set_error("logprobs: mask[%d][%d] is not finite", b, t);
      if (w == 0.0f) continue;
      a->sel[M] = b * T + t - 1;
      a->dst[M] = b * T + t;
      a->targets[M] = tokens[(size_t)b * T + t];
      a->selw[M] = w;
      M++;
    }
  }
  forward_body(m, tokens, B, T);
  const lpo_backend *be = m->be;
  be->gather_rows(a->xfin, final_resid(m), a->sel, M, C);
  be->rmsnorm_forward(a->xsel, a->rstdf, a->xfin, m->p.lnf, M, C, (float)m->cfg.rms_norm_eps);
  m->kept = M ? be->lmhead_forward(a->lm_logp, a->lm_lse, a->lm_buf, a->xsel, m->p.wlm, a->targets, M, C, V, m->cap_rows) : 0;
  if (tok_logp) {
    memset(tok_logp, 0, (size_t)B * T * sizeof(float));
    for (int i = 0; i < M; i++) tok_logp[a->dst[i]] = a->lm_logp[i];
  }
  if (seq_logp) {
    /* Sums in double, targets in order: the same bits whatever the batch composition. */
    int i = 0;
    for (int b = 0; b < B; b++) {
      double s = 0;
      for (; i < M && a->dst[i] / T == b; i++) s += (double)a->selw[i] * a->lm_logp[i];
      seq_logp[b] = (float)s;
    }
  }
  m->fB = B; m->fT = T; m->fM = M;
  m->fresh = m->train;
  return 0;
}

/* Backward of everything from dlogp [M] (already in a->dlogp). */
static void backward_all(lpo_model *m) {
  const lpo_backend *be = m->be;
  const lpo_model_config *c = &m->cfg;
  lpo_acts *a = &m->a;
  lpo_params *p = &m->p, *g = &m->g;
  const int B = m->fB, T = m->fT, M = m->fM, N = B * T;
  const int C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size, Hq = c->num_heads;
  const int Hkv = c->num_kv_heads, D = c->head_dim, QD = lpo_qd(c), QKV = lpo_qkv(c);
  /* Only what is accumulated into starts at zero (dres, dxfin, dqkv): the matmul, SwiGLU
   * and LM-head backwards write their input gradients (lpo_backend.h). */
  be->zero(a->dres, (size_t)N * C);
  if (M) {
    be->zero(a->dxfin, (size_t)M * C);
    be->lmhead_backward(a->dxsel, g->wlm, a->lm_buf, a->dlogp, a->xsel, p->wlm, a->targets, a->lm_lse,
                        M, C, V, m->cap_rows, m->kept);
    be->rmsnorm_backward(a->dxfin, g->lnf, a->dxsel, a->xfin, p->lnf, a->rstdf, M, C);
    be->scatter_add_rows(a->dres, a->dxfin, a->sel, M, C);
  }
  for (int l = c->num_layers - 1; l >= 0; l--) {
    layer_acts x = layer(m, l);
    size_t lC = (size_t)l * C;
    /* MLP: xout = res2 + h Wd^T */
    be->matmul_backward(a->dh, g->wd + lC * F, NULL, a->dres, x.h, p->wd + lC * F, N, F, C);
    be->swiglu_backward(a->dgu, a->dh, x.gu, N, F);
    be->matmul_backward(a->dln, g->wgu + lC * 2 * F, NULL, a->dgu, x.ln2, p->wgu + lC * 2 * F, N, C, 2 * F);
    be->rmsnorm_backward(a->dres, g->ln2 + lC, a->dln, x.res2, p->ln2 + lC, x.rstd2, N, C);
    /* attention: res2 = xin + atty Wo^T + bo */
    be->matmul_backward(a->datty, g->wo + lC * QD, g->bo ? g->bo + lC : NULL, a->dres, x.atty,
                        p->wo + lC * QD, N, QD, C);
    be->zero(a->dqkv, (size_t)N * QKV);
    be->attention_backward(a->dqkv, a->datty, x.atty, x.lse, x.qkv, B, T, Hq, Hkv, D, a->att, m->att_slots);
    be->rope_backward(a->dqkv, a->pos, a->rope_cos, a->rope_sin, N, Hq + Hkv, D, QKV);
    be->matmul_backward(a->dln, g->wqkv + (size_t)l * QKV * C, g->bqkv ? g->bqkv + (size_t)l * QKV : NULL,
                        a->dqkv, x.ln1, p->wqkv + (size_t)l * QKV * C, N, C, QKV);
    be->rmsnorm_backward(a->dres, g->ln1 + lC, a->dln, x.xin, p->ln1 + lC, x.rstd1, N, C);
  }
  be->embedding_backward(g->wte, a->dres, a->tokens, N, C);
  m->fresh = 0;
}

static int check_backward(const lpo_model *m) {
  if (!m->train || !m->grads_mem) return lpo_set_error("backward: the model was reserved for inference (reserve with train = true)");
  if (!m->fresh) return lpo_set_error("backward: needs a logprobs forward first (one backward per forward)");
  return 0;
}

int lpo_model_backward(lpo_model *m, const float *dseq) {
  if (check_backward(m)) return -1;
  for (int b = 0; b < m->fB; b++)
    if (!isfinite(dseq[b])) return lpo_set_error("backward: dseq[%d] is not finite", b);
  for (int i = 0; i < m->fM; i++) m->a.dlogp[i] = dseq[m->a.dst[i] / m->fT] * m->a.selw[i];
  backward_all(m);
  return 0;
}

int lpo_model_backward_tokens(lpo_model *m, const float *dtok) {
  if (check_backward(m)) return -1;
  for (int i = 0; i < m->fM; i++) {
    float d = dtok[m->a.dst[i]];
    if (!isfinite(d)) return lpo_set_error("backward: dtok[%d][%d] is not finite", m->a.dst[i] / m->fT, m->a.dst[i] % m->fT);
    m->a.dlogp[i] = d;
  }
  backward_all(m);
  return 0;
}

int lpo_model_logits(lpo_model *m, const int32_t *tokens, int B, int T, float *logits) {
  if (check_batch(m, tokens, B, T, "logits")) return -1;
  forward_body(m, tokens, B, T);
  const int N = B * T, C = m->cfg.hidden_size;
  m->be->rmsnorm_forward(m->a.xsel, m->a.rstdf, final_resid(m), m->p.lnf, N, C, (float)m->cfg.rms_norm_eps);
  m->be->matmul_forward(logits, m->a.xsel, m->p.wlm, NULL, N, C, m->cfg.vocab_size, 0);
  m->fresh = 0;
  return 0;
}
