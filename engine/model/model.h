/* model.h — internals of engine/model shared by its files: the parameter and activation
 * layouts (named pointers into one allocation each) and the model struct. */
#ifndef LPO_MODEL_INTERNAL_H
#define LPO_MODEL_INTERNAL_H
#include "lpo.h"
#include "lpo_model.h"
#include <stddef.h>

/* Parameters, stacked over layers (llm.c's layout), with fused projections: per layer
 * q, k and v rows follow each other in one [QKV, C] matrix and gate/up in one [2F, C], so
 * one sgemm computes each; every Hugging Face tensor is still one contiguous range.
 * C = hidden, QD = Hq*D, KD = Hkv*D, QKV = QD + 2 KD, F = intermediate, V = vocab. */
typedef struct lpo_params {
  float *wte;    /* [V, C]          model.embed_tokens.weight */
  float *ln1;    /* [L, C]          input_layernorm.weight */
  float *wqkv;   /* [L, QKV, C]     q_proj / k_proj / v_proj .weight */
  float *bqkv;   /* [L, QKV]        q/k/v .bias (qkv_bias only) */
  float *wo;     /* [L, C, QD]      o_proj.weight */
  float *bo;     /* [L, C]          o_proj.bias (o_bias only) */
  float *ln2;    /* [L, C]          post_attention_layernorm.weight */
  float *wgu;    /* [L, 2F, C]      gate_proj / up_proj .weight */
  float *wd;     /* [L, C, F]       down_proj.weight */
  float *lnf;    /* [C]             model.norm.weight */
  float *wlm;    /* [V, C]          lm_head.weight (== wte when tied) */
} lpo_params;

/* Activations for N = Bmax * Tmax rows. Per-layer buffers are [L][...] in training and a
 * single [...] reused by every layer in inference (layer stride 0). */
typedef struct lpo_acts {
  float *resid;    /* [L+1, N, C] residual stream entering each layer (last: leaving) */
  float *rstd1;    /* [L, N]      input_layernorm 1/rms */
  float *ln1;      /* [L, N, C]   input_layernorm output */
  float *qkv;      /* [L, N, QKV] projections after bias and rotary */
  float *atty;     /* [L, N, QD]  attention output before o_proj */
  float *lse;      /* [L, B, Hq, T] attention log-sum-exp per score row */
  float *res2;     /* [L, N, C]   residual after attention */
  float *rstd2;    /* [L, N]      post_attention_layernorm 1/rms */
  float *ln2;      /* [L, N, C]   post_attention_layernorm output */
  float *gu;       /* [L, N, 2F]  gate and up projections */
  float *h;        /* [L, N, F]   swiglu output */
  /* scratch */
  float *att;      /* attention scratch, a slot per thread (backend's attention_scratch) */
  float *rope_cos; /* [T, D/2] */
  float *rope_sin; /* [T, D/2] */
  int32_t *pos;    /* [N] position of each row */
  int32_t *tokens; /* [N] copy of the batch (embedding backward) */
  /* the LM head, on the M <= N rows that carry a target */
  int32_t *sel;    /* [N] row whose hidden state predicts the target */
  int32_t *dst;    /* [N] b*T+t of the target */
  int32_t *targets;/* [N] target token ids */
  float *selw;     /* [N] mask weight of the target */
  float *xfin;     /* [N, C] final residual rows, gathered */
  float *rstdf;    /* [N]    final norm 1/rms */
  float *xsel;     /* [N, C] final-normed rows */
  float *lm_lse;   /* [N] */
  float *lm_logp;  /* [N] */
  float *lm_buf;   /* [cap_rows, V] logits / probabilities chunk */
  /* gradients of activations (train only) */
  float *dres;     /* [N, C] running gradient of the residual stream */
  float *dln;      /* [N, C] */
  float *dqkv;     /* [N, QKV] */
  float *datty;    /* [N, QD] */
  float *dgu;      /* [N, 2F] */
  float *dh;       /* [N, F] */
  float *dxsel;    /* [N, C] */
  float *dxfin;    /* [N, C] */
  float *dlogp;    /* [N] */
} lpo_acts;

/* A named carve-out of an arena: the plan printout and the allocator share the list. */
typedef struct lpo_slot { const char *name; void **ptr; size_t bytes; } lpo_slot;

struct lpo_model {
  lpo_model_config cfg;
  const lpo_backend *be;
  char *config_json;             /* config.json text save writes (kept fields + ours) */
  /* parameters and gradients */
  int64_t nparams;
  float *params_mem, *grads_mem;
  lpo_params p, g;
  lpo_model_tensor *tensors;     /* Hugging Face view of the flat buffers */
  int ntensors;
  char *names;                   /* storage of the tensor names */
  /* activations */
  void *acts_mem;
  size_t acts_bytes;
  int Bmax, Tmax, train, cap_rows, att_slots;
  int64_t lm_budget;             /* bytes of LM head logits at once */
  lpo_acts a;
  lpo_slot slots[48];
  int nslots;
  int rope_len;                  /* sequence length the rope tables were built for */
  /* the last forward */
  int fB, fT, fM, kept, fresh;
};

/* Derived sizes. */
static inline int lpo_qd(const lpo_model_config *c) { return c->num_heads * c->head_dim; }
static inline int lpo_kd(const lpo_model_config *c) { return c->num_kv_heads * c->head_dim; }
static inline int lpo_qkv(const lpo_model_config *c) { return lpo_qd(c) + 2 * lpo_kd(c); }

/* config.c */
int lpo_model_config_check(const lpo_model_config *cfg, const char *where);
char *lpo_model_config_render(const lpo_model_config *cfg, const char *base_json, int dtype);
/* rope_freqs.c: cos/sin tables [npos, D/2] for a sequence of length seq_len (dynamic
 * NTK scaling depends on it). */
void lpo_rope_tables(float *cos_t, float *sin_t, const lpo_model_config *cfg, int npos, int seq_len);
/* transformer.c */
lpo_model *lpo_model_build(const lpo_model_config *cfg, const char *config_json);
int lpo_model_carve(lpo_slot *slots, int n, void **mem, size_t *total, const char *what);
/* init.c */
void lpo_model_init_random(lpo_model *m, uint64_t seed);
#endif
