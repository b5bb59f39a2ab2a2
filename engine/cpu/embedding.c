/* embedding.c — token embedding lookup and its backward, plus the row gather/scatter the
 * model uses to run the LM head only on tokens that carry a target.
 * Token ids are validated by the model before any kernel runs. Backward walks tokens in
 * order, so repeated ids accumulate in a fixed order (deterministic). */
#include "cpu/cpu.h"

void lpo_cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C) {
  for (int n = 0; n < N; n++)
    memcpy(out + (size_t)n * C, wte + (size_t)tokens[n] * C, (size_t)C * sizeof(float));
}

LPO_HOT static void add_row(float *restrict dst, const float *restrict src, int C) {
  for (int i = 0; i < C; i++) dst[i] += src[i];
}

void lpo_cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N,
                                int C) {
  for (int n = 0; n < N; n++) add_row(dwte + (size_t)tokens[n] * C, dout + (size_t)n * C, C);
}

void lpo_cpu_gather_rows(float *dst, const float *src, const int32_t *idx, int M, int C) {
  for (int m = 0; m < M; m++)
    memcpy(dst + (size_t)m * C, src + (size_t)idx[m] * C, (size_t)C * sizeof(float));
}

void lpo_cpu_scatter_add_rows(float *dst, const float *src, const int32_t *idx, int M, int C) {
  for (int m = 0; m < M; m++) add_row(dst + (size_t)idx[m] * C, src + (size_t)m * C, C);
}
