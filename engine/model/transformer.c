/* transformer.c — the model's memory: the parameter layout with its Hugging Face tensor
 * table, the gradient buffer, the activation arena sized by lpo_model_reserve, the plan
 * printout, and the small accessors. The forward and backward passes are in forward.c. */
#include "model/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LM head chunk: at most this many bytes of logits exist at once (150k-token vocabularies
 * would otherwise need B*T*V floats). */
#define LPO_LMHEAD_BUDGET ((size_t)256 << 20)

/* Points each named parameter tensor into base (a params or grads buffer). */
static void point_params(lpo_params *p, float *base, const lpo_model_config *c) {
  size_t V = c->vocab_size, C = c->hidden_size, L = c->num_layers, F = c->intermediate_size;
  size_t QD = lpo_qd(c), QKV = lpo_qkv(c);
  float *x = base;
  p->wte = x; x += V * C;
  p->ln1 = x; x += L * C;
  p->wqkv = x; x += L * QKV * C;
  p->bqkv = c->qkv_bias ? x : NULL; x += c->qkv_bias ? L * QKV : 0;
  p->wo = x; x += L * C * QD;
  p->bo = c->o_bias ? x : NULL; x += c->o_bias ? L * C : 0;
  p->ln2 = x; x += L * C;
  p->wgu = x; x += L * 2 * F * C;
  p->wd = x; x += L * C * F;
  p->lnf = x; x += C;
  p->wlm = c->tie_word_embeddings ? p->wte : x;
}

static int64_t count_params(const lpo_model_config *c) {
  int64_t V = c->vocab_size, C = c->hidden_size, L = c->num_layers, F = c->intermediate_size;
  int64_t QD = lpo_qd(c), QKV = lpo_qkv(c);
  return V * C + L * (C + QKV * C + (c->qkv_bias ? QKV : 0) + C * QD + (c->o_bias ? C : 0) + C + 2 * F * C + C * F)
         + C + (c->tie_word_embeddings ? 0 : V * C);
}

/* The Hugging Face view: one entry per checkpoint tensor, pointing into the stacked
 * buffers (q, k, v are consecutive row blocks of one layer's wqkv, gate/up of wgu). */
static int build_tensor_table(lpo_model *m) {
  const lpo_model_config *c = &m->cfg;
  int L = c->num_layers;
  int per_layer = 9 + (c->qkv_bias ? 3 : 0) + (c->o_bias ? 1 : 0);
  int n = 2 + L * per_layer + (c->tie_word_embeddings ? 0 : 1);
  m->tensors = calloc((size_t)n, sizeof *m->tensors);
  m->names = calloc((size_t)n, 64);
  if (!m->tensors || !m->names) return lpo_set_error("out of memory building the tensor table");
  int64_t C = c->hidden_size, F = c->intermediate_size, QD = lpo_qd(c), KD = lpo_kd(c), QKV = lpo_qkv(c);
  const float *base = m->params_mem;
  int k = 0;
#define ADD(off_ptr, rows, cols, decay_, ...) do { \
    lpo_model_tensor *t = &m->tensors[k]; char *nm = m->names + (size_t)k * 64; \
    snprintf(nm, 64, __VA_ARGS__); t->name = nm; t->offset = (off_ptr) - base; \
    t->ndim = (cols) ? 2 : 1; t->shape[0] = (rows); t->shape[1] = (cols) ? (cols) : 0; \
    t->numel = (int64_t)(rows) * ((cols) ? (cols) : 1); t->decay = (decay_); k++; } while (0)
  ADD(m->p.wte, c->vocab_size, C, 1, "model.embed_tokens.weight");
  for (int l = 0; l < L; l++) {
    const float *wqkv = m->p.wqkv + l * QKV * C, *bqkv = c->qkv_bias ? m->p.bqkv + l * QKV : NULL;
    const float *wgu = m->p.wgu + l * 2 * F * C;
    ADD(m->p.ln1 + l * C, C, 0, 0, "model.layers.%d.input_layernorm.weight", l);
    ADD(wqkv, QD, C, 1, "model.layers.%d.self_attn.q_proj.weight", l);
    if (bqkv) ADD(bqkv, QD, 0, 0, "model.layers.%d.self_attn.q_proj.bias", l);
    ADD(wqkv + QD * C, KD, C, 1, "model.layers.%d.self_attn.k_proj.weight", l);
    if (bqkv) ADD(bqkv + QD, KD, 0, 0, "model.layers.%d.self_attn.k_proj.bias", l);
    ADD(wqkv + (QD + KD) * C, KD, C, 1, "model.layers.%d.self_attn.v_proj.weight", l);
    if (bqkv) ADD(bqkv + QD + KD, KD, 0, 0, "model.layers.%d.self_attn.v_proj.bias", l);
    ADD(m->p.wo + l * C * QD, C, QD, 1, "model.layers.%d.self_attn.o_proj.weight", l);
    if (c->o_bias) ADD(m->p.bo + l * C, C, 0, 0, "model.layers.%d.self_attn.o_proj.bias", l);
    ADD(m->p.ln2 + l * C, C, 0, 0, "model.layers.%d.post_attention_layernorm.weight", l);
    ADD(wgu, F, C, 1, "model.layers.%d.mlp.gate_proj.weight", l);
    ADD(wgu + F * C, F, C, 1, "model.layers.%d.mlp.up_proj.weight", l);
    ADD(m->p.wd + l * C * F, C, F, 1, "model.layers.%d.mlp.down_proj.weight", l);
  }
  ADD(m->p.lnf, C, 0, 0, "model.norm.weight");
  if (!c->tie_word_embeddings) ADD(m->p.wlm, c->vocab_size, C, 1, "lm_head.weight");
#undef ADD
  LPO_ASSERT(k == n);
  m->ntensors = n;
  return 0;
}

lpo_model *lpo_model_build(const lpo_model_config *cfg, const char *config_json) {
  if (lpo_model_config_check(cfg, "config")) return NULL;
  lpo_model *m = calloc(1, sizeof *m);
  if (!m) { lpo_set_error("out of memory"); return NULL; }
  m->cfg = *cfg;
  m->be = lpo_backend_cpu();
  m->lm_budget = LPO_LMHEAD_BUDGET;
  m->nparams = count_params(cfg);
  m->params_mem = lpo_alloc((size_t)m->nparams * sizeof(float), 0);
  m->config_json = lpo_model_config_render(cfg, config_json, cfg->torch_dtype);
  if (!m->params_mem || !m->config_json) {
    if (m->params_mem && !m->config_json) lpo_set_error("out of memory rendering config.json");
    lpo_model_free(m);
    return NULL;
  }
  point_params(&m->p, m->params_mem, cfg);
  if (build_tensor_table(m)) { lpo_model_free(m); return NULL; }
  return m;
}

void lpo_model_free(lpo_model *m) {
  if (!m) return;
  lpo_free(m->params_mem, (size_t)m->nparams * sizeof(float), 0);
  lpo_free(m->grads_mem, (size_t)m->nparams * sizeof(float), 0);
  lpo_free(m->acts_mem, m->acts_bytes, 0);
  free(m->tensors);
  free(m->names);
  free(m->config_json);
  free(m);
}

lpo_model *lpo_model_copy(const lpo_model *src) {
  lpo_model *m = lpo_model_build(&src->cfg, src->config_json);
  if (!m) return NULL;
  m->be = src->be;
  m->lm_budget = src->lm_budget;
  memcpy(m->params_mem, src->params_mem, (size_t)src->nparams * sizeof(float));
  return m;
}

/* Lays slots out 64-byte aligned in one allocation; *mem gets it, *total its size. */
int lpo_model_carve(lpo_slot *slots, int n, void **mem, size_t *total, const char *what) {
  size_t off = 0;
  for (int i = 0; i < n; i++) off += (slots[i].bytes + 63) & ~(size_t)63;
  char *base = lpo_alloc(off, 0);
  if (!base) return lpo_set_error("%s: cannot allocate %.1f MiB: %s", what, off / 1048576.0, lpo_last_error());
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    *slots[i].ptr = slots[i].bytes ? base + at : NULL;
    at += (slots[i].bytes + 63) & ~(size_t)63;
  }
  *mem = base;
  *total = off;
  return 0;
}

int lpo_model_reserve(lpo_model *m, int max_batch, int max_seq, int train) {
  if (max_batch < 1 || max_seq < 1 || (int64_t)max_batch * max_seq > (1 << 24))
    return lpo_set_error("reserve: batch %d x length %d out of range (1 .. 16M tokens)", max_batch, max_seq);
  const lpo_model_config *c = &m->cfg;
  size_t N = (size_t)max_batch * max_seq, T = max_seq, C = c->hidden_size, F = c->intermediate_size;
  size_t L = train ? (size_t)c->num_layers : 1, V = c->vocab_size;
  size_t QD = lpo_qd(c), QKV = lpo_qkv(c), H = c->num_heads, half = c->head_dim / 2;
  size_t cap = (size_t)m->lm_budget / (V * sizeof(float));
  if (cap < 1) cap = 1;
  if (cap > N) cap = N;
  const size_t f = sizeof(float), i32 = sizeof(int32_t);
  int slots = m->be->parallelism ? m->be->parallelism() : 1;
  if (slots < 1) slots = 1;
  lpo_acts a;
  memset(&a, 0, sizeof a);
  lpo_slot s[] = {
    { "resid [L+1,N,C]", (void **)&a.resid, (train ? L + 1 : 1) * N * C * f },
    { "rstd1 [L,N]", (void **)&a.rstd1, L * N * f },
    { "ln1 [L,N,C]", (void **)&a.ln1, L * N * C * f },
    { "qkv [L,N,QKV]", (void **)&a.qkv, L * N * QKV * f },
    { "atty [L,N,QD]", (void **)&a.atty, L * N * QD * f },
    { "lse [L,B,Hq,T]", (void **)&a.lse, L * N * H * f },
    { "res2 [L,N,C]", (void **)&a.res2, L * N * C * f },
    { "rstd2 [L,N]", (void **)&a.rstd2, L * N * f },
    { "ln2 [L,N,C]", (void **)&a.ln2, L * N * C * f },
    { "gu [L,N,2F]", (void **)&a.gu, L * N * 2 * F * f },
    { "h [L,N,F]", (void **)&a.h, L * N * F * f },
    { "att [threads,...]", (void **)&a.att, (size_t)slots * m->be->attention_scratch((int)T, c->head_dim) * f },
    { "rope_cos [T,D/2]", (void **)&a.rope_cos, T * half * f },
    { "rope_sin [T,D/2]", (void **)&a.rope_sin, T * half * f },
    { "pos [N]", (void **)&a.pos, N * i32 },
    { "tokens [N]", (void **)&a.tokens, N * i32 },
    { "sel [N]", (void **)&a.sel, N * i32 },
    { "dst [N]", (void **)&a.dst, N * i32 },
    { "targets [N]", (void **)&a.targets, N * i32 },
    { "selw [N]", (void **)&a.selw, N * f },
    { "xfin [N,C]", (void **)&a.xfin, N * C * f },
    { "rstdf [N]", (void **)&a.rstdf, N * f },
    { "xsel [N,C]", (void **)&a.xsel, N * C * f },
    { "lm_lse [N]", (void **)&a.lm_lse, N * f },
    { "lm_logp [N]", (void **)&a.lm_logp, N * f },
    { "lm_buf [rows,V]", (void **)&a.lm_buf, cap * V * f },
    { "dres [N,C]", (void **)&a.dres, train ? N * C * f : 0 },
    { "dln [N,C]", (void **)&a.dln, train ? N * C * f : 0 },
    { "dqkv [N,QKV]", (void **)&a.dqkv, train ? N * QKV * f : 0 },
    { "datty [N,QD]", (void **)&a.datty, train ? N * QD * f : 0 },
    { "dgu [N,2F]", (void **)&a.dgu, train ? N * 2 * F * f : 0 },
    { "dh [N,F]", (void **)&a.dh, train ? N * F * f : 0 },
    { "dxsel [N,C]", (void **)&a.dxsel, train ? N * C * f : 0 },
    { "dxfin [N,C]", (void **)&a.dxfin, train ? N * C * f : 0 },
    { "dlogp [N]", (void **)&a.dlogp, train ? N * f : 0 },
  };
  int ns = (int)(sizeof s / sizeof s[0]);
  LPO_ASSERT(ns <= (int)(sizeof m->slots / sizeof m->slots[0]));
  /* Allocate first, so a failure leaves the old arena in place. */
  void *mem = NULL;
  size_t total = 0;
  if (lpo_model_carve(s, ns, &mem, &total, "activations")) return -1;
  float *grads = m->grads_mem;
  if (train && !grads) {
    grads = lpo_alloc((size_t)m->nparams * f, 0);
    if (!grads) { lpo_free(mem, total, 0); return lpo_set_error("gradients: %s", lpo_last_error()); }
  }
  lpo_free(m->acts_mem, m->acts_bytes, 0);
  m->acts_mem = mem;
  m->acts_bytes = total;
  m->a = a;
  /* slot pointers now refer to the local `a`; re-aim them at m->a for the plan */
  for (int i = 0; i < ns; i++) {
    m->slots[i] = s[i];
    m->slots[i].ptr = (void **)((char *)&m->a + ((char *)s[i].ptr - (char *)&a));
  }
  m->nslots = ns;
  m->Bmax = max_batch;
  m->Tmax = max_seq;
  m->train = train;
  m->cap_rows = (int)cap;
  m->att_slots = slots;
  m->rope_len = -1;
  m->fresh = 0;
  if (train) {
    m->grads_mem = grads;
    point_params(&m->g, m->grads_mem, c);
  }
  return 0;
}

int lpo_model_plan(const lpo_model *m, char *buf, int size) {
  const double MiB = 1048576.0;
  int n = 0;
#define OUT(...) do { int k_ = snprintf(buf + n, n < size ? (size_t)(size - n) : 0, __VA_ARGS__); n += k_ > 0 ? k_ : 0; } while (0)
  if (size > 0) buf[0] = 0;
  const lpo_model_config *c = &m->cfg;
  OUT("model %s: L=%d C=%d F=%d Hq=%d Hkv=%d D=%d V=%d%s%s, %lld parameters\n",
      c->arch == LPO_ARCH_QWEN2 ? "qwen2" : "llama", c->num_layers, c->hidden_size, c->intermediate_size,
      c->num_heads, c->num_kv_heads, c->head_dim, c->vocab_size, c->tie_word_embeddings ? " tied" : "",
      c->qkv_bias ? " qkv-bias" : "", (long long)m->nparams);
  double total = 0;
  OUT("  %-22s %10.2f MiB\n", "parameters", m->nparams * 4.0 / MiB);
  total += m->nparams * 4.0;
  if (m->grads_mem) { OUT("  %-22s %10.2f MiB\n", "gradients", m->nparams * 4.0 / MiB); total += m->nparams * 4.0; }
  if (m->acts_mem) {
    OUT("  activations for batch %d x %d (%s):\n", m->Bmax, m->Tmax, m->train ? "train" : "inference");
    for (int i = 0; i < m->nslots; i++)
      if (m->slots[i].bytes) OUT("    %-20s %10.2f MiB\n", m->slots[i].name, m->slots[i].bytes / MiB);
    OUT("  %-22s %10.2f MiB\n", "activations", m->acts_bytes / MiB);
    total += (double)m->acts_bytes;
  }
  OUT("  %-22s %10.2f MiB\n", "total", total / MiB);
#undef OUT
  return n;
}

const lpo_model_config *lpo_model_get_config(const lpo_model *m) { return &m->cfg; }
const char *lpo_model_config_json(const lpo_model *m) { return m->config_json; }
int64_t lpo_model_num_params(const lpo_model *m) { return m->nparams; }
float *lpo_model_params(lpo_model *m) { return m->params_mem; }
float *lpo_model_grads(lpo_model *m) { return m->grads_mem; }
int lpo_model_num_tensors(const lpo_model *m) { return m->ntensors; }

int lpo_model_set_lmhead_budget(lpo_model *m, int64_t bytes) {
  if (bytes < 1) return lpo_set_error("set_lmhead_budget: %lld bytes must be > 0", (long long)bytes);
  m->lm_budget = bytes;
  return 0;
}

int lpo_model_set_backend(lpo_model *m, const lpo_backend *be) {
  if (!be) return lpo_set_error("set_backend: NULL backend");
  m->be = be;
  /* scratch sizes are the backend's: re-plan the activations for it */
  return m->acts_mem ? lpo_model_reserve(m, m->Bmax, m->Tmax, m->train) : 0;
}

int lpo_model_tensor_info(const lpo_model *m, int i, lpo_model_tensor *out) {
  if (i < 0 || i >= m->ntensors) return lpo_set_error("tensor index %d out of range [0, %d)", i, m->ntensors);
  *out = m->tensors[i];
  return 0;
}

int lpo_model_find_tensor(const lpo_model *m, const char *name) {
  for (int i = 0; i < m->ntensors; i++)
    if (!strcmp(m->tensors[i].name, name)) return i;
  return -1;
}

void lpo_model_zero_grad(lpo_model *m) {
  if (m->grads_mem) m->be->zero(m->grads_mem, (size_t)m->nparams);
}

double lpo_model_flops_per_token(const lpo_model *m, int T, int backward) {
  const lpo_model_config *c = &m->cfg;
  double C = c->hidden_size, F = c->intermediate_size, QD = lpo_qd(c), QKV = lpo_qkv(c);
  double matmul = c->num_layers * (C * QKV + QD * C + C * 2 * F + F * C) + C * c->vocab_size;
  /* causal attention: position t scores t+1 keys; QK^T and PV, 2 flops per MAC */
  double attn = c->num_layers * 2.0 * 2.0 * QD * (T + 1) / 2.0;
  double fwd = 2.0 * matmul + attn;
  return backward ? 3.0 * fwd : fwd;
}
