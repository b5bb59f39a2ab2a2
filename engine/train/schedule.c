/* schedule.c — learning-rate schedules, exactly as transformers.optimization computes
 * them (the lambdas handed to torch's LambdaLR), so an lpo run and an HF Trainer run
 * with the same settings use the same learning rate at every step, to the last bit.
 * The arithmetic below keeps Python's evaluation order on purpose (no reassociation):
 * e.g. cos(pi * cycles * 2 * progress) is ((pi * cycles) * 2) * progress. */
#include "lpo_optim.h"
#include <math.h>
#include <string.h>

int lpo_lr_kind_parse(const char *name) {
  static const struct { const char *name; int kind; } k[] = {
    { "constant", LPO_LR_CONSTANT }, { "constant_with_warmup", LPO_LR_CONSTANT },
    { "linear", LPO_LR_LINEAR }, { "cosine", LPO_LR_COSINE },
    { "cosine_with_min_lr", LPO_LR_COSINE_MIN }, { "cosine_min", LPO_LR_COSINE_MIN },
  };
  for (size_t i = 0; name && i < sizeof k / sizeof *k; i++) if (strcmp(name, k[i].name) == 0) return k[i].kind;
  return lpo_set_error("schedule kind '%s' is not one of constant, linear, cosine, cosine_with_min_lr", name ? name : "(null)");
}

int lpo_lr_check(const lpo_lr_schedule *s) {
  if (!s) return lpo_set_error("schedule: NULL");
  if (s->kind < LPO_LR_CONSTANT || s->kind > LPO_LR_COSINE_MIN) return lpo_set_error("schedule: kind %d is unknown", s->kind);
  if (!(s->lr >= 0) || !isfinite(s->lr)) return lpo_set_error("schedule: lr must be a finite number >= 0 (got %g)", s->lr);
  if (s->warmup_steps < 0) return lpo_set_error("schedule: warmup_steps must be >= 0 (got %lld)", (long long)s->warmup_steps);
  if (!(s->warmup_ratio >= 0 && s->warmup_ratio < 1))
    return lpo_set_error("schedule: warmup ratio must be in [0, 1) (got %g); give whole steps as warmup_steps", s->warmup_ratio);
  if (s->total_steps < 0) return lpo_set_error("schedule: total_steps must be >= 0 (got %lld)", (long long)s->total_steps);
  if (s->kind != LPO_LR_CONSTANT && s->total_steps == 0)
    return lpo_set_error("schedule: total_steps is required for a decaying schedule");
  if (s->warmup_ratio > 0 && s->warmup_steps == 0 && s->total_steps == 0)
    return lpo_set_error("schedule: a warmup ratio needs total_steps");
  if (!(s->num_cycles >= 0) || !isfinite(s->num_cycles)) return lpo_set_error("schedule: num_cycles must be >= 0 (got %g)", s->num_cycles);
  if (!(s->min_lr_ratio >= 0 && s->min_lr_ratio <= 1)) return lpo_set_error("schedule: min_lr_ratio must be in [0, 1] (got %g)", s->min_lr_ratio);
  return 0;
}

/* TrainingArguments.get_warmup_steps: whole steps if given, else ceil(total * ratio). */
int64_t lpo_lr_warmup(const lpo_lr_schedule *s) {
  if (s->warmup_steps > 0) return s->warmup_steps;
  return (int64_t)ceil((double)s->total_steps * s->warmup_ratio);
}

double lpo_lr_at(const lpo_lr_schedule *s, int64_t step) {
  int64_t w = lpo_lr_warmup(s), total = s->total_steps;
  double f;
  if (step < w) {
    f = (double)step / (double)(w > 1 ? w : 1);
  } else if (s->kind == LPO_LR_CONSTANT) {
    f = 1.0;
  } else if (s->kind == LPO_LR_LINEAR) {
    int64_t den = total - w > 1 ? total - w : 1;
    f = (double)(total - step) / (double)den;
    if (!(f > 0.0)) f = 0.0;                                   /* max(0.0, ...) */
  } else {
    int64_t den = total - w > 1 ? total - w : 1;
    double progress = (double)(step - w) / (double)den;
    double cycles = s->num_cycles > 0 ? s->num_cycles : 0.5;
    double min_rate = s->kind == LPO_LR_COSINE_MIN ? s->min_lr_ratio : 0.0;
    f = 0.5 * (1.0 + cos(M_PI * cycles * 2.0 * progress));
    f = f * (1 - min_rate) + min_rate;
    if (!(f > 0.0)) f = 0.0;                                   /* max(0, factor) */
  }
  return s->lr * f;
}
