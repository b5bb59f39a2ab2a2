/* test_loss_trl.c — every loss against values TRL itself produced (loss, gradients from torch
 * autograd, logged metrics), committed in tests/fixtures/loss/trl_losses.json by
 * tests/fixtures/loss/make_loss_fixtures.py (which says how each TRL trainer was called). */
#include "lpo_loss.h"
#include "check.h"
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#define RTOL 1e-6
#define ATOL 1e-12
#define MAXN 64

static double worst_rel;  /* largest relative difference seen, printed at the end */

static void close_to(const char *cname, const char *what, double got, double want) {
  double d = fabs(got - want), rel = d / fmax(fabs(want), 1e-300);
  if (want != 0 && rel > worst_rel) worst_rel = rel;
  CHECK_MSG(d <= ATOL + RTOL * fabs(want), "%s %s: lpo %.12g vs TRL %.12g", cname, what, got, want);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); fclose(f); return NULL; }
  s[n] = 0;
  fclose(f);
  return s;
}

static int get_doubles(const cJSON *c, const char *key, double *out) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, key);
  if (!cJSON_IsArray(a)) return -1;
  int n = cJSON_GetArraySize(a);
  LPO_ASSERT(n <= MAXN);
  for (int i = 0; i < n; i++) out[i] = cJSON_GetArrayItem(a, i)->valuedouble;
  return n;
}

static int get_ints(const cJSON *c, const char *key, int32_t *out) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, key);
  if (!cJSON_IsArray(a)) return -1;
  int n = cJSON_GetArraySize(a);
  LPO_ASSERT(n <= MAXN);
  for (int i = 0; i < n; i++) {
    const cJSON *x = cJSON_GetArrayItem(a, i);
    out[i] = cJSON_IsBool(x) ? (cJSON_IsTrue(x) ? 1 : 0) : (int32_t)x->valuedouble;
  }
  return n;
}

static double num(const cJSON *c, const char *key, double dflt) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(c, key);
  return cJSON_IsNumber(x) ? x->valuedouble : dflt;
}

/* Compares every metric TRL logged with ours; a metric TRL logged that we leave NaN fails,
 * except nll_loss for SimPO without an NLL term (TRL logs 0 there, our stub logged the NLL). */
static void check_metrics(const char *name, const cJSON *c, const lpo_loss_out *o) {
  static const struct { const char *key; size_t off; } map[] = {
    { "rewards/chosen", offsetof(lpo_loss_out, rewards_chosen) },
    { "rewards/rejected", offsetof(lpo_loss_out, rewards_rejected) },
    { "rewards/accuracies", offsetof(lpo_loss_out, rewards_accuracies) },
    { "rewards/margins", offsetof(lpo_loss_out, rewards_margins) },
    { "logps/chosen", offsetof(lpo_loss_out, logps_chosen) },
    { "logps/rejected", offsetof(lpo_loss_out, logps_rejected) },
    { "nll_loss", offsetof(lpo_loss_out, nll) },
    { "log_odds_ratio", offsetof(lpo_loss_out, log_odds_ratio) },
    { "log_odds_chosen", offsetof(lpo_loss_out, log_odds_chosen) },
    { "kl", offsetof(lpo_loss_out, kl) },
  };
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "metrics");
  int seen = 0;
  for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(m, map[k].key);
    if (!x) continue;
    double ours = *(const double *)((const char *)o + map[k].off);
    if (strcmp(map[k].key, "nll_loss") == 0 && isnan(ours) && num(c, "cpo_alpha", 1) == 0) continue;
    char what[64];
    snprintf(what, sizeof what, "metric %s", map[k].key);
    close_to(name, what, ours, x->valuedouble);
    seen++;
  }
  CHECK_MSG(seen >= 4, "%s: only %d metrics compared", name, seen);
}

static void run_pair_case(const cJSON *c) {
  const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
  double pc[MAXN], pr[MAXN], rc[MAXN], rr[MAXN], gc_want[MAXN], gr_want[MAXN];
  int32_t lc[MAXN], lr[MAXN];
  int n = get_doubles(c, "policy_chosen", pc);
  get_doubles(c, "policy_rejected", pr);
  int has_ref = get_doubles(c, "ref_chosen", rc) > 0;
  if (has_ref) get_doubles(c, "ref_rejected", rr);
  get_ints(c, "chosen_len", lc);
  get_ints(c, "rejected_len", lr);
  get_doubles(c, "grad_chosen", gc_want);
  get_doubles(c, "grad_rejected", gr_want);
  lpo_pref_batch b = { n, pc, pr, has_ref ? rc : NULL, has_ref ? rr : NULL, lc, lr };

  lpo_pref_config cfgs[4];
  double weights[4];
  int nl = 0;
  const char *trl = cJSON_GetObjectItemCaseSensitive(c, "trl")->valuestring;
  double beta = num(c, "beta", 0), eps = num(c, "label_smoothing", 0);
  if (strstr(trl, "CPOTrainer.get_batch")) {
    cfgs[0] = (lpo_pref_config){ LPO_PREF_SIMPO, beta, eps, num(c, "simpo_gamma", 0), num(c, "cpo_alpha", 0), LPO_NLL_TOKENS };
    weights[0] = 1; nl = 1;
  } else if (strstr(trl, "ORPOTrainer")) {
    cfgs[0] = (lpo_pref_config){ LPO_PREF_ORPO, beta, 0, 0, 0, LPO_NLL_TOKENS };
    weights[0] = 1; nl = 1;
  } else {
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(c, "loss_types");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(c, "loss_weights");
    for (nl = 0; nl < cJSON_GetArraySize(types); nl++) {
      int kind = lpo_pref_kind_from_name(cJSON_GetArrayItem(types, nl)->valuestring);
      CHECK_MSG(kind >= 0, "%s: %s", name, lpo_last_error());
      /* TRL 1.16's DPO applies label_smoothing only in robust / exo_pair (+ our cDPO case). */
      int uses_eps = kind == LPO_PREF_ROBUST || kind == LPO_PREF_EXO_PAIR || strstr(trl, "CPOTrainer.cpo_loss");
      cfgs[nl] = (lpo_pref_config){ kind, beta, uses_eps ? eps : 0, 0, 0, LPO_NLL_TOKENS };
      weights[nl] = cJSON_GetArrayItem(ws, nl)->valuedouble;
    }
  }

  double gc[MAXN] = { 0 }, gr[MAXN] = { 0 };
  lpo_loss_out o;
  int rc_ = nl == 1 && weights[0] == 1.0 ? lpo_pref_loss(&o, gc, gr, &b, &cfgs[0], 1.0)
                                          : lpo_pref_loss_sum(&o, gc, gr, &b, cfgs, weights, nl, 1.0);
  CHECK_MSG(rc_ == 0, "%s: %s", name, lpo_last_error());
  if (rc_) return;
  close_to(name, "loss", o.loss, cJSON_GetObjectItemCaseSensitive(c, "loss")->valuedouble);
  for (int i = 0; i < n; i++) {
    char w[48];
    snprintf(w, sizeof w, "grad_chosen[%d]", i); close_to(name, w, gc[i], gc_want[i]);
    snprintf(w, sizeof w, "grad_rejected[%d]", i); close_to(name, w, gr[i], gr_want[i]);
  }
  check_metrics(name, c, &o);

  /* RPO two ways: DPO + nll_alpha·NLL in one call equals TRL's loss_type=[sigmoid, sft]. */
  if (strcmp(name, "rpo") == 0) {
    lpo_pref_config rpo = { LPO_PREF_SIGMOID, beta, 0, 0, weights[1], LPO_NLL_TOKENS };
    double hc[MAXN] = { 0 }, hr[MAXN] = { 0 };
    CHECK(lpo_pref_loss(&o, hc, hr, &b, &rpo, 1.0) == 0);
    close_to("rpo(nll_alpha)", "loss", o.loss, cJSON_GetObjectItemCaseSensitive(c, "loss")->valuedouble);
    for (int i = 0; i < n; i++) { close_to("rpo(nll_alpha)", "grad_chosen", hc[i], gc_want[i]); close_to("rpo(nll_alpha)", "grad_rejected", hr[i], gr_want[i]); }
  }
}

static void run_kto_case(const cJSON *c) {
  const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
  double p[MAXN], r[MAXN], klp[MAXN], klr[MAXN], g_want[MAXN], g[MAXN] = { 0 };
  int32_t label[MAXN];
  int n = get_doubles(c, "policy", p);
  get_doubles(c, "ref", r);
  get_ints(c, "label", label);
  get_doubles(c, "grad_policy", g_want);
  int m = get_doubles(c, "kl_policy", klp);
  if (m > 0) get_doubles(c, "kl_ref", klr);
  const char *lt = cJSON_GetObjectItemCaseSensitive(c, "loss_type")->valuestring;
  lpo_kto_config cfg = { strcmp(lt, "kto") == 0 ? LPO_KTO : LPO_KTO_APO_ZERO, num(c, "beta", 0),
                         num(c, "desirable_weight", 1), num(c, "undesirable_weight", 1) };
  lpo_kto_batch b = { n, p, r, label, m > 0 ? m : 0, m > 0 ? klp : NULL, m > 0 ? klr : NULL };
  lpo_loss_out o;
  int rc = lpo_kto_loss(&o, g, &b, &cfg, 1.0);
  CHECK_MSG(rc == 0, "%s: %s", name, lpo_last_error());
  if (rc) return;
  close_to(name, "loss", o.loss, cJSON_GetObjectItemCaseSensitive(c, "loss")->valuedouble);
  for (int i = 0; i < n; i++) close_to(name, "grad_policy", g[i], g_want[i]);
  if (isnan(o.kl)) o.kl = 0;  /* TRL logs kl = 0 when it does not estimate it */
  check_metrics(name, c, &o);
}

int main(void) {
  char *text = slurp("tests/fixtures/loss/trl_losses.json");
  CHECK_MSG(text != NULL, "cannot read tests/fixtures/loss/trl_losses.json (run from the repo root)");
  if (!text) return check_done("test_loss_trl");
  cJSON *doc = cJSON_Parse(text);
  CHECK(doc != NULL);
  const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases"), *c;
  int n_cases = 0;
  cJSON_ArrayForEach(c, cases) {
    if (cJSON_GetObjectItemCaseSensitive(c, "policy")) run_kto_case(c);
    else run_pair_case(c);
    n_cases++;
  }
  CHECK(n_cases >= 15);
  printf("test_loss_trl: %d TRL cases, largest relative difference %.3g (tolerance %g)\n", n_cases, worst_rel, RTOL);
  cJSON_Delete(doc);
  free(text);
  return check_done("test_loss_trl");
}
