/* rope_freqs.c — the rotary tables cos/sin [npos, D/2] from rope_theta and rope_scaling.
 *
 * Frequencies follow transformers' ROPE_INIT_FUNCTIONS, in float32 as transformers
 * computes them (inv_freq and the angle pos * inv_freq are float32 tensors there), so our
 * angles match theirs bit for bit and only cos/sin rounding differs:
 *   default   inv_freq[i] = 1 / theta^(2i/D)
 *   linear    inv_freq / factor                      (position interpolation)
 *   dynamic   theta' = theta (factor L/Lmax - (factor-1))^(D/(D-2)) when the sequence
 *             length L exceeds max_position_embeddings (NTK-aware; stateless here: we use
 *             the current length, where transformers also remembers the largest seen)
 *   llama3    long wavelengths divided by factor, short kept, a smooth ramp between. */
#include "model/model.h"
#include <math.h>

static void inv_freqs(float *inv, const lpo_model_config *c, int seq_len) {
  int D = c->head_dim, half = D / 2;
  double base = c->rope_theta;
  if (c->rope_kind == LPO_ROPE_DYNAMIC && seq_len > c->max_position_embeddings) {
    double f = c->rope_factor;
    base = base * pow(f * seq_len / c->max_position_embeddings - (f - 1.0), (double)D / (D - 2));
  }
  for (int i = 0; i < half; i++) {
    float e = (float)(2 * i) / (float)D;
    inv[i] = 1.0f / powf((float)base, e);
  }
  if (c->rope_kind == LPO_ROPE_LINEAR)
    for (int i = 0; i < half; i++) inv[i] = inv[i] / (float)c->rope_factor;
  if (c->rope_kind == LPO_ROPE_LLAMA3) {
    double f = c->rope_factor, lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
    double old = c->rope_original_max_position;
    double low_wavelen = old / lo, high_wavelen = old / hi;
    for (int i = 0; i < half; i++) {
      double w = 2.0 * M_PI / inv[i], v = inv[i];
      if (w > low_wavelen) v = inv[i] / f;                    /* long: interpolate */
      else if (w >= high_wavelen) {                            /* medium: blend */
        double s = (old / w - lo) / (hi - lo);
        v = (1.0 - s) * inv[i] / f + s * inv[i];
      }
      inv[i] = (float)v;
    }
  }
}

void lpo_rope_tables(float *cos_t, float *sin_t, const lpo_model_config *c, int npos, int seq_len) {
  int half = c->head_dim / 2;
  float inv[512];                       /* head_dim <= 1024 (config check) */
  inv_freqs(inv, c, seq_len);
  for (int p = 0; p < npos; p++)
    for (int i = 0; i < half; i++) {
      float angle = (float)p * inv[i];
      cos_t[(size_t)p * half + i] = (float)cos((double)angle);
      sin_t[(size_t)p * half + i] = (float)sin((double)angle);
    }
}
