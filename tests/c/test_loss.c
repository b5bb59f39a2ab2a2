/* test_loss.c — every preference loss against a direct evaluation of its formula on random
 * inputs (written here the naive way, independent of loss_pair.c's stable forms), its
 * gradient against central finite differences, plus the API's contracts: accumulation and
 * dloss scaling, weighted sums, extreme inputs, determinism, and errors naming the field.
 * TRL's own numbers are checked in test_loss_trl.c. */
#include "lpo_loss.h"
#include "check.h"
#include <string.h>

#define B 12
#define FD_H 1e-5

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }
static double logsig(double x) { return log(sig(x)); }

typedef struct inputs { double pc[B], pr[B], rc[B], rr[B]; int32_t lc[B], lr[B]; } inputs;

static void random_inputs(inputs *in, uint64_t seed) {
  lpo_philox rng;
  lpo_philox_init(&rng, lpo_philox_key(seed, 1, 0, 0, 0), 0);
  for (int i = 0; i < B; i++) {
    in->lc[i] = 1 + (int32_t)(lpo_philox_uniform(&rng) * 40);
    in->lr[i] = 1 + (int32_t)(lpo_philox_uniform(&rng) * 40);
    in->pc[i] = -in->lc[i] * (0.05 + 1.5 * lpo_philox_uniform(&rng));
    in->pr[i] = -in->lr[i] * (0.05 + 1.5 * lpo_philox_uniform(&rng));
    in->rc[i] = in->pc[i] + 3.0 * lpo_philox_normal(&rng);
    in->rr[i] = in->pr[i] + 3.0 * lpo_philox_normal(&rng);
  }
}

static lpo_pref_batch batch_of(inputs *in) {
  return (lpo_pref_batch){ B, in->pc, in->pr, in->rc, in->rr, in->lc, in->lr };
}

/* The formula, pair by pair, as the papers / TRL write it. */
static double direct(const lpo_pref_config *c, const inputs *in) {
  double s = 0, beta = c->beta, e = c->label_smoothing;
  for (int i = 0; i < B; i++) {
    double d = (in->pc[i] - in->rc[i]) - (in->pr[i] - in->rr[i]), l = 0;
    double ac = in->pc[i] / in->lc[i], ar = in->pr[i] / in->lr[i];
    switch (c->kind) {
      case LPO_PREF_SIGMOID: l = -(1 - e) * logsig(beta * d) - e * logsig(-beta * d); break;
      case LPO_PREF_IPO: {
        double t = (in->pc[i] - in->rc[i]) / in->lc[i] - (in->pr[i] - in->rr[i]) / in->lr[i] - 1 / (2 * beta);
        l = t * t; break;
      }
      case LPO_PREF_HINGE: l = fmax(0.0, 1 - beta * d); break;
      case LPO_PREF_ROBUST: l = (-(1 - e) * logsig(beta * d) + e * logsig(-beta * d)) / (1 - 2 * e); break;
      case LPO_PREF_EXO_PAIR: {
        double qw = sig(beta * d), ql = 1 - qw;
        l = qw * (log(qw) - log(1 - e)) + ql * (log(ql) - log(e)); break;
      }
      case LPO_PREF_SIMPO: {
        double z = beta * (ac - ar) - c->gamma;
        l = -(1 - e) * logsig(z) - e * logsig(-z); break;
      }
      case LPO_PREF_ORPO: {
        double pcp = exp(ac), prp = exp(ar);
        double lo = log(pcp / (1 - pcp)) - log(prp / (1 - prp));
        l = -beta * logsig(lo); break;
      }
      default: break;
    }
    s += l;
  }
  double loss = s / B;
  double nll_w = c->kind == LPO_PREF_SFT || c->kind == LPO_PREF_ORPO ? 1.0 : c->nll_alpha;
  if (nll_w > 0) {
    double num = 0, den = 0;
    for (int i = 0; i < B; i++) {
      if (c->nll_norm == LPO_NLL_SEQUENCE_MEANS) { num -= in->pc[i] / in->lc[i]; den += 1; }
      else { num -= in->pc[i]; den += c->nll_norm == LPO_NLL_TOKENS ? in->lc[i] : 1; }
    }
    loss += nll_w * num / den;
  }
  return loss;
}

static double loss_at(const lpo_pref_config *c, inputs *in) {
  lpo_pref_batch b = batch_of(in);
  lpo_loss_out o;
  LPO_ASSERT(lpo_pref_loss(&o, NULL, NULL, &b, c, 1.0) == 0);
  return o.loss;
}

/* Value vs the direct formula; gradient vs central differences of the value. */
static void check_loss(const char *what, lpo_pref_config c, uint64_t seed) {
  inputs in;
  random_inputs(&in, seed);
  lpo_pref_batch b = batch_of(&in);
  double gc[B] = { 0 }, gr[B] = { 0 };
  lpo_loss_out o;
  int rc = lpo_pref_loss(&o, gc, gr, &b, &c, 1.0);
  CHECK_MSG(rc == 0, "%s: %s", what, lpo_last_error());
  if (rc) return;
  CHECK_MSG(fabs(o.loss - direct(&c, &in)) <= 1e-12 + 1e-10 * fabs(o.loss), "%s: loss %.15g vs formula %.15g", what, o.loss, direct(&c, &in));
  double gmax = 0;
  for (int i = 0; i < B; i++) gmax = fmax(gmax, fmax(fabs(gc[i]), fabs(gr[i])));
  CHECK_MSG(gmax > 0, "%s: all-zero gradient", what);
  for (int side = 0; side < 2; side++)
    for (int i = 0; i < B; i++) {
      double *x = side ? &in.pr[i] : &in.pc[i], x0 = *x;
      if (c.kind == LPO_PREF_HINGE) {  /* skip pairs within reach of the kink */
        double d = (in.pc[i] - in.rc[i]) - (in.pr[i] - in.rr[i]);
        if (fabs(1 - c.beta * d) < 10 * c.beta * FD_H) continue;
      }
      *x = x0 + FD_H; double up = loss_at(&c, &in);
      *x = x0 - FD_H; double dn = loss_at(&c, &in);
      *x = x0;
      double fd = (up - dn) / (2 * FD_H), g = side ? gr[i] : gc[i];
      CHECK_MSG(fabs(g - fd) <= 1e-6 * gmax, "%s: d/d%s[%d] analytic %.10g vs finite difference %.10g",
                what, side ? "policy_rejected" : "policy_chosen", i, g, fd);
    }
  /* Rejected log-probs do not enter an SFT loss. */
  if (c.kind == LPO_PREF_SFT) for (int i = 0; i < B; i++) CHECK(gr[i] == 0);
}

static void test_formulas(void) {
  for (uint64_t seed = 1; seed <= 3; seed++) {
    check_loss("dpo", (lpo_pref_config){ LPO_PREF_SIGMOID, 0.1, 0, 0, 0, 0 }, seed);
    check_loss("dpo beta=1", (lpo_pref_config){ LPO_PREF_SIGMOID, 1.0, 0, 0, 0, 0 }, seed);
    check_loss("cdpo", (lpo_pref_config){ LPO_PREF_SIGMOID, 0.3, 0.15, 0, 0, 0 }, seed);
    check_loss("ipo", (lpo_pref_config){ LPO_PREF_IPO, 0.5, 0, 0, 0, 0 }, seed);
    check_loss("hinge", (lpo_pref_config){ LPO_PREF_HINGE, 0.2, 0, 0, 0, 0 }, seed);
    check_loss("robust", (lpo_pref_config){ LPO_PREF_ROBUST, 0.1, 0.3, 0, 0, 0 }, seed);
    check_loss("exo_pair", (lpo_pref_config){ LPO_PREF_EXO_PAIR, 0.1, 1e-3, 0, 0, 0 }, seed);
    check_loss("sft tokens", (lpo_pref_config){ LPO_PREF_SFT, 0, 0, 0, 0, LPO_NLL_TOKENS }, seed);
    check_loss("sft sequences", (lpo_pref_config){ LPO_PREF_SFT, 0.1, 0, 0, 0, LPO_NLL_SEQUENCES }, seed);
    check_loss("sft sequence means", (lpo_pref_config){ LPO_PREF_SFT, 0, 0, 0, 0, LPO_NLL_SEQUENCE_MEANS }, seed);
    check_loss("dpo + openrlhf nll", (lpo_pref_config){ LPO_PREF_SIGMOID, 0.2, 0, 0, 0.4, LPO_NLL_SEQUENCE_MEANS }, seed);
    check_loss("rpo", (lpo_pref_config){ LPO_PREF_SIGMOID, 0.1, 0, 0, 0.7, LPO_NLL_TOKENS }, seed);
    check_loss("ipo + nll per sequence", (lpo_pref_config){ LPO_PREF_IPO, 0.2, 0, 0, 0.1, LPO_NLL_SEQUENCES }, seed);
    check_loss("simpo", (lpo_pref_config){ LPO_PREF_SIMPO, 2.0, 0, 0.5, 0, 0 }, seed);
    check_loss("simpo smooth+nll", (lpo_pref_config){ LPO_PREF_SIMPO, 2.5, 0.1, 1.2, 0.3, 0 }, seed);
    check_loss("orpo", (lpo_pref_config){ LPO_PREF_ORPO, 0.1, 0, 0, 0, LPO_NLL_TOKENS }, seed);
    check_loss("orpo beta=1", (lpo_pref_config){ LPO_PREF_ORPO, 1.0, 0, 0, 0, LPO_NLL_TOKENS }, seed);
  }
}

/* Metrics: TRL's definitions, recomputed here. */
static void test_metrics(void) {
  inputs in;
  random_inputs(&in, 9);
  lpo_pref_batch b = batch_of(&in);
  lpo_pref_config c = { LPO_PREF_SIGMOID, 0.25, 0, 0, 0, 0 };
  lpo_loss_out o;
  CHECK(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0) == 0);
  double wc = 0, wr = 0, acc = 0, lc = 0, lr = 0;
  for (int i = 0; i < B; i++) {
    double a = 0.25 * (in.pc[i] - in.rc[i]), r = 0.25 * (in.pr[i] - in.rr[i]);
    wc += a / B; wr += r / B; acc += (a > r) / (double)B; lc += in.pc[i] / B; lr += in.pr[i] / B;
  }
  CHECK_CLOSE(o.rewards_chosen, wc, 1e-12, 1e-15);
  CHECK_CLOSE(o.rewards_rejected, wr, 1e-12, 1e-15);
  CHECK_CLOSE(o.rewards_margins, wc - wr, 1e-12, 1e-15);
  CHECK_CLOSE(o.rewards_accuracies, acc, 0, 1e-15);
  CHECK_CLOSE(o.logps_chosen, lc, 1e-12, 0);
  CHECK_CLOSE(o.logps_rejected, lr, 1e-12, 0);
  CHECK(isnan(o.nll) && isnan(o.kl) && isnan(o.log_odds_ratio));
  /* The standalone metrics helper agrees. */
  lpo_loss_out m;
  CHECK(lpo_pref_metrics(&m, &b, 0.25) == 0);
  CHECK(m.rewards_chosen == o.rewards_chosen && m.rewards_accuracies == o.rewards_accuracies && isnan(m.loss));
  /* SFT without a reference: no reward metrics, logps still there. */
  lpo_pref_batch nb = { B, in.pc, NULL, NULL, NULL, in.lc, NULL };
  lpo_pref_config s = { LPO_PREF_SFT, 0.1, 0, 0, 0, LPO_NLL_TOKENS };
  CHECK(lpo_pref_loss(&o, NULL, NULL, &nb, &s, 1.0) == 0);
  CHECK(isnan(o.rewards_chosen) && isnan(o.logps_rejected) && o.nll == o.loss);
  CHECK_CLOSE(o.logps_chosen, lc, 1e-12, 0);
}

/* Gradients accumulate and scale with dloss; a weighted sum is the sum of its terms. */
static void test_accumulate_and_sum(void) {
  inputs in;
  random_inputs(&in, 5);
  lpo_pref_batch b = batch_of(&in);
  lpo_pref_config cfg[3] = {
    { LPO_PREF_SIGMOID, 0.1, 0, 0, 0, 0 }, { LPO_PREF_SFT, 0, 0, 0, 0, LPO_NLL_TOKENS }, { LPO_PREF_IPO, 0.4, 0, 0, 0, 0 } };
  double w[3] = { 1.0, 0.2, -0.5 };
  double g1[B] = { 0 }, h1[B] = { 0 }, g2[B] = { 0 }, h2[B] = { 0 };
  lpo_loss_out o, t;
  CHECK(lpo_pref_loss(&o, g1, h1, &b, &cfg[0], 1.0) == 0);
  CHECK(lpo_pref_loss(&t, g2, h2, &b, &cfg[0], 0.5) == 0);
  CHECK(lpo_pref_loss(&t, g2, h2, &b, &cfg[0], 0.5) == 0);
  for (int i = 0; i < B; i++) { CHECK_CLOSE(g2[i], g1[i], 1e-14, 0); CHECK_CLOSE(h2[i], h1[i], 1e-14, 0); }

  double sg[B] = { 0 }, sh[B] = { 0 }, eg[B] = { 0 }, eh[B] = { 0 }, expect = 0;
  CHECK(lpo_pref_loss_sum(&o, sg, sh, &b, cfg, w, 3, 2.0) == 0);
  for (int k = 0; k < 3; k++) {
    CHECK(lpo_pref_loss(&t, eg, eh, &b, &cfg[k], 2.0 * w[k]) == 0);
    expect += w[k] * t.loss;
  }
  CHECK_CLOSE(o.loss, expect, 1e-14, 0);
  for (int i = 0; i < B; i++) { CHECK_CLOSE(sg[i], eg[i], 1e-13, 1e-17); CHECK_CLOSE(sh[i], eh[i], 1e-13, 1e-17); }
  CHECK(!isnan(o.rewards_chosen) && !isnan(o.nll));  /* metrics of term 1, nll of term 2 */

  /* Same inputs, same bits. */
  lpo_loss_out a2;
  double z1[B] = { 0 }, z2[B] = { 0 };
  CHECK(lpo_pref_loss_sum(&a2, z1, z2, &b, cfg, w, 3, 2.0) == 0);
  CHECK(memcmp(&a2, &o, sizeof o) == 0 && memcmp(z1, sg, sizeof z1) == 0);
}

/* Saturated logits stay finite and exact (the naive log(σ(x)) would give -inf). */
static void test_extremes(void) {
  double pc[2] = { -1.0, -5000.0 }, pr[2] = { -5000.0, -1.0 }, rc[2] = { -1.0, -1.0 }, rr[2] = { -1.0, -1.0 };
  int32_t l[2] = { 1, 1 };
  lpo_pref_batch b = { 2, pc, pr, rc, rr, l, l };
  double gc[2] = { 0 }, gr[2] = { 0 };
  lpo_loss_out o;
  lpo_pref_config c = { LPO_PREF_SIGMOID, 1.0, 0, 0, 0, 0 };
  CHECK(lpo_pref_loss(&o, gc, gr, &b, &c, 1.0) == 0);
  CHECK_CLOSE(o.loss, 4999.0 / 2, 1e-15, 0);        /* pair 1: ~0; pair 2: -log σ(-4999) = 4999 */
  CHECK_CLOSE(gc[1], -0.5, 1e-15, 0);
  CHECK(fabs(gc[0]) < 1e-300 || fabs(gc[0]) < 1e-200);
  c = (lpo_pref_config){ LPO_PREF_EXO_PAIR, 1.0, 1e-3, 0, 0, 0 };
  CHECK(lpo_pref_loss(&o, gc, gr, &b, &c, 1.0) == 0);
  CHECK(isfinite(o.loss) && isfinite(gc[0]) && isfinite(gc[1]));
  CHECK_CLOSE(lpo_log_sigmoid(-800), -800, 1e-15, 0);
  CHECK_CLOSE(lpo_log_sigmoid(800), 0, 0, 1e-300);
  CHECK_CLOSE(lpo_log_sigmoid(-1e-3), log(1 / (1 + exp(1e-3))), 1e-14, 0);
  CHECK_CLOSE(lpo_log1mexp(-1e-10), log(1e-10), 1e-9, 0);  /* log(-expm1) branch */
  CHECK_CLOSE(lpo_log1mexp(-50), -exp(-50.0), 1e-12, 0);   /* log1p branch */
  CHECK(lpo_sigmoid(-700) > 0 && lpo_sigmoid(-700) < 1e-300 && lpo_sigmoid(800) == 1.0);
}

/* KTO: the formula per example, z0 from the mismatched pairs, clamped and detached. */
static double kto_direct(const lpo_kto_config *c, int n, const double *p, const double *r, const int32_t *lab,
                         int m, const double *kp, const double *kr) {
  double z0 = 0;
  if (c->kind == LPO_KTO && m > 0) { for (int j = 0; j < m; j++) z0 += (kp[j] - kr[j]) / m; if (z0 < 0) z0 = 0; }
  double s = 0;
  for (int i = 0; i < n; i++) {
    double x = p[i] - r[i];
    if (c->kind == LPO_KTO) s += lab[i] ? c->desirable_weight * (1 - sig(c->beta * (x - z0))) : c->undesirable_weight * (1 - sig(c->beta * (z0 - x)));
    else s += lab[i] ? c->desirable_weight * (1 - sig(c->beta * x)) : c->undesirable_weight * sig(c->beta * x);
  }
  return s / n;
}

static void test_kto(void) {
  enum { N = 11, M = 7 };
  lpo_philox rng;
  lpo_philox_init(&rng, lpo_philox_key(3, 2, 0, 0, 0), 0);
  double p[N], r[N], kp[M], kr[M], g[N];
  int32_t lab[N];
  for (int i = 0; i < N; i++) { p[i] = -40 * lpo_philox_uniform(&rng); r[i] = p[i] + 4 * lpo_philox_normal(&rng); lab[i] = lpo_philox_uniform(&rng) < 0.6; }
  lab[0] = 1; lab[1] = 0;
  for (int shift = -1; shift <= 1; shift += 2)
    for (int kind = 0; kind < 2; kind++) {
      for (int j = 0; j < M; j++) { kp[j] = -30 * lpo_philox_uniform(&rng); kr[j] = kp[j] - shift * (1 + lpo_philox_uniform(&rng)); }
      lpo_kto_config c = { kind, 0.3, 1.0, 1.33 };
      lpo_kto_batch b = { N, p, r, lab, M, kp, kr };
      lpo_loss_out o;
      memset(g, 0, sizeof g);
      CHECK(lpo_kto_loss(&o, g, &b, &c, 1.0) == 0);
      double want = kto_direct(&c, N, p, r, lab, M, kp, kr);
      CHECK_CLOSE(o.loss, want, 1e-12, 0);
      if (kind == LPO_KTO) CHECK(shift > 0 ? o.kl > 0 : o.kl == 0);  /* clamped at 0 */
      for (int i = 0; i < N; i++) {
        double x0 = p[i];
        p[i] = x0 + FD_H; double up = kto_direct(&c, N, p, r, lab, M, kp, kr);
        p[i] = x0 - FD_H; double dn = kto_direct(&c, N, p, r, lab, M, kp, kr);
        p[i] = x0;
        CHECK_CLOSE(g[i], (up - dn) / (2 * FD_H), 1e-6, 1e-10);
      }
      /* Metrics: group means, margins as their difference. */
      double rc = 0, nc = 0;
      for (int i = 0; i < N; i++) if (lab[i]) { rc += 0.3 * (p[i] - r[i]); nc++; }
      CHECK_CLOSE(o.rewards_chosen, rc / nc, 1e-12, 0);
      CHECK_CLOSE(o.rewards_margins, o.rewards_chosen - o.rewards_rejected, 1e-15, 0);
      CHECK(isnan(o.rewards_accuracies));
    }
  /* Only desirable examples: no rejected metrics, no margins. */
  int32_t ones[N];
  for (int i = 0; i < N; i++) ones[i] = 1;
  lpo_kto_batch b1 = { N, p, r, ones, 0, NULL, NULL };
  lpo_kto_config c1 = { LPO_KTO, 0.1, 1, 1 };
  lpo_loss_out o;
  CHECK(lpo_kto_loss(&o, NULL, &b1, &c1, 1.0) == 0);
  CHECK(isnan(o.rewards_rejected) && isnan(o.rewards_margins) && !isnan(o.rewards_chosen) && o.kl == 0);
}

#define EXPECT_ERROR(call, substr) do { int _rc = (call); CHECK_MSG(_rc == -1 && strstr(lpo_last_error(), substr), \
  "expected error containing \"%s\", got rc=%d \"%s\"", substr, _rc, _rc ? lpo_last_error() : ""); } while (0)

static void test_errors(void) {
  inputs in;
  random_inputs(&in, 2);
  lpo_pref_batch b = batch_of(&in);
  lpo_loss_out o;
  lpo_pref_config c = { LPO_PREF_SIGMOID, -0.1, 0, 0, 0, 0 };
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "loss sigmoid: field 'beta' must be > 0, got -0.1");
  c = (lpo_pref_config){ LPO_PREF_ROBUST, 0.1, 0.5, 0, 0, 0 };
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "loss robust: field 'label_smoothing' must be in [0, 0.5)");
  c = (lpo_pref_config){ LPO_PREF_EXO_PAIR, 0.1, 0, 0, 0, 0 };
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "'label_smoothing' must be in (0, 1)");
  c = (lpo_pref_config){ LPO_PREF_HINGE, 0.1, 0.1, 0, 0, 0 };
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "loss hinge: field 'label_smoothing' is not used");
  c = (lpo_pref_config){ LPO_PREF_SIGMOID, 0.1, 0, 0.5, 0, 0 };
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "field 'gamma' is only used by simpo");
  c = (lpo_pref_config){ LPO_PREF_SIGMOID, 0.1, 0, 0, -1, 0 };
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "field 'nll_alpha' must be >= 0");
  c = (lpo_pref_config){ 42, 0.1, 0, 0, 0, 0 };
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "field 'kind' = 42");
  EXPECT_ERROR(lpo_pref_kind_from_name("dpo2"), "unknown loss 'dpo2' (known: sigmoid, ipo");
  CHECK(lpo_pref_kind_from_name("orpo") == LPO_PREF_ORPO && strcmp(lpo_pref_kind_name(LPO_PREF_SIMPO), "simpo") == 0);

  c = (lpo_pref_config){ LPO_PREF_SIGMOID, 0.1, 0, 0, 0, 0 };
  lpo_pref_batch nb = b; nb.ref_rejected = NULL;
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &nb, &c, 1.0), "loss sigmoid: batch field 'ref_rejected' is required");
  nb = b; nb.n = 0;
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &nb, &c, 1.0), "batch field 'n' = 0");
  double saved = in.pr[3];
  in.pr[3] = NAN;
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "batch field 'policy_rejected'[3] is nan");
  in.pr[3] = saved;
  c = (lpo_pref_config){ LPO_PREF_IPO, 0.1, 0, 0, 0, 0 };
  nb = b; nb.rejected_len = NULL;
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &nb, &c, 1.0), "loss ipo: batch field 'rejected_len' is required");
  in.lc[5] = 0;
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &b, &c, 1.0), "batch field 'chosen_len'[5] = 0 (must be >= 1)");
  in.lc[5] = 3;
  c = (lpo_pref_config){ LPO_PREF_SIGMOID, 0.1, 0, 0, 0.5, LPO_NLL_TOKENS };  /* rpo needs chosen_len */
  nb = b; nb.chosen_len = NULL;
  EXPECT_ERROR(lpo_pref_loss(&o, NULL, NULL, &nb, &c, 1.0), "batch field 'chosen_len' is required");
  /* ORPO: an average log-prob of 0 has no odds; the error comes before any gradient moves. */
  c = (lpo_pref_config){ LPO_PREF_ORPO, 0.1, 0, 0, 0, 0 };
  double g[B] = { 0 };
  in.pr[B - 1] = 0;
  EXPECT_ERROR(lpo_pref_loss(&o, g, NULL, &b, &c, 1.0), "loss orpo: pair 11 has a per-token mean log-prob >= 0");
  for (int i = 0; i < B; i++) CHECK(g[i] == 0);
  double w[2] = { 1, NAN };
  lpo_pref_config two[2] = { { LPO_PREF_SFT, 0, 0, 0, 0, 0 }, { LPO_PREF_SFT, 0, 0, 0, 0, 0 } };
  EXPECT_ERROR(lpo_pref_loss_sum(&o, NULL, NULL, &b, two, w, 2, 1.0), "loss sum: term 2 has weight nan");

  double p[2] = { -1, -2 }, r[2] = { -1, -2 };
  int32_t lab[2] = { 1, 2 };
  lpo_kto_batch kb = { 2, p, r, lab, 0, NULL, NULL };
  lpo_kto_config kc = { LPO_KTO, 0.1, 1, 1 };
  EXPECT_ERROR(lpo_kto_loss(&o, NULL, &kb, &kc, 1.0), "loss kto: batch field 'label'[1] = 2");
  lab[1] = 0;
  kc.undesirable_weight = -1;
  EXPECT_ERROR(lpo_kto_loss(&o, NULL, &kb, &kc, 1.0), "loss kto: field 'undesirable_weight' must be >= 0");
  kc = (lpo_kto_config){ LPO_KTO, 0, 1, 1 };
  EXPECT_ERROR(lpo_kto_loss(&o, NULL, &kb, &kc, 1.0), "loss kto: field 'beta' must be > 0");
  kc.beta = 0.1; kb.n_kl = 2;
  EXPECT_ERROR(lpo_kto_loss(&o, NULL, &kb, &kc, 1.0), "loss kto: batch field 'kl_policy' is required");
}

int main(void) {
  test_formulas();
  test_metrics();
  test_accumulate_and_sum();
  test_extremes();
  test_kto();
  test_errors();
  return check_done("test_loss");
}
