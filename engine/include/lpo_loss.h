/* lpo_loss.h — preference losses on per-sequence log-probs (DPO family, SFT/RFT, SimPO,
 * ORPO, KTO), their gradients on the policy log-probs, and the metrics TRL logs.
 *
 * Inputs are per-sequence *summed* response log-probs (B pairs, or N unpaired examples for
 * KTO) plus response token counts where a loss normalizes by length. The model computes
 * the log-probs; these functions only turn them into a loss and dL/dlogp, which the model's
 * backward then spreads over the tokens. Everything is computed in double with stable
 * log-sigmoids, and reductions run in index order (deterministic).
 *
 * Formulas follow TRL 1.16 (DPOTrainer._compute_loss, KTOTrainer._compute_loss,
 * CPOTrainer.cpo_loss for SimPO, ORPOTrainer.odds_ratio_loss); lua/lpo/loss.lua documents
 * each one and tests/fixtures/loss holds values produced by TRL itself.
 *
 * Gradient convention (as every lpo backward): d_chosen[i] += dloss * dL/dpolicy_chosen[i],
 * i.e. gradients ACCUMULATE and are scaled by the upstream gradient `dloss` (1.0 for a
 * plain loss, w for a term of a weighted sum). Pass NULL for a forward-only call.
 * Errors (bad hyper-parameter, missing input, non-finite input, non-positive length)
 * return -1 with lpo_last_error() naming the loss and the field. */
#ifndef LPO_LOSS_H
#define LPO_LOSS_H
#include "lpo.h"

/* LPO_CDEF_BEGIN */
/* Paired losses. Names (lpo_pref_kind_name) are TRL's loss_type strings. */
typedef enum lpo_pref_kind {
  LPO_PREF_SIGMOID = 0,  /* DPO: -log σ(βΔ); with label_smoothing ε: conservative DPO (cDPO) */
  LPO_PREF_IPO = 1,      /* IPO: (Δc/|yc| - Δr/|yr| - 1/(2β))², length-normalized as TRL does */
  LPO_PREF_HINGE = 2,    /* SLiC: relu(1 - βΔ) */
  LPO_PREF_ROBUST = 3,   /* robust DPO: (-(1-ε) log σ(βΔ) + ε log σ(-βΔ)) / (1-2ε) */
  LPO_PREF_EXO_PAIR = 4, /* EXO: KL(softmax(βΔ) ‖ [1-ε, ε]), needs ε > 0 */
  LPO_PREF_SFT = 5,      /* NLL of the chosen responses (SFT / RFT); no reference needed */
  LPO_PREF_SIMPO = 6,    /* SimPO: -log σ(β(ȳc - ȳr) - γ), ȳ = logp/|y|, reference-free */
  LPO_PREF_ORPO = 7,     /* ORPO: NLL(chosen) - β log σ(log odds(ȳc) - log odds(ȳr)) */
  LPO_PREF_NKINDS = 8
} lpo_pref_kind;

/* How the SFT/NLL term is normalized. */
typedef enum lpo_nll_norm {
  LPO_NLL_TOKENS = 0,    /* -Σ logp_c / Σ |y_c|: per-token mean over the batch (TRL sft, rpo_alpha, CPO, ORPO) */
  LPO_NLL_SEQUENCES = 1, /* -mean_i logp_c[i]: per-sequence mean of summed log-probs */
  LPO_NLL_SEQUENCE_MEANS = 2 /* -mean_i (logp_c[i] / |y_c[i]|): mean of per-sequence token means (OpenRLHF nll_loss_coef) */
} lpo_nll_norm;

typedef struct lpo_pref_config {
  int kind;               /* lpo_pref_kind */
  double beta;            /* > 0 (for SFT: >= 0, used only for the reward metrics; 0 = none) */
  double label_smoothing; /* ε: sigmoid (cDPO) and simpo in [0, 0.5); robust in [0, 0.5); exo_pair in (0, 1) */
  double gamma;           /* simpo: target reward margin γ (TRL's simpo_gamma, so the logit is βΔ̄ - γ) */
  double nll_alpha;       /* weight of an added NLL term on the chosen responses (RPO's rpo_alpha,
                             CPO's cpo_alpha, OpenRLHF's nll_loss_coef); 0 = off. ORPO always has weight 1. */
  int nll_norm;           /* lpo_nll_norm for the SFT loss and the added NLL term */
} lpo_pref_config;

/* B pairs; every array has n entries. Log-probs are summed over the response tokens.
 * ref_* may be NULL for reference-free losses (sft, simpo, orpo); lengths may be NULL for
 * losses that do not normalize by length. */
typedef struct lpo_pref_batch {
  int64_t n;
  const double *policy_chosen, *policy_rejected;  /* [B] */
  const double *ref_chosen, *ref_rejected;        /* [B] */
  const int32_t *chosen_len, *rejected_len;       /* [B] response token counts, >= 1 when used */
} lpo_pref_batch;

/* The loss and the metrics TRL logs for it; a metric that does not apply is NaN. */
typedef struct lpo_loss_out {
  double loss;
  double rewards_chosen, rewards_rejected;  /* mean β·(policy - ref); SimPO/ORPO: mean β·ȳ */
  double rewards_accuracies;                /* mean [reward_chosen > reward_rejected] */
  double rewards_margins;                   /* mean (reward_chosen - reward_rejected) */
  double logps_chosen, logps_rejected;      /* mean policy log-probs (SimPO/ORPO: per-token means) */
  double nll;                               /* the NLL term before its weight (sft, nll_alpha, orpo) */
  double log_odds_ratio, log_odds_chosen;   /* ORPO: mean log σ(log odds), mean log odds */
  double kl;                                /* KTO: the batch KL estimate z0 */
} lpo_loss_out;

/* Paired loss: out->loss = mean over pairs (TRL's reduction) [+ nll_alpha * NLL]. */
int lpo_pref_loss(lpo_loss_out *out, double *d_chosen, double *d_rejected,
                  const lpo_pref_batch *batch, const lpo_pref_config *cfg, double dloss);
/* Weighted sum Σ_k weight[k] * loss_k over n_losses configs; gradients accumulate the same
 * way; metrics are those of the first term, nll that of the first term having one. */
int lpo_pref_loss_sum(lpo_loss_out *out, double *d_chosen, double *d_rejected,
                      const lpo_pref_batch *batch, const lpo_pref_config *cfgs,
                      const double *weights, int n_losses, double dloss);
/* Fills the reward/logp metrics (DPO definitions, rewards = β·(policy - ref)) of a batch
 * and sets the other fields to NaN; used for user-defined losses. ref may be NULL. */
int lpo_pref_metrics(lpo_loss_out *out, const lpo_pref_batch *batch, double beta);
/* Checks a config's hyper-parameters; the error names the field. */
int lpo_pref_config_check(const lpo_pref_config *cfg);
const char *lpo_pref_kind_name(int kind);      /* "sigmoid", "ipo", ...; NULL if unknown */
int lpo_pref_kind_from_name(const char *name); /* -1 + error listing the known names */

/* KTO on N unpaired examples. The KL estimate z0 = max(0, mean(kl_policy - kl_ref)) over
 * the M mismatched (prompt, other completion) pairs, detached (no gradient), as TRL does;
 * n_kl = 0 means z0 = 0 (TRL's calculate_KL = False). */
typedef enum lpo_kto_kind {
  LPO_KTO = 0,               /* desirable 1-σ(β(r - z0)), undesirable 1-σ(β(z0 - r)), r = policy - ref */
  LPO_KTO_APO_ZERO = 1       /* apo_zero_unpaired: 1-σ(βr) / σ(βr), no KL term */
} lpo_kto_kind;
typedef struct lpo_kto_config {
  int kind;                  /* lpo_kto_kind */
  double beta;               /* > 0 */
  double desirable_weight;   /* λ_D >= 0 (TRL default 1) */
  double undesirable_weight; /* λ_U >= 0 (TRL default 1) */
} lpo_kto_config;
typedef struct lpo_kto_batch {
  int64_t n;
  const double *policy, *ref;            /* [N] summed response log-probs */
  const int32_t *label;                  /* [N] 1 = desirable, 0 = undesirable */
  int64_t n_kl;
  const double *kl_policy, *kl_ref;      /* [M] log-probs of mismatched completions */
} lpo_kto_batch;
/* out->loss = mean over N of the weighted per-example losses; d_policy[N] accumulates.
 * Metrics as TRL's KTO: rewards/chosen|rejected and logps/chosen|rejected averaged over
 * the desirable|undesirable examples (NaN when there are none), margins when both exist,
 * kl = z0; rewards_accuracies is NaN (TRL does not log it for KTO). */
int lpo_kto_loss(lpo_loss_out *out, double *d_policy, const lpo_kto_batch *batch,
                 const lpo_kto_config *cfg, double dloss);

/* Numerically stable scalar helpers (also handy from Lua). */
double lpo_log_sigmoid(double x);  /* log σ(x) = -softplus(-x) */
double lpo_sigmoid(double x);
double lpo_log1mexp(double x);     /* log(1 - e^x) for x < 0 */
/* LPO_CDEF_END */

#endif
