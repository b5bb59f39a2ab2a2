/* rope.c — rotary position embedding in Hugging Face's "rotate_half" layout (Llama,
 * Qwen2): within a head of D dims, dim i pairs with dim i + D/2 and the pair turns by
 * angle pos * inv_freq[i]:
 *   y1 = x1 cos - x2 sin,   y2 = x2 cos + x1 sin
 * The tables cos/sin [P, D/2] are built by the model from rope_theta and rope_scaling.
 * A rotation's backward is the inverse rotation (sin -> -sin) applied to the gradient, so
 * q and k can be rotated in place and the unrotated values never need to be kept. */
#include "cpu/cpu.h"

typedef struct rope_job { float *x; const int32_t *pos; const float *cos, *sin; int H, D, stride; float sign; } rope_job;

LPO_HOT static void rotate_task(void *ctx, int n0, int n1, int tid) {
  (void)tid;
  const rope_job *j = ctx;
  const int half = j->D / 2;
  for (int n = n0; n < n1; n++) {
    const float *c = j->cos + (size_t)j->pos[n] * half, *s = j->sin + (size_t)j->pos[n] * half;
    for (int h = 0; h < j->H; h++) {
      float *x1 = j->x + (size_t)n * j->stride + (size_t)h * j->D, *x2 = x1 + half;
      for (int i = 0; i < half; i++) {
        float a = x1[i], b = x2[i], si = j->sign * s[i];
        x1[i] = a * c[i] - b * si;
        x2[i] = b * c[i] + a * si;
      }
    }
  }
}

void lpo_cpu_rope_forward(float *x, const int32_t *pos, const float *cos, const float *sin,
                          int N, int H, int D, int stride) {
  rope_job j = { x, pos, cos, sin, H, D, stride, 1.0f };
  lpo_cpu_parallel(rotate_task, &j, N, lpo_cpu_parts_for((size_t)N * H * D));
}

void lpo_cpu_rope_backward(float *dx, const int32_t *pos, const float *cos, const float *sin,
                           int N, int H, int D, int stride) {
  rope_job j = { dx, pos, cos, sin, H, D, stride, -1.0f };
  lpo_cpu_parallel(rotate_task, &j, N, 0);
}
