/* lpo_model.h — the Llama-family transformer (Llama, Qwen2 and the code models built on
 * them: Qwen2.5-Coder, CodeQwen, DeepSeek-Coder, CodeLlama): RMSNorm, rotary embeddings,
 * grouped-query causal attention, SwiGLU MLP, optional q/k/v (and o) biases, tied or
 * untied embeddings. Forward, backward, sequence log-probabilities, Hugging Face
 * checkpoints in and out, random init, and a KV cache for decoding.
 *
 * Memory (llm.c style), one allocation per lifetime class, carved into named buffers:
 *   parameters   f32, all tensors of all layers                 (lpo_model_new / _load)
 *   gradients    same layout as parameters                       (lpo_model_reserve, train=1)
 *   activations  sized for (max_batch, max_seq)                  (lpo_model_reserve)
 *   KV cache     [L, rows, Hkv, max_seq, D] for K and V          (lpo_kvcache_new)
 * Nothing is allocated inside a forward, backward or decode step.
 *
 * Log-probabilities. For a batch tokens [B,T] (int32, row-major, right-padded with any
 * valid id) and weights mask [B,T] (float, normally 0/1):
 *   tok_logp[b,t] = log p(tokens[b,t] | tokens[b,0..t-1])   where mask[b,t] != 0, else 0
 *   seq_logp[b]   = sum_t mask[b,t] * tok_logp[b,t]
 * mask[b,0] must be 0 (the first token has no prediction). Put 0 on prompt tokens and on
 * padding, 1 on the completion tokens a preference loss scores. Tokens with mask 0 never
 * reach the LM head, so prompts and padding cost only the transformer body.
 * lpo_model_backward(dseq) then ACCUMULATES d(sum_b dseq[b] * seq_logp[b]) / d(params)
 * into the gradients: exactly what every preference loss (DPO, KTO, ...) needs. */
#ifndef LPO_MODEL_H
#define LPO_MODEL_H
#include <stdint.h>
#include "lpo_backend.h"

/* LPO_CDEF_BEGIN */
typedef enum lpo_arch { LPO_ARCH_LLAMA = 0, LPO_ARCH_QWEN2 = 1 } lpo_arch;
typedef enum lpo_rope_kind {
  LPO_ROPE_DEFAULT = 0, LPO_ROPE_LINEAR = 1, LPO_ROPE_DYNAMIC = 2, LPO_ROPE_LLAMA3 = 3
} lpo_rope_kind;

/* The parsed config.json (field names of Hugging Face in the comments). */
typedef struct lpo_model_config {
  int arch;                        /* model_type: "llama" or "qwen2" */
  int vocab_size;                  /* V */
  int hidden_size;                 /* C */
  int intermediate_size;           /* F */
  int num_layers;                  /* L  num_hidden_layers */
  int num_heads;                   /* Hq num_attention_heads */
  int num_kv_heads;                /* Hkv num_key_value_heads (divides Hq) */
  int head_dim;                    /* D  head_dim, default C / Hq */
  int max_position_embeddings;
  double rms_norm_eps;
  double rope_theta;
  int rope_kind;                   /* rope_scaling.rope_type (or "type") */
  double rope_factor;              /* linear, dynamic, llama3 */
  double rope_low_freq_factor;     /* llama3 */
  double rope_high_freq_factor;    /* llama3 */
  int rope_original_max_position;  /* llama3: original_max_position_embeddings */
  int tie_word_embeddings;
  int qkv_bias;                    /* q/k/v projections carry biases (qwen2; llama attention_bias) */
  int o_bias;                      /* o_proj carries a bias (llama attention_bias) */
  int torch_dtype;                 /* lpo_dtype the checkpoint declares; save's default */
  double initializer_range;        /* std of the normal init of lpo_model_new */
} lpo_model_config;

typedef struct lpo_model lpo_model;

/* One Hugging Face tensor inside the flat parameter (and gradient) buffer. */
typedef struct lpo_model_tensor {
  const char *name;                /* e.g. "model.layers.3.self_attn.q_proj.weight" */
  int64_t offset;                  /* in floats from lpo_model_params() */
  int64_t numel;
  int ndim;                        /* 1 or 2 */
  int64_t shape[2];
  int decay;                       /* 1 for matmul and embedding weights; 0 for norms, biases */
} lpo_model_tensor;

/* Parses config.json text (`where` names the file in errors). Missing fields take the
 * defaults of transformers' LlamaConfig / Qwen2Config. Unsupported features (rope
 * scaling other than linear/dynamic/llama3, sliding windows, mlp_bias, another
 * hidden_act) are errors that name the field. Returns 0 or -1. */
int lpo_model_config_parse(lpo_model_config *cfg, const char *json, const char *where);

/* A model with parameters drawn from Philox(seed): normal(0, initializer_range) for
 * matmul and embedding weights, 1 for norms, 0 for biases (as transformers' _init_weights).
 * config_json is config.json text; fields it carries beyond ours are kept for save. */
lpo_model *lpo_model_new(const char *config_json, uint64_t seed);
/* Reads a Hugging Face directory: config.json and model.safetensors or the shards of
 * model.safetensors.index.json (f32/bf16/f16 -> f32). Checks every tensor's presence and
 * shape against the config; errors name the directory and the tensor. */
lpo_model *lpo_model_load(const char *dir);
void lpo_model_free(lpo_model *m);
/* Writes config.json and model.safetensors (or shards + model.safetensors.index.json when
 * larger than max_shard_bytes; <= 0 means one file) into dir (created if missing), in
 * dtype LPO_F32, LPO_BF16 or LPO_F16 (-1: the config's torch_dtype). Atomic per file. */
int lpo_model_save(lpo_model *m, const char *dir, int dtype, int64_t max_shard_bytes);
/* A new model with the same config and a copy of the parameters (no grads/activations). */
lpo_model *lpo_model_copy(const lpo_model *m);

const lpo_model_config *lpo_model_get_config(const lpo_model *m);
const char *lpo_model_config_json(const lpo_model *m);   /* what save writes (pretty JSON) */
int lpo_model_set_backend(lpo_model *m, const lpo_backend *be);   /* default: CPU */

/* Sizes the activation arena for batches up to max_batch x max_seq; train = 1 also
 * keeps every layer's activations for backward and allocates the gradients (zeroed).
 * Frees the previous arena. Call it between steps, never inside one. */
int lpo_model_reserve(lpo_model *m, int max_batch, int max_seq, int train);
/* Bytes of logits the LM head may hold at once (default 256 MiB; takes effect at the
 * next reserve). Smaller saves memory on big vocabularies; backward then recomputes. */
int lpo_model_set_lmhead_budget(lpo_model *m, int64_t bytes);

/* Parameters and gradients: one flat f32 buffer each, tensors as lpo_model_tensor says. */
int64_t lpo_model_num_params(const lpo_model *m);
float *lpo_model_params(lpo_model *m);
float *lpo_model_grads(lpo_model *m);                   /* NULL before reserve(train=1) */
int lpo_model_num_tensors(const lpo_model *m);
int lpo_model_tensor_info(const lpo_model *m, int i, lpo_model_tensor *out);  /* 0 or -1 */
int lpo_model_find_tensor(const lpo_model *m, const char *name);         /* index or -1 */
void lpo_model_zero_grad(lpo_model *m);

/* Forward: per-token and per-sequence log-probabilities (see the top of this file).
 * tok_logp [B,T] and seq_logp [B] are caller buffers; either may be NULL. With a train
 * reservation the activations stay for one lpo_model_backward*. */
int lpo_model_logprobs(lpo_model *m, const int32_t *tokens, const float *mask, int B, int T,
                       float *tok_logp, float *seq_logp);
/* Backward of the last logprobs call from dseq [B] = dLoss/dseq_logp; accumulates into
 * the gradients. One backward per forward. */
int lpo_model_backward(lpo_model *m, const float *dseq);
/* Same from dtok [B,T] = dLoss/dtok_logp (positions with mask 0 are ignored). */
int lpo_model_backward_tokens(lpo_model *m, const float *dtok);
/* Full logits [B,T,V] of every position (caller buffer). No backward after it. */
int lpo_model_logits(lpo_model *m, const int32_t *tokens, int B, int T, float *logits);

/* Forward + backward FLOPs per token at sequence length T (matmuls and attention, the
 * 6N + 12 L T C estimate made exact for GQA, SwiGLU and the causal mask). */
double lpo_model_flops_per_token(const lpo_model *m, int T, int backward);
/* The memory plan: one line per buffer with MiB, written into buf; returns the length. */
int lpo_model_plan(const lpo_model *m, char *buf, int size);

/* KV cache for decoding: rows independent sequences, each with its own length. */
typedef struct lpo_kvcache lpo_kvcache;
/* chunk: tokens per row per step the cache's scratch is sized for (prefill longer
 * prompts in several steps automatically); 0 means 64. */
lpo_kvcache *lpo_kvcache_new(const lpo_model *m, int rows, int max_seq, int chunk);
void lpo_kvcache_free(lpo_kvcache *c);
void lpo_kvcache_reset(lpo_kvcache *c);                        /* every row to length 0 */
int lpo_kvcache_length(const lpo_kvcache *c, int row);         /* tokens held by row */
int lpo_kvcache_truncate(lpo_kvcache *c, int row, int length); /* forget tokens >= length */
int lpo_kvcache_copy_row(lpo_kvcache *c, int dst, int src);    /* share a prompt prefix */
int64_t lpo_kvcache_bytes(const lpo_kvcache *c);
/* Appends lens[b] tokens (tokens [rows,T] row-major, right-padded) to every row b and
 * writes the logits of each row's last appended token into logits [rows,V] (rows with
 * lens[b] = 0 are left untouched). lens NULL means T for every row. */
int lpo_model_prefill(lpo_model *m, lpo_kvcache *c, const int32_t *tokens, const int32_t *lens,
                      int T, float *logits);
/* One token per active row (active NULL: all rows): appends tokens[b], logits [rows,V]. */
int lpo_model_decode(lpo_model *m, lpo_kvcache *c, const int32_t *tokens,
                     const uint8_t *active, float *logits);
/* Takes a snapshot of m's matmul weights in the backend's decode layout (a transposed
 * copy: as many bytes as the matmul weights) into the cache; lpo_model_decode with m then
 * reads the snapshot: faster, and each row's logits come out bit for bit the same
 * whatever the other rows of the step. A SNAPSHOT: weights changed afterwards (an
 * optimizer step, a load) are not seen until the next pack, so pack right before a
 * sampling run (lpo_generate packs its own cache at its start). m NULL drops the copy.
 * The snapshot's memory may be lent by m: unpack or free a packed cache before m.
 * A no-op returning 0 on a backend without a decode layout. */
int lpo_kvcache_pack(lpo_kvcache *c, lpo_model *m);
/* LPO_CDEF_END */
#endif
