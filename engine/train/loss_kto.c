/* loss_kto.c — KTO (Ethayarajh et al. 2024) on N unpaired examples, as TRL's KTOTrainer.
 *
 * Per example i with implicit reward r_i = policy_i - ref_i (unscaled):
 *   desirable   (label 1): ℓ_i = λ_D · (1 - σ(β(r_i - z0)))
 *   undesirable (label 0): ℓ_i = λ_U · (1 - σ(β(z0 - r_i)))
 * loss = mean_i ℓ_i over all N examples (TRL concatenates both groups and takes the mean).
 * z0 = max(0, mean_j (kl_policy_j - kl_ref_j)) over mismatched (prompt, other completion)
 * pairs is a *detached* estimate of KL(πθ‖π0): TRL computes it under no_grad, so it has no
 * gradient here either. The apo_zero_unpaired variant drops z0: 1-σ(βr) / σ(βr). */
#include "lpo_loss.h"
#include <math.h>

static int check_finite(const char *field, const double *a, int64_t n) {
  if (!a) return lpo_set_error("loss kto: batch field '%s' is required", field);
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(a[i]))
      return lpo_set_error("loss kto: batch field '%s'[%lld] is %s (must be finite)", field, (long long)i,
                           isnan(a[i]) ? "nan" : a[i] > 0 ? "inf" : "-inf");
  return 0;
}

static int check_config(const lpo_kto_config *cfg) {
  if (!cfg) return lpo_set_error("loss kto: config is NULL");
  if (cfg->kind != LPO_KTO && cfg->kind != LPO_KTO_APO_ZERO)
    return lpo_set_error("loss kto: field 'kind' = %d must be 0 (kto) or 1 (apo_zero_unpaired)", cfg->kind);
  if (!(cfg->beta > 0 && isfinite(cfg->beta))) return lpo_set_error("loss kto: field 'beta' must be > 0, got %g", cfg->beta);
  if (!(cfg->desirable_weight >= 0 && isfinite(cfg->desirable_weight)))
    return lpo_set_error("loss kto: field 'desirable_weight' must be >= 0, got %g", cfg->desirable_weight);
  if (!(cfg->undesirable_weight >= 0 && isfinite(cfg->undesirable_weight)))
    return lpo_set_error("loss kto: field 'undesirable_weight' must be >= 0, got %g", cfg->undesirable_weight);
  return 0;
}

int lpo_kto_loss(lpo_loss_out *out, double *d_policy, const lpo_kto_batch *b,
                 const lpo_kto_config *cfg, double dloss) {
  if (!out) return lpo_set_error("loss kto: output is NULL");
  out->loss = out->rewards_chosen = out->rewards_rejected = out->rewards_accuracies = out->rewards_margins = NAN;
  out->logps_chosen = out->logps_rejected = out->nll = out->log_odds_ratio = out->log_odds_chosen = out->kl = NAN;
  if (check_config(cfg)) return -1;
  if (!b) return lpo_set_error("loss kto: batch is NULL");
  if (b->n < 1) return lpo_set_error("loss kto: batch field 'n' = %lld (need at least one example)", (long long)b->n);
  if (check_finite("policy", b->policy, b->n) || check_finite("ref", b->ref, b->n)) return -1;
  if (!b->label) return lpo_set_error("loss kto: batch field 'label' is required");
  for (int64_t i = 0; i < b->n; i++)
    if (b->label[i] != 0 && b->label[i] != 1)
      return lpo_set_error("loss kto: batch field 'label'[%lld] = %d (must be 1 desirable or 0 undesirable)", (long long)i, (int)b->label[i]);
  if (b->n_kl < 0) return lpo_set_error("loss kto: batch field 'n_kl' = %lld is negative", (long long)b->n_kl);
  if (cfg->kind == LPO_KTO && b->n_kl > 0 &&
      (check_finite("kl_policy", b->kl_policy, b->n_kl) || check_finite("kl_ref", b->kl_ref, b->n_kl))) return -1;
  if (!isfinite(dloss)) return lpo_set_error("loss kto: dloss = %g is not finite", dloss);

  /* z0: detached, clamped at 0 (TRL: (KL_logps - ref_KL_logps).mean().clamp(min=0)). */
  double z0 = 0;
  if (cfg->kind == LPO_KTO && b->n_kl > 0) {
    double s = 0;
    for (int64_t j = 0; j < b->n_kl; j++) s += b->kl_policy[j] - b->kl_ref[j];
    z0 = fmax(0.0, s / (double)b->n_kl);
  }

  const double beta = cfg->beta, inv_n = 1.0 / (double)b->n;
  double total = 0, rc = 0, rr = 0, lc = 0, lr = 0;
  int64_t nc = 0, nr = 0;
  for (int64_t i = 0; i < b->n; i++) {
    double r = b->policy[i] - b->ref[i], l, g;  /* g = dℓ_i/dpolicy_i */
    if (b->label[i]) {
      double z = cfg->kind == LPO_KTO ? beta * (r - z0) : beta * r;
      double s = lpo_sigmoid(z);
      l = cfg->desirable_weight * lpo_sigmoid(-z);  /* = 1 - σ(z), without cancellation for large z */
      g = -cfg->desirable_weight * beta * s * (1.0 - s);
      rc += beta * r; lc += b->policy[i]; nc++;
    } else {
      if (cfg->kind == LPO_KTO) {
        double z = beta * (z0 - r), s = lpo_sigmoid(z);
        l = cfg->undesirable_weight * lpo_sigmoid(-z);
        g = cfg->undesirable_weight * beta * s * (1.0 - s);
      } else {
        double z = beta * r, s = lpo_sigmoid(z);
        l = cfg->undesirable_weight * s;
        g = cfg->undesirable_weight * beta * s * (1.0 - s);
      }
      rr += beta * r; lr += b->policy[i]; nr++;
    }
    total += l;
    if (d_policy) d_policy[i] += dloss * g * inv_n;
  }
  out->loss = total * inv_n;
  out->kl = z0;
  if (nc > 0) { out->rewards_chosen = rc / nc; out->logps_chosen = lc / nc; }
  if (nr > 0) { out->rewards_rejected = rr / nr; out->logps_rejected = lr / nr; }
  if (nc > 0 && nr > 0) out->rewards_margins = out->rewards_chosen - out->rewards_rejected;
  return 0;
}
