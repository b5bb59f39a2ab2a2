/* init.c — lpo_model_new: a model from a config with Philox-random parameters.
 * As transformers' _init_weights for Llama/Qwen2: linear and embedding weights
 * ~ normal(0, initializer_range), biases 0, RMSNorm weights 1. Each Hugging Face tensor
 * draws from its own stream keyed by (seed, tensor index), so a tensor's values do not
 * depend on the others' sizes. */
#include "model/model.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PURPOSE_INIT = 0x494e4954 };   /* "INIT" */

/* n normals of standard deviation sd from the stream `key`: each Philox block (4 x 32
 * random bits) gives two Box-Muller pairs, so init of a 100M-parameter model takes
 * seconds, not minutes. */
static void fill_normal(float *x, int64_t n, uint64_t key, double sd) {
  const double two_pi = 6.283185307179586, inv = 1.0 / 4294967296.0;
  uint32_t r[4];
  for (int64_t i = 0, c = 0; i < n; c++) {
    lpo_philox_block(r, key, (uint64_t)c);
    for (int k = 0; k < 4 && i < n; k += 2) {
      double u1 = ((double)r[k] + 0.5) * inv, u2 = ((double)r[k + 1] + 0.5) * inv;   /* (0, 1) */
      double rad = sd * sqrt(-2.0 * log(u1));
      x[i++] = (float)(rad * cos(two_pi * u2));
      if (i < n) x[i++] = (float)(rad * sin(two_pi * u2));
    }
  }
}

void lpo_model_init_random(lpo_model *m, uint64_t seed) {
  for (int i = 0; i < m->ntensors; i++) {
    const lpo_model_tensor *t = &m->tensors[i];
    float *x = m->params_mem + t->offset;
    size_t len = strlen(t->name);
    if (t->ndim == 1 && len > 5 && !strcmp(t->name + len - 5, ".bias")) {
      memset(x, 0, (size_t)t->numel * sizeof(float));
    } else if (t->ndim == 1) {
      for (int64_t j = 0; j < t->numel; j++) x[j] = 1.0f;
    } else {
      fill_normal(x, t->numel, lpo_philox_key(seed, PURPOSE_INIT, (uint64_t)i, 0, 0), m->cfg.initializer_range);
    }
  }
}

lpo_model *lpo_model_new(const char *config_json, uint64_t seed) {
  lpo_model_config cfg;
  if (lpo_model_config_parse(&cfg, config_json, "config")) return NULL;
  lpo_model *m = lpo_model_build(&cfg, config_json);
  if (!m) return NULL;
  lpo_model_init_random(m, seed);
  return m;
}
