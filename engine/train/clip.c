/* clip.c — global gradient norm, clipping and scaling over one flat gradient array.
 *
 * The norm is summed in double over 8 interleaved lanes combined in a fixed tree, so it
 * is deterministic (same bits for the same input on any thread count) and not limited
 * by one long dependency chain. Clipping follows torch.nn.utils.clip_grad_norm_:
 * coef = max_norm / (norm + 1e-6), applied when < 1, computed in f32 as torch does for
 * f32 gradients (x / t is x * t.reciprocal() in torch). */
#include "lpo_optim.h"
#include <math.h>
#include <string.h>

double lpo_grad_norm(const float *g, int64_t n) {
  double acc[8] = { 0 };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) acc[k] += (double)g[i + k] * (double)g[i + k];
  for (int k = 0; i < n; i++, k++) acc[k] += (double)g[i] * (double)g[i];
  double s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  return sqrt(s);
}

void lpo_grad_scale(float *g, int64_t n, float s) {
  for (int64_t i = 0; i < n; i++) g[i] *= s;
}

void lpo_grad_zero(float *g, int64_t n) {
  if (n > 0) memset(g, 0, (size_t)n * sizeof *g);
}

float lpo_clip_grad_norm(float *g, int64_t n, float max_norm) {
  float norm = (float)lpo_grad_norm(g, n);
  if (!(max_norm > 0)) return norm;
  float coef = (1.0f / (norm + 1e-6f)) * max_norm;
  if (coef < 1.0f || isnan(coef)) lpo_grad_scale(g, n, coef);  /* clamp(max=1): NaN passes, as in torch */
  return norm;
}
