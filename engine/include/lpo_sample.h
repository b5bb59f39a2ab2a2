/* lpo_sample.h — choosing the next token from a row of logits: greedy, temperature,
 * top-k, top-p (nucleus). The random draw comes from Philox keyed by the caller (e.g. by
 * (seed, purpose, round, problem, sample)) with the token position as counter, so a
 * sample never depends on batch size, order or thread count. */
#ifndef LPO_SAMPLE_H
#define LPO_SAMPLE_H
#include <stdint.h>
/* LPO_CDEF_BEGIN */
typedef struct lpo_sample_config {
  float temperature;  /* 0 = greedy (argmax, lowest id on ties) */
  int32_t top_k;      /* 0 = off */
  float top_p;        /* 1 = off; keeps the smallest prefix of sorted probs with mass >= top_p */
} lpo_sample_config;
/* Returns the chosen token; writes its log-probability under the model's distribution
 * (log_softmax of the raw logits) to *logp. `scratch` holds 5*V 32-bit words (use
 * lpo_sample_scratch_bytes). Returns -1 + error on bad arguments. */
int32_t lpo_sample_next(const float *logits, int32_t V, const lpo_sample_config *cfg,
                        uint64_t key, uint64_t position, void *scratch, float *logp);
int64_t lpo_sample_scratch_bytes(int32_t V);
/* 0 when cfg is valid for lpo_sample_next, else -1 + error. */
int lpo_sample_check(const lpo_sample_config *cfg);
/* LPO_CDEF_END */
#endif
