/* rope.c — rotary position embedding in Hugging Face's "rotate_half" layout (Llama,
 * Qwen2): within a head of D dims, dim i pairs with dim i + D/2 and the pair turns by
 * angle pos * inv_freq[i]:
 *   y1 = x1 cos - x2 sin,   y2 = x2 cos + x1 sin
 * The tables cos/sin [P, D/2] are built by the model from rope_theta and rope_scaling.
 * A rotation's backward is the inverse rotation (sin -> -sin) applied to the gradient, so
 * q and k can be rotated in place and the unrotated values never need to be kept. */
#include "cpu/cpu.h"

LPO_HOT static void rotate(float *x, const int32_t *pos, const float *cos, const float *sin,
                           int N, int H, int D, int stride, float sign) {
  int half = D / 2;
  for (int n = 0; n < N; n++) {
    const float *c = cos + (size_t)pos[n] * half, *s = sin + (size_t)pos[n] * half;
    for (int h = 0; h < H; h++) {
      float *x1 = x + (size_t)n * stride + (size_t)h * D, *x2 = x1 + half;
      for (int i = 0; i < half; i++) {
        float a = x1[i], b = x2[i], si = sign * s[i];
        x1[i] = a * c[i] - b * si;
        x2[i] = b * c[i] + a * si;
      }
    }
  }
}

void lpo_cpu_rope_forward(float *x, const int32_t *pos, const float *cos, const float *sin,
                          int N, int H, int D, int stride) {
  rotate(x, pos, cos, sin, N, H, D, stride, 1.0f);
}

void lpo_cpu_rope_backward(float *dx, const int32_t *pos, const float *cos, const float *sin,
                           int N, int H, int D, int stride) {
  rotate(dx, pos, cos, sin, N, H, D, stride, -1.0f);
}
