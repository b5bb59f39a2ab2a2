/* loss_pair.c — paired preference losses on per-sequence log-probs (B pairs).
 *
 * Every loss here is a mean over pairs of ℓ(z_i), where z_i is a scalar "logit" built from
 * the pair's log-probs, so the backward is one line per loss: dℓ/dz times dz/dlogp.
 * Notation per pair i:
 *   Δ_i  = (pc - rc) - (pr - rr)            DPO's implicit-reward difference (unscaled)
 *   ȳc_i = pc / |yc|, ȳr_i = pr / |yr|      per-token mean log-probs (SimPO, ORPO)
 * Formulas follow TRL 1.16 line by line (see lpo_loss.h); comments say where TRL's choice is
 * not the obvious one. */
#include "lpo_loss.h"
#include <math.h>
#include <string.h>

/* ---- stable scalar helpers ------------------------------------------------------------ */

/* log σ(x) = -log(1 + e^-x); the branch keeps exp's argument <= 0 so nothing overflows. */
double lpo_log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

double lpo_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

/* log(1 - e^x), x < 0: branch at -ln 2 (Mächler 2012), the same rule as TRL's ORPO log1mexp. */
double lpo_log1mexp(double x) { return x < -0.6931471805599453 ? log1p(-exp(x)) : log(-expm1(x)); }

/* ---- names ---------------------------------------------------------------------------- */

static const char *const kind_names[LPO_PREF_NKINDS] = {
  "sigmoid", "ipo", "hinge", "robust", "exo_pair", "sft", "simpo", "orpo",
};

const char *lpo_pref_kind_name(int kind) {
  return kind >= 0 && kind < LPO_PREF_NKINDS ? kind_names[kind] : NULL;
}

int lpo_pref_kind_from_name(const char *name) {
  for (int k = 0; k < LPO_PREF_NKINDS; k++)
    if (name && strcmp(name, kind_names[k]) == 0) return k;
  return lpo_set_error("unknown loss '%s' (known: sigmoid, ipo, hinge, robust, exo_pair, sft, simpo, orpo)",
                       name ? name : "(null)");
}

/* ---- validation ----------------------------------------------------------------------- */

int lpo_pref_config_check(const lpo_pref_config *cfg) {
  if (!cfg) return lpo_set_error("loss: config is NULL");
  const char *name = lpo_pref_kind_name(cfg->kind);
  if (!name) return lpo_set_error("loss: field 'kind' = %d is not a known loss kind", cfg->kind);
  double b = cfg->beta, eps = cfg->label_smoothing;
  if (cfg->kind == LPO_PREF_SFT) {
    if (!(b >= 0 && isfinite(b))) return lpo_set_error("loss %s: field 'beta' must be >= 0 (reward metrics only), got %g", name, b);
  } else if (!(b > 0 && isfinite(b))) {
    return lpo_set_error("loss %s: field 'beta' must be > 0, got %g", name, b);
  }
  if (cfg->kind == LPO_PREF_EXO_PAIR) {
    if (!(eps > 0 && eps < 1)) return lpo_set_error("loss %s: field 'label_smoothing' must be in (0, 1), got %g", name, eps);
  } else if (!(eps >= 0 && eps < 0.5)) {
    return lpo_set_error("loss %s: field 'label_smoothing' must be in [0, 0.5), got %g", name, eps);
  }
  if (eps != 0 && (cfg->kind == LPO_PREF_IPO || cfg->kind == LPO_PREF_HINGE || cfg->kind == LPO_PREF_SFT ||
                   cfg->kind == LPO_PREF_ORPO))
    return lpo_set_error("loss %s: field 'label_smoothing' is not used by this loss, got %g", name, eps);
  if (!isfinite(cfg->gamma)) return lpo_set_error("loss %s: field 'gamma' must be finite, got %g", name, cfg->gamma);
  if (cfg->gamma != 0 && cfg->kind != LPO_PREF_SIMPO)
    return lpo_set_error("loss %s: field 'gamma' is only used by simpo, got %g", name, cfg->gamma);
  if (!(cfg->nll_alpha >= 0 && isfinite(cfg->nll_alpha)))
    return lpo_set_error("loss %s: field 'nll_alpha' must be >= 0, got %g", name, cfg->nll_alpha);
  if (cfg->nll_alpha != 0 && (cfg->kind == LPO_PREF_SFT || cfg->kind == LPO_PREF_ORPO))
    return lpo_set_error("loss %s: field 'nll_alpha' is not used (this loss already is/contains the NLL term; "
                         "for orpo, beta weighs the odds-ratio term against it), got %g", name, cfg->nll_alpha);
  if (cfg->nll_norm != LPO_NLL_TOKENS && cfg->nll_norm != LPO_NLL_SEQUENCES && cfg->nll_norm != LPO_NLL_SEQUENCE_MEANS)
    return lpo_set_error("loss %s: field 'nll_norm' = %d must be 0 (tokens), 1 (sequences) or 2 (sequence_means)", name, cfg->nll_norm);
  return 0;
}

/* Which inputs a loss reads: policy_chosen always, the rest per kind. */
typedef struct needs { int rejected, ref, chosen_len, rejected_len; } needs;

static needs needs_of(const lpo_pref_config *cfg) {
  needs nd = { 1, 1, 0, 0 };
  switch (cfg->kind) {
    case LPO_PREF_IPO: nd.chosen_len = nd.rejected_len = 1; break;
    case LPO_PREF_SFT: nd.rejected = nd.ref = 0; break;
    case LPO_PREF_SIMPO: case LPO_PREF_ORPO: nd.ref = 0; nd.chosen_len = nd.rejected_len = 1; break;
    default: break;
  }
  if ((cfg->kind == LPO_PREF_SFT || cfg->nll_alpha > 0 || cfg->kind == LPO_PREF_ORPO) && cfg->nll_norm != LPO_NLL_SEQUENCES)
    nd.chosen_len = 1;
  return nd;
}

static int check_array(const char *loss, const char *field, const double *a, int64_t n) {
  if (!a) return lpo_set_error("loss %s: batch field '%s' is required", loss, field);
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(a[i]))
      return lpo_set_error("loss %s: batch field '%s'[%lld] is %s (must be finite)", loss, field, (long long)i,
                           isnan(a[i]) ? "nan" : a[i] > 0 ? "inf" : "-inf");
  return 0;
}

static int check_len(const char *loss, const char *field, const int32_t *a, int64_t n) {
  if (!a) return lpo_set_error("loss %s: batch field '%s' is required (token counts for length normalization)", loss, field);
  for (int64_t i = 0; i < n; i++)
    if (a[i] < 1) return lpo_set_error("loss %s: batch field '%s'[%lld] = %d (must be >= 1)", loss, field, (long long)i, (int)a[i]);
  return 0;
}

static int check_batch(const lpo_pref_batch *b, const lpo_pref_config *cfg) {
  const char *name = lpo_pref_kind_name(cfg->kind);
  if (!b) return lpo_set_error("loss %s: batch is NULL", name);
  if (b->n < 1) return lpo_set_error("loss %s: batch field 'n' = %lld (need at least one pair)", name, (long long)b->n);
  needs nd = needs_of(cfg);
  if (check_array(name, "policy_chosen", b->policy_chosen, b->n)) return -1;
  if (nd.rejected && check_array(name, "policy_rejected", b->policy_rejected, b->n)) return -1;
  if (nd.ref && check_array(name, "ref_chosen", b->ref_chosen, b->n)) return -1;
  if (nd.ref && check_array(name, "ref_rejected", b->ref_rejected, b->n)) return -1;
  if (nd.chosen_len && check_len(name, "chosen_len", b->chosen_len, b->n)) return -1;
  if (nd.rejected_len && check_len(name, "rejected_len", b->rejected_len, b->n)) return -1;
  if (cfg->kind == LPO_PREF_ORPO)  /* checked before any gradient accumulates */
    for (int64_t i = 0; i < b->n; i++) {
      double ac = b->policy_chosen[i] / b->chosen_len[i], ar = b->policy_rejected[i] / b->rejected_len[i];
      if (!(ac < 0) || !(ar < 0))
        return lpo_set_error("loss orpo: pair %lld has a per-token mean log-prob >= 0 (chosen %g, rejected %g); "
                             "the odds ratio needs probabilities < 1", (long long)i, ac, ar);
    }
  return 0;
}

/* ---- metrics -------------------------------------------------------------------------- */

static void out_clear(lpo_loss_out *out) {
  out->loss = NAN;
  out->rewards_chosen = out->rewards_rejected = out->rewards_accuracies = out->rewards_margins = NAN;
  out->logps_chosen = out->logps_rejected = out->nll = out->log_odds_ratio = out->log_odds_chosen = out->kl = NAN;
}

/* TRL's metrics from per-pair log-probs xc, xr, divided by lc, lr when given (SimPO/ORPO log
 * per-token means). Rewards are β·(x - ref), or β·x when ref_free; they stay NaN when beta is 0
 * or an input they need is NULL, and so do the logps of a NULL input. */
static void fill_metrics(lpo_loss_out *out, int64_t n, double beta, int ref_free, const double *xc, const double *xr,
                         const double *rc, const double *rr, const int32_t *lc, const int32_t *lr) {
  double sc = 0, sr = 0, wc = 0, wr = 0, acc = 0, marg = 0;
  int have_rewards = beta > 0 && xc && xr && (ref_free || (rc && rr));
  for (int64_t i = 0; i < n; i++) {
    double pc = xc ? xc[i] / (lc ? lc[i] : 1) : 0, pr = xr ? xr[i] / (lr ? lr[i] : 1) : 0;
    sc += pc; sr += pr;
    if (have_rewards) {
      double c = beta * (ref_free ? pc : pc - rc[i]), r = beta * (ref_free ? pr : pr - rr[i]);
      wc += c; wr += r; acc += c > r ? 1.0 : 0.0; marg += c - r;
    }
  }
  if (xc) out->logps_chosen = sc / n;
  if (xr) out->logps_rejected = sr / n;
  if (have_rewards) {
    out->rewards_chosen = wc / n; out->rewards_rejected = wr / n;
    out->rewards_accuracies = acc / n; out->rewards_margins = marg / n;
  }
}

int lpo_pref_metrics(lpo_loss_out *out, const lpo_pref_batch *b, double beta) {
  if (!out || !b || b->n < 1 || !b->policy_chosen || !b->policy_rejected)
    return lpo_set_error("loss metrics: need a batch with n >= 1, policy_chosen and policy_rejected");
  if (!(beta >= 0)) return lpo_set_error("loss metrics: field 'beta' must be >= 0, got %g", beta);
  out_clear(out);
  if ((b->ref_chosen == NULL) != (b->ref_rejected == NULL))
    return lpo_set_error("loss metrics: give both ref_chosen and ref_rejected or neither");
  fill_metrics(out, b->n, beta, 0, b->policy_chosen, b->policy_rejected, b->ref_chosen, b->ref_rejected, NULL, NULL);
  return 0;
}

/* ---- the NLL term --------------------------------------------------------------------- */

/* NLL of the chosen responses; adds w * dNLL/dpc to d_chosen. TOKENS: -Σ pc / Σ |yc| (the
 * token mean torch's CrossEntropyLoss takes over the whole chosen batch); SEQUENCES: -mean pc;
 * SEQUENCE_MEANS: -mean (pc / |yc|), OpenRLHF's DPO nll_loss. */
static double nll_term(const lpo_pref_batch *b, int norm, double *d_chosen, double w) {
  if (norm == LPO_NLL_SEQUENCE_MEANS) {
    double s = 0, inv_n = 1.0 / (double)b->n;
    for (int64_t i = 0; i < b->n; i++) {
      s += b->policy_chosen[i] / b->chosen_len[i];
      if (d_chosen && w != 0) d_chosen[i] += -w * inv_n / b->chosen_len[i];
    }
    return -s * inv_n;
  }
  double s = 0, denom = 0;
  for (int64_t i = 0; i < b->n; i++) {
    s += b->policy_chosen[i];
    denom += norm == LPO_NLL_TOKENS ? (double)b->chosen_len[i] : 1.0;
  }
  if (d_chosen && w != 0)
    for (int64_t i = 0; i < b->n; i++) d_chosen[i] += -w / denom;
  return -s / denom;
}

/* ---- the losses ----------------------------------------------------------------------- */

/* One pair's loss ℓ(z) and dℓ/dz for the sigmoid-shaped losses, z = β·(scaled difference). */
static double sigmoid_family(int kind, double z, double eps, double *dz) {
  switch (kind) {
    case LPO_PREF_SIGMOID:
    case LPO_PREF_SIMPO:
      /* cDPO / CPO form: -(1-ε) log σ(z) - ε log σ(-z); d/dz = σ(z) - (1-ε). */
      *dz = lpo_sigmoid(z) - (1.0 - eps);
      return -(1.0 - eps) * lpo_log_sigmoid(z) - (eps != 0 ? eps * lpo_log_sigmoid(-z) : 0.0);
    case LPO_PREF_ROBUST:
      /* Chowdhury et al. 2024 unbiased estimator: (-(1-ε) log σ(z) + ε log σ(-z)) / (1-2ε). */
      /* d/dz = [-(1-ε)(1-σ) - εσ] / (1-2ε) = σ(z) - (1-ε)/(1-2ε). */
      *dz = lpo_sigmoid(z) - (1.0 - eps) / (1.0 - 2.0 * eps);
      return (-(1.0 - eps) * lpo_log_sigmoid(z) + eps * lpo_log_sigmoid(-z)) / (1.0 - 2.0 * eps);
    case LPO_PREF_HINGE: {
      double m = 1.0 - z;  /* torch's relu has derivative 0 at the kink: so do we */
      *dz = m > 0 ? -1.0 : 0.0;
      return m > 0 ? m : 0.0;
    }
    case LPO_PREF_EXO_PAIR: {
      /* qw = σ(z), ql = σ(-z); ℓ = qw (log qw - log(1-ε)) + ql (log ql - log ε).
       * dℓ/dz = qw·ql·[(log qw - log(1-ε)) - (log ql - log ε)] (the other terms cancel). */
      double qw = lpo_sigmoid(z), ql = lpo_sigmoid(-z);
      double lqw = lpo_log_sigmoid(z), lql = lpo_log_sigmoid(-z);
      double a = lqw - log1p(-eps), c = lql - log(eps);
      *dz = qw * ql * (a - c);
      return qw * a + ql * c;
    }
    default: LPO_ASSERT(0 && "not a sigmoid-family loss"); return 0;
  }
}

int lpo_pref_loss(lpo_loss_out *out, double *d_chosen, double *d_rejected,
                  const lpo_pref_batch *b, const lpo_pref_config *cfg, double dloss) {
  if (!out) return lpo_set_error("loss: output is NULL");
  out_clear(out);
  if (lpo_pref_config_check(cfg) || check_batch(b, cfg)) return -1;
  if (!isfinite(dloss)) return lpo_set_error("loss %s: dloss = %g is not finite", lpo_pref_kind_name(cfg->kind), dloss);
  const int64_t n = b->n;
  const double beta = cfg->beta, eps = cfg->label_smoothing, inv_n = 1.0 / (double)n;
  const double *pc = b->policy_chosen, *pr = b->policy_rejected, *rc = b->ref_chosen, *rr = b->ref_rejected;
  const int32_t *lc = b->chosen_len, *lr = b->rejected_len;
  double total = 0, lo_ratio = 0, lo_chosen = 0;

  if (cfg->kind == LPO_PREF_SFT) {
    total = nll_term(b, cfg->nll_norm, d_chosen, dloss);
    out->nll = total;
    /* TRL's DPOTrainer logs the usual reward metrics even for loss_type="sft". */
    fill_metrics(out, n, beta, 0, pc, pr, rc, rr, NULL, NULL);
    out->loss = total;
    return 0;
  }

  for (int64_t i = 0; i < n; i++) {
    double gc = 0, gr = 0;  /* dℓ_i/dpc_i, dℓ_i/dpr_i */
    double l;
    switch (cfg->kind) {
      case LPO_PREF_SIGMOID: case LPO_PREF_ROBUST: case LPO_PREF_HINGE: case LPO_PREF_EXO_PAIR: {
        double dz, z = beta * ((pc[i] - rc[i]) - (pr[i] - rr[i]));
        l = sigmoid_family(cfg->kind, z, eps, &dz);
        gc = dz * beta; gr = -dz * beta;
        break;
      }
      case LPO_PREF_IPO: {
        /* TRL divides each log-ratio by its completion length so β means the same at any
         * length (confirmed with the IPO authors, per TRL's comment). */
        double delta = (pc[i] - rc[i]) / lc[i] - (pr[i] - rr[i]) / lr[i];
        double u = delta - 1.0 / (2.0 * beta);
        l = u * u;
        gc = 2.0 * u / lc[i]; gr = -2.0 * u / lr[i];
        break;
      }
      case LPO_PREF_SIMPO: {
        /* CPOTrainer: logits = ȳc - ȳr - γ/β, loss on β·logits = β(ȳc - ȳr) - γ. */
        double dz, z = beta * (pc[i] / lc[i] - pr[i] / lr[i]) - cfg->gamma;
        l = sigmoid_family(LPO_PREF_SIMPO, z, eps, &dz);
        gc = dz * beta / lc[i]; gr = -dz * beta / lr[i];
        break;
      }
      case LPO_PREF_ORPO: {
        /* log odds(p) = log p - log(1-p) on per-token mean log-probs; requires ȳ < 0. */
        double ac = pc[i] / lc[i], ar = pr[i] / lr[i];  /* both < 0: checked in check_batch */
        double lo = (ac - ar) - (lpo_log1mexp(ac) - lpo_log1mexp(ar));
        double ratio = lpo_log_sigmoid(lo);
        lo_ratio += ratio; lo_chosen += lo;
        /* ℓ = -β log σ(lo); dlo/dac = 1/(1-e^ac) = -1/expm1(ac), dlo/dar = 1/expm1(ar). */
        l = -beta * ratio;
        double dl_dlo = -beta * (1.0 - lpo_sigmoid(lo));
        gc = dl_dlo * (-1.0 / expm1(ac)) / lc[i];
        gr = dl_dlo * (1.0 / expm1(ar)) / lr[i];
        break;
      }
      default: LPO_ASSERT(0 && "unhandled loss kind"); return -1;
    }
    total += l;
    if (d_chosen) d_chosen[i] += dloss * gc * inv_n;
    if (d_rejected) d_rejected[i] += dloss * gr * inv_n;
  }
  total *= inv_n;

  if (cfg->kind == LPO_PREF_SIMPO || cfg->kind == LPO_PREF_ORPO)
    fill_metrics(out, n, beta, 1, pc, pr, NULL, NULL, lc, lr);  /* CPO/ORPO: per-token means, rewards β·ȳ */
  else
    fill_metrics(out, n, beta, 0, pc, pr, rc, rr, NULL, NULL);
  if (cfg->kind == LPO_PREF_ORPO) {
    out->log_odds_ratio = lo_ratio * inv_n;
    out->log_odds_chosen = lo_chosen * inv_n;
    out->nll = nll_term(b, cfg->nll_norm, d_chosen, dloss);  /* ORPO = NLL + odds-ratio term */
    total += out->nll;
  }
  if (cfg->nll_alpha > 0) {  /* RPO / CPO: + α·NLL(chosen) */
    out->nll = nll_term(b, cfg->nll_norm, d_chosen, dloss * cfg->nll_alpha);
    total += cfg->nll_alpha * out->nll;
  }
  out->loss = total;
  return 0;
}

int lpo_pref_loss_sum(lpo_loss_out *out, double *d_chosen, double *d_rejected,
                      const lpo_pref_batch *b, const lpo_pref_config *cfgs,
                      const double *weights, int n_losses, double dloss) {
  if (!out || !cfgs || !weights || n_losses < 1) return lpo_set_error("loss sum: need at least one (loss, weight) term");
  for (int k = 0; k < n_losses; k++) {
    if (!isfinite(weights[k])) return lpo_set_error("loss sum: term %d has weight %g (must be finite)", k + 1, weights[k]);
    if (lpo_pref_config_check(&cfgs[k]) || check_batch(b, &cfgs[k])) return -1;
  }
  double total = 0;
  for (int k = 0; k < n_losses; k++) {
    lpo_loss_out o;
    if (lpo_pref_loss(&o, d_chosen, d_rejected, b, &cfgs[k], dloss * weights[k])) return -1;
    if (k == 0) *out = o;
    else if (isnan(out->nll) && !isnan(o.nll)) out->nll = o.nll;
    total += weights[k] * o.loss;
  }
  out->loss = total;
  return 0;
}
