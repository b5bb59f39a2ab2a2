/* adamw.c — AdamW over one flat f32 parameter array (torch.optim.AdamW semantics).
 *
 * Memory: one allocation holds both moments, m | v (2 * n floats); the no-decay set is
 * a short sorted list of disjoint ranges [begin, end), merged as they are added (a model
 * has a few hundred tensors, so the list is tiny and a step walks it once).
 *
 * Arithmetic mirrors torch's single-tensor path (torch/optim/adam.py, _single_tensor_adam)
 * for f32 params: Python-side scalars (bias corrections, step size) in double, then cast
 * to f32 as TensorIterator does for scalar operands; elementwise ops in f32 in torch's
 * order: p *= (1 - lr*wd); m = lerp(m, g, 1-b1); v = fma((1-b2)*g, g, v*b2);
 * p += (-step_size * m) / (sqrt(v) / sqrt(bc2) + eps). The result is bit-identical to
 * torch 2.x on an x86-64 CPU (see adamw_range). */
#include "lpo_optim.h"
#include "lpo_safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

struct lpo_adamw {
  int64_t n;
  double beta1, beta2, eps, wd;
  int64_t step;
  float *mv;            /* [2n]: exp_avg then exp_avg_sq */
  int64_t *nd;          /* [2*nnd]: sorted disjoint no-decay ranges [begin, end) */
  int nnd, ndcap;
};

lpo_adamw *lpo_adamw_build(int64_t n, double beta1, double beta2, double eps, double weight_decay) {
  if (n < 0) { lpo_set_error("adamw: n = %lld parameters", (long long)n); return NULL; }
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
    lpo_set_error("adamw: betas must be in [0, 1) (got %g, %g)", beta1, beta2);
    return NULL;
  }
  if (!(eps >= 0) || !isfinite(eps)) { lpo_set_error("adamw: eps must be >= 0 (got %g)", eps); return NULL; }
  if (!(weight_decay >= 0) || !isfinite(weight_decay)) { lpo_set_error("adamw: weight_decay must be >= 0 (got %g)", weight_decay); return NULL; }
  if ((uint64_t)n > SIZE_MAX / (2 * sizeof(float))) { lpo_set_error("adamw: %lld parameters is too many", (long long)n); return NULL; }
  lpo_adamw *o = calloc(1, sizeof *o);
  if (!o) { lpo_set_error("adamw: out of memory"); return NULL; }
  o->mv = lpo_alloc((size_t)n * 2 * sizeof(float), 0);
  if (!o->mv) { free(o); return NULL; }
  o->n = n;
  o->beta1 = beta1;
  o->beta2 = beta2;
  o->eps = eps;
  o->wd = weight_decay;
  return o;
}

void lpo_adamw_free(lpo_adamw *o) {
  if (!o) return;
  lpo_free(o->mv, (size_t)o->n * 2 * sizeof(float), 0);
  free(o->nd);
  free(o);
}

int64_t lpo_adamw_n(const lpo_adamw *o) { return o ? o->n : 0; }
int64_t lpo_adamw_steps(const lpo_adamw *o) { return o ? o->step : 0; }
float *lpo_adamw_exp_avg(lpo_adamw *o) { return o ? o->mv : NULL; }
float *lpo_adamw_exp_avg_sq(lpo_adamw *o) { return o ? o->mv + o->n : NULL; }

int lpo_adamw_no_decay(lpo_adamw *o, int64_t offset, int64_t count) {
  if (!o) return lpo_set_error("adamw: no optimizer");
  if (offset < 0 || count < 0 || offset > o->n || count > o->n - offset)
    return lpo_set_error("adamw: no-decay range [%lld, +%lld) is outside the %lld parameters",
                         (long long)offset, (long long)count, (long long)o->n);
  if (count == 0) return 0;
  int64_t b = offset, e = offset + count;
  /* Remove every range touching [b, e), widening [b, e) to cover them, then insert. */
  int w = 0;
  for (int r = 0; r < o->nnd; r++) {
    int64_t rb = o->nd[2 * r], re = o->nd[2 * r + 1];
    if (re < b || rb > e) { o->nd[2 * w] = rb; o->nd[2 * w + 1] = re; w++; }
    else { if (rb < b) b = rb; if (re > e) e = re; }
  }
  o->nnd = w;
  if (o->nnd == o->ndcap) {
    int nc = o->ndcap ? 2 * o->ndcap : 16;
    int64_t *nd = realloc(o->nd, (size_t)nc * 2 * sizeof *nd);
    if (!nd) return lpo_set_error("adamw: out of memory");
    o->nd = nd;
    o->ndcap = nc;
  }
  int at = o->nnd;
  while (at > 0 && o->nd[2 * (at - 1)] > b) { o->nd[2 * at] = o->nd[2 * (at - 1)]; o->nd[2 * at + 1] = o->nd[2 * (at - 1) + 1]; at--; }
  o->nd[2 * at] = b;
  o->nd[2 * at + 1] = e;
  o->nnd++;
  return 0;
}

typedef struct step_consts { float decay, lerp_w, b2, one_m_b2, bc2_sqrt, eps, neg_step; int lerp_hi; } step_consts;

/* The elementwise update on [0, count) of the given slices; decay only when asked.
 * torch's CPU kernels for lerp_ and addcmul_ use fused multiply-add (Vectorized fmadd),
 * so we do too: with fmaf the results are bit-identical to torch.optim.AdamW (checked
 * against the fixtures). The FMA clone is picked at load time where the CPU has FMA;
 * elsewhere fmaf is done in software, slower but with the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("fma", "default")))
#endif
static void adamw_range(float *p, const float *g, float *m, float *v, int64_t count, int decay, const step_consts *c) {
  for (int64_t i = 0; i < count; i++) {
    float pi = p[i], gi = g[i], mi = m[i], vi = v[i];
    if (decay) pi = pi * c->decay;
    /* torch's lerp(start, end, w): fma(w, end - start, start) for w < 0.5, else
     * fma(w - 1, end - start, end) (only when beta1 <= 0.5) */
    if (!c->lerp_hi) mi = fmaf(c->lerp_w, gi - mi, mi);
    else mi = fmaf(c->lerp_w - 1.0f, gi - mi, gi);
    /* exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1-beta2) */
    vi = fmaf(c->one_m_b2 * gi, gi, vi * c->b2);
    /* param.addcdiv_(exp_avg, denom, value=-step_size) */
    float denom = sqrtf(vi) / c->bc2_sqrt + c->eps;
    pi = pi + c->neg_step * mi / denom;
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

int lpo_adamw_step(lpo_adamw *o, float *params, const float *grads, double lr) {
  if (!o) return lpo_set_error("adamw: no optimizer");
  if (!(lr >= 0) || !isfinite(lr)) return lpo_set_error("adamw: learning rate %g is not a finite number >= 0", lr);
  if (o->n > 0 && (!params || !grads)) return lpo_set_error("adamw: NULL params or grads");
  o->step++;
  if (o->n == 0) return 0;
  double step = (double)o->step;  /* torch keeps the step as a float tensor and .item()s it */
  double bc1 = 1 - pow(o->beta1, step), bc2 = 1 - pow(o->beta2, step);
  double step_size = lr / bc1;
  double bc2_sqrt = pow(bc2, 0.5);
  double lerp_w = 1 - o->beta1;
  step_consts c = {
    .decay = (float)(1 - lr * o->wd), .b2 = (float)o->beta2, .one_m_b2 = (float)(1 - o->beta2),
    .bc2_sqrt = (float)bc2_sqrt, .eps = (float)o->eps, .neg_step = (float)(-step_size),
    .lerp_w = (float)lerp_w, .lerp_hi = lerp_w >= 0.5,
  };
  int decay = o->wd != 0;
  float *m = o->mv, *v = o->mv + o->n;
  int64_t pos = 0;
  for (int r = 0; r <= o->nnd; r++) {
    int64_t b = r < o->nnd ? o->nd[2 * r] : o->n, e = r < o->nnd ? o->nd[2 * r + 1] : o->n;
    adamw_range(params + pos, grads + pos, m + pos, v + pos, b - pos, decay, &c);  /* decayed gap */
    adamw_range(params + b, grads + b, m + b, v + b, e - b, 0, &c);                /* no-decay range */
    pos = e;
  }
  return 0;
}

/* ---- state save / load ---- */

int lpo_adamw_save(const lpo_adamw *o, const char *path, const char *extra_metadata_json) {
  if (!o) return lpo_set_error("adamw: no optimizer");
  cJSON *meta = extra_metadata_json ? cJSON_Parse(extra_metadata_json) : cJSON_CreateObject();
  if (!meta || !cJSON_IsObject(meta)) {
    cJSON_Delete(meta);
    return lpo_set_error("%s: optimizer metadata is not a JSON object", path);
  }
  char buf[64];
  static const char *keys[] = { "lpo_optimizer", "beta1", "beta2", "eps", "weight_decay", "step", "n" };
  for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) cJSON_DeleteItemFromObjectCaseSensitive(meta, keys[k]);
  cJSON_AddStringToObject(meta, "lpo_optimizer", "adamw");
  snprintf(buf, sizeof buf, "%.17g", o->beta1); cJSON_AddStringToObject(meta, "beta1", buf);
  snprintf(buf, sizeof buf, "%.17g", o->beta2); cJSON_AddStringToObject(meta, "beta2", buf);
  snprintf(buf, sizeof buf, "%.17g", o->eps); cJSON_AddStringToObject(meta, "eps", buf);
  snprintf(buf, sizeof buf, "%.17g", o->wd); cJSON_AddStringToObject(meta, "weight_decay", buf);
  snprintf(buf, sizeof buf, "%lld", (long long)o->step); cJSON_AddStringToObject(meta, "step", buf);
  snprintf(buf, sizeof buf, "%lld", (long long)o->n); cJSON_AddStringToObject(meta, "n", buf);
  char *mtext = cJSON_PrintUnformatted(meta);
  cJSON_Delete(meta);
  if (!mtext) return lpo_set_error("%s: out of memory", path);
  int64_t step = o->step;
  lpo_st_tensor t[4] = {
    { "exp_avg", LPO_F32, 1, { o->n }, o->mv },
    { "exp_avg_sq", LPO_F32, 1, { o->n }, o->mv + o->n },
    { "step", LPO_I64, 1, { 1 }, &step },
    { "no_decay", LPO_I64, 2, { o->nnd, 2 }, o->nd },
  };
  int rc = lpo_st_write(path, t, 4, mtext);
  free(mtext);
  return rc;
}

int lpo_adamw_load(lpo_adamw *o, const char *path) {
  if (!o) return lpo_set_error("adamw: no optimizer");
  lpo_st *st = lpo_st_open(path);
  if (!st) return -1;
  int rc = 0;
  int64_t shape_n[1] = { o->n }, one[1] = { 1 }, step = -1;
  int64_t nd_shape[8];
  int ind = lpo_st_find(st, "no_decay");
  /* Check every tensor before touching the optimizer, so a failed load changes nothing. */
  const char *need[3] = { "exp_avg", "exp_avg_sq", "step" };
  for (int k = 0; k < 3 && rc == 0; k++) {
    int i = lpo_st_find(st, need[k]);
    int want_dtype = k < 2 ? LPO_F32 : LPO_I64;
    int64_t shp[8];
    if (i < 0) rc = lpo_set_error("%s: tensor '%s' is missing (not an lpo AdamW state file?)", path, need[k]);
    else if (lpo_st_dtype(st, i) != want_dtype)
      rc = lpo_set_error("%s: tensor '%s': dtype %s, expected %s", path, need[k], lpo_dtype_name(lpo_st_dtype(st, i)), lpo_dtype_name(want_dtype));
    else if (lpo_st_shape(st, i, shp) != 1 || shp[0] != (k < 2 ? o->n : 1))
      rc = lpo_set_error("%s: tensor '%s': has %lld elements, the optimizer has %lld parameters", path, need[k],
                         (long long)lpo_st_numel(st, i), (long long)(k < 2 ? o->n : 1));
  }
  if (rc == 0 && lpo_st_read_raw(st, "step", &step, LPO_I64, 1, one) == 0 && step < 0)
    rc = lpo_set_error("%s: tensor 'step': negative step count %lld", path, (long long)step);
  if (rc == 0) {
    /* The no-decay set decides which weights decay: resuming with a different one would
     * silently change the run, so it must match exactly. */
    int same = ind >= 0 && lpo_st_dtype(st, ind) == LPO_I64 && lpo_st_shape(st, ind, nd_shape) == 2 &&
               nd_shape[0] == o->nnd && nd_shape[1] == 2;
    if (same && o->nnd > 0) same = memcmp(lpo_st_data(st, ind), o->nd, (size_t)o->nnd * 2 * sizeof(int64_t)) == 0;
    if (!same) rc = lpo_set_error("%s: tensor 'no_decay': the saved no-decay ranges differ from this optimizer's", path);
  }
  if (rc == 0) rc = lpo_st_read_raw(st, "exp_avg", o->mv, LPO_F32, 1, shape_n);
  if (rc == 0) rc = lpo_st_read_raw(st, "exp_avg_sq", o->mv + o->n, LPO_F32, 1, shape_n);
  if (rc == 0) o->step = step;
  lpo_st_close(st);
  return rc;
}
