/* init.c — lpo_model_new: a model from a config with Philox-random parameters.
 * As transformers' _init_weights for Llama/Qwen2: linear and embedding weights
 * ~ normal(0, initializer_range), biases 0, RMSNorm weights 1. Each Hugging Face tensor
 * draws from its own stream keyed by (seed, tensor index), so a tensor's values do not
 * depend on the others' sizes. */
#include "model/model.h"
#include <stdlib.h>
#include <string.h>

enum { PURPOSE_INIT = 0x494e4954 };   /* "INIT" */

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
      lpo_philox rng;
      lpo_philox_init(&rng, lpo_philox_key(seed, PURPOSE_INIT, (uint64_t)i, 0, 0), 0);
      double sd = m->cfg.initializer_range;
      for (int64_t j = 0; j < t->numel; j++) x[j] = (float)(sd * lpo_philox_normal(&rng));
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
