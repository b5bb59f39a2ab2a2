/* lpo_gen.h — batched generation with a KV cache: n samples per prompt share the
 * prompt's prefill (the prompt is prefilled into one cache row and copied to the other
 * n-1), rows are refilled with the next prompt as soon as all n samples of a prompt have
 * stopped (continuous batching), and every sample draws from Philox keyed by
 * (seed, purpose, round, prompt key, sample index) with the token position as counter —
 * so sample j of prompt i is the same whatever the batch size, order or thread count.
 * Stops: max_new_tokens, a stop token (not included in the output), a stop string
 * (matched on the raw bytes of the tokens; the token that completes it is included, the
 * caller trims the text), or the cache's max_seq. */
#ifndef LPO_GEN_H
#define LPO_GEN_H
#include <stdint.h>
#include "lpo_model.h"
#include "lpo_text.h"
/* LPO_CDEF_BEGIN */
typedef enum lpo_stop_reason { LPO_STOP_LENGTH = 0, LPO_STOP_TOKEN = 1, LPO_STOP_STRING = 2, LPO_STOP_CONTEXT = 3 } lpo_stop_reason;

typedef struct lpo_gen_config {
  int32_t n;                 /* samples per prompt */
  int32_t max_new_tokens;
  float temperature;         /* 0 = greedy */
  int32_t top_k;             /* 0 = off */
  float top_p;               /* 1 = off */
  uint64_t seed, purpose, round;
  int32_t max_rows;          /* decode batch rows; rounded down to a multiple of n (>= n) */
  int32_t max_seq;           /* KV cache length per row (prompt + completion) */
  const int32_t *stop_ids; int32_t n_stop_ids;
  const char *const *stop_strings; int32_t n_stop_strings;
} lpo_gen_config;

/* Outputs for sample j of prompt i live at index i*n + j:
 *   ids   [P*n, max_new_tokens]  generated tokens (stop token excluded)
 *   logps [P*n, max_new_tokens]  their log-probs under the model (temperature 1)
 *   len   [P*n]                  number of generated tokens
 *   stop  [P*n]                  lpo_stop_reason
 * progress (optional) is called after each finished prompt with (done, total, user). */
typedef void (*lpo_gen_progress_fn)(int32_t done, int32_t total, void *user);
int lpo_generate(lpo_model *m, const lpo_tokenizer *tok, const int32_t *const *prompts,
                 const int32_t *prompt_lens, const uint64_t *prompt_keys, int32_t P,
                 const lpo_gen_config *cfg, int32_t *ids, float *logps, int32_t *len, int32_t *stop,
                 lpo_gen_progress_fn progress, void *user);
/* LPO_CDEF_END */
#endif
