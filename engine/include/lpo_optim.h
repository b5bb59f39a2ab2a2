/* lpo_optim.h — AdamW, gradient clipping by global norm, learning-rate schedules.
 *
 * The optimizer works on one flat f32 parameter array and a matching gradient array
 * (the model carves every tensor out of one allocation, so a tensor is a range
 * [offset, offset+count) of that array). It follows torch.optim.AdamW (the single-tensor
 * CPU path) step for step:
 *   step += 1
 *   p  = p * (1 - lr*wd)                      decoupled decay, skipped on no-decay ranges
 *   m  = lerp(m, g, 1 - beta1)
 *   v  = v*beta2 + (1 - beta2)*g*g
 *   p  = p - (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * eps is added outside the square root, as torch does. Scalars (bias corrections, step
 * size) are computed in double like Python floats; elementwise arithmetic is f32.
 *
 * Gradient accumulation: the model's backward ACCUMULATES into grads, so a trainer that
 * runs k micro-batches either scales its loss gradient by 1/k (what HF Trainer does) or
 * calls lpo_grad_scale(grads, n, 1.0f/k) once before clipping; lpo_grad_zero clears them
 * for the next optimizer step. The Lua wrapper (lua/lpo/optim.lua) does the latter when
 * given `grad_scale` or `accumulation_steps`.
 *
 * Resuming: lpo_adamw_save writes the step count and both moments (exactly, f32) to a
 * safetensors file; lpo_adamw_load restores them, so N steps equal k steps + save + load
 * + N-k steps bit for bit. */
#ifndef LPO_OPTIM_H
#define LPO_OPTIM_H
#include "lpo.h"

/* LPO_CDEF_BEGIN */
typedef struct lpo_adamw lpo_adamw;
/* n parameters; betas, eps and weight decay as torch.optim.AdamW takes them. NULL + error
 * for n < 0, betas outside [0, 1), eps < 0 or weight decay < 0. Moments are zeroed. */
lpo_adamw *lpo_adamw_build(int64_t n, double beta1, double beta2, double eps, double weight_decay);
void lpo_adamw_free(lpo_adamw *opt);
/* Marks [offset, offset+count) as exempt from weight decay (norm weights, biases).
 * Ranges may be given in any order and may touch or overlap; -1 + error if out of bounds. */
int lpo_adamw_no_decay(lpo_adamw *opt, int64_t offset, int64_t count);
/* One update of params (n floats) from grads (n floats, read only) with learning rate lr. */
int lpo_adamw_step(lpo_adamw *opt, float *params, const float *grads, double lr);
int64_t lpo_adamw_n(const lpo_adamw *opt);
int64_t lpo_adamw_steps(const lpo_adamw *opt);               /* updates done so far */
float *lpo_adamw_exp_avg(lpo_adamw *opt);                     /* m, n floats */
float *lpo_adamw_exp_avg_sq(lpo_adamw *opt);                  /* v, n floats */
/* State file: safetensors with exp_avg [n] F32, exp_avg_sq [n] F32, step [1] I64 and
 * __metadata__ holding the hyperparameters and no-decay ranges, plus the caller's own
 * string keys from extra_metadata_json (a JSON object of strings, or NULL). Atomic. */
int lpo_adamw_save(const lpo_adamw *opt, const char *path, const char *extra_metadata_json);
/* Restores step and moments. -1 + error naming the file and tensor if n differs or a
 * tensor is missing or malformed; hyperparameters stay those given to build (a resumed
 * run may change them on purpose), but a different no-decay set is an error. */
int lpo_adamw_load(lpo_adamw *opt, const char *path);

/* Global L2 norm of g (n floats), accumulated in double in index order (deterministic). */
double lpo_grad_norm(const float *g, int64_t n);
/* torch.nn.utils.clip_grad_norm_: norm = ||g||; g *= min(1, max_norm / (norm + 1e-6)).
 * Returns the norm before clipping (as torch does). max_norm <= 0 only measures. A
 * non-finite norm is returned as is and g is scaled by it (torch's default behaviour:
 * the caller decides to skip the step). */
float lpo_clip_grad_norm(float *g, int64_t n, float max_norm);
void lpo_grad_scale(float *g, int64_t n, float s);            /* g *= s (accumulation: s = 1/k) */
void lpo_grad_zero(float *g, int64_t n);

/* Learning-rate schedules of transformers.optimization, as LambdaLR applies them:
 * lr(step) = lr * lambda(step) where step counts optimizer updates already done (the
 * first update uses step 0).
 *   CONSTANT:   get_constant_schedule_with_warmup
 *   LINEAR:     get_linear_schedule_with_warmup
 *   COSINE:     get_cosine_schedule_with_warmup (num_cycles, default 0.5)
 *   COSINE_MIN: get_cosine_with_min_lr_schedule_with_warmup (min_lr_ratio = min_lr_rate)
 * Warmup: warmup_steps if > 0, else ceil(total_steps * warmup_ratio) (HF TrainingArguments). */
typedef enum lpo_lr_kind { LPO_LR_CONSTANT = 0, LPO_LR_LINEAR = 1, LPO_LR_COSINE = 2, LPO_LR_COSINE_MIN = 3 } lpo_lr_kind;
typedef struct lpo_lr_schedule {
  int kind;              /* lpo_lr_kind */
  double lr;             /* peak (base) learning rate */
  int64_t warmup_steps;  /* > 0: warmup length in steps */
  double warmup_ratio;   /* used when warmup_steps == 0: ceil(total_steps * ratio) */
  int64_t total_steps;   /* num_training_steps (linear / cosine) */
  double num_cycles;     /* cosine: 0 means the default 0.5 */
  double min_lr_ratio;   /* cosine_min: floor as a fraction of lr */
} lpo_lr_schedule;
int lpo_lr_check(const lpo_lr_schedule *s);                   /* 0, or -1 + error naming the field */
int64_t lpo_lr_warmup(const lpo_lr_schedule *s);              /* the warmup length in steps */
double lpo_lr_at(const lpo_lr_schedule *s, int64_t step);
int lpo_lr_kind_parse(const char *name);                      /* "constant", "linear", "cosine", "cosine_with_min_lr"; -1 + error */
/* LPO_CDEF_END */
#endif
