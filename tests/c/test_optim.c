/* test_optim.c — AdamW, clipping and LR schedules against fixtures made with torch and
 * transformers (tests/fixtures/ckpt/make_ckpt.py): torch.optim.AdamW trajectories with
 * decay / no-decay groups, clip_grad_norm_ and a cosine warmup schedule; clip cases;
 * every schedule kind with warmup as steps and as a ratio. Then exact resume (10 steps ==
 * 5 + save + load + 5, bit for bit) and state-file errors that name the tensor. */
#include "lpo_optim.h"
#include "lpo_safetensors.h"
#include "check.h"
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/ckpt/"

static cJSON *read_json(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\n", path); return NULL; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t r = fread(buf, 1, (size_t)n, f);
  buf[r] = 0;
  fclose(f);
  cJSON *j = cJSON_Parse(buf);
  free(buf);
  return j;
}

static void floats(const cJSON *arr, float *out, int n) {
  for (int i = 0; i < n; i++) out[i] = (float)cJSON_GetArrayItem(arr, i)->valuedouble;
}
static double num(const cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k)->valuedouble; }

static int kind_of(const char *s) {
  if (strcmp(s, "constant_with_warmup") == 0) return LPO_LR_CONSTANT;
  return lpo_lr_kind_parse(s);
}

static void test_schedules(void) {
  cJSON *j = read_json(FIX "schedules.json");
  CHECK(j != NULL);
  if (!j) return;
  int cases = 0, values = 0, exact = 0;
  double worst = 0;
  for (cJSON *c = cJSON_GetObjectItem(j, "cases")->child; c; c = c->next, cases++) {
    lpo_lr_schedule s = { 0 };
    s.kind = kind_of(cJSON_GetObjectItem(c, "kind")->valuestring);
    s.lr = num(c, "lr");
    s.total_steps = (int64_t)num(c, "total_steps");
    if (cJSON_GetObjectItem(c, "warmup_ratio")) s.warmup_ratio = num(c, "warmup_ratio");
    else s.warmup_steps = (int64_t)num(c, "warmup_steps");
    if (cJSON_GetObjectItem(c, "min_lr_ratio")) s.min_lr_ratio = num(c, "min_lr_ratio");
    CHECK_MSG(lpo_lr_check(&s) == 0, "%s", lpo_last_error());
    CHECK_MSG(lpo_lr_warmup(&s) == (int64_t)num(c, "resolved_warmup_steps"), "case %d: warmup %lld", cases, (long long)lpo_lr_warmup(&s));
    cJSON *lrs = cJSON_GetObjectItem(c, "lrs");
    for (int k = 0; k < cJSON_GetArraySize(lrs); k++, values++) {
      double want = cJSON_GetArrayItem(lrs, k)->valuedouble, got = lpo_lr_at(&s, k);
      double rel = fabs(got - want) / (fabs(want) > 0 ? fabs(want) : 1);
      if (rel > worst) worst = rel;
      exact += got == want;
      CHECK_MSG(rel <= 1e-9, "case %d (%s) step %d: %.17g vs transformers %.17g", cases,
                cJSON_GetObjectItem(c, "kind")->valuestring, k, got, want);
    }
  }
  printf("schedules: %d cases, %d values, %d bit-exact, worst relative error %.3g\n", cases, values, exact, worst);
  cJSON_Delete(j);
  /* Bad schedules name the field. */
  lpo_lr_schedule bad = { .kind = LPO_LR_COSINE, .lr = 1e-3 };
  CHECK(lpo_lr_check(&bad) == -1 && strstr(lpo_last_error(), "total_steps"));
  bad.total_steps = 10;
  bad.warmup_ratio = 1.5;
  CHECK(lpo_lr_check(&bad) == -1 && strstr(lpo_last_error(), "warmup ratio"));
  CHECK(lpo_lr_kind_parse("cosine_with_min_lr") == LPO_LR_COSINE_MIN);
  CHECK(lpo_lr_kind_parse("polynomial") == -1 && strstr(lpo_last_error(), "polynomial"));
}

/* Replays every torch trajectory. Returns the worst relative parameter error. */
static void test_adamw_vs_torch(void) {
  cJSON *j = read_json(FIX "optim.json");
  CHECK(j != NULL);
  if (!j) return;
  for (cJSON *run = cJSON_GetObjectItem(j, "runs")->child; run; run = run->next) {
    const char *name = cJSON_GetObjectItem(run, "name")->valuestring;
    int n = (int)num(run, "n");
    cJSON *betas = cJSON_GetObjectItem(run, "betas");
    lpo_adamw *o = lpo_adamw_build(n, cJSON_GetArrayItem(betas, 0)->valuedouble, cJSON_GetArrayItem(betas, 1)->valuedouble,
                                   num(run, "eps"), num(run, "weight_decay"));
    CHECK(o != NULL);
    for (cJSON *r = cJSON_GetObjectItem(run, "no_decay")->child; r; r = r->next)
      CHECK(lpo_adamw_no_decay(o, (int64_t)cJSON_GetArrayItem(r, 0)->valuedouble, (int64_t)cJSON_GetArrayItem(r, 1)->valuedouble) == 0);
    cJSON *sch = cJSON_GetObjectItem(run, "schedule");
    lpo_lr_schedule s = { .kind = LPO_LR_CONSTANT, .lr = num(run, "lr") };
    if (cJSON_IsObject(sch)) {
      s.kind = lpo_lr_kind_parse(cJSON_GetObjectItem(sch, "kind")->valuestring);
      s.warmup_steps = (int64_t)num(sch, "warmup_steps");
      s.total_steps = (int64_t)num(sch, "total_steps");
    }
    cJSON *mn = cJSON_GetObjectItem(run, "max_norm");
    float *p = malloc((size_t)n * 4), *g = malloc((size_t)n * 4), *want = malloc((size_t)n * 4);
    floats(cJSON_GetObjectItem(run, "params0"), p, n);
    double worst = 0, worst_norm = 0;
    int steps = 0, bitexact = 0;
    for (cJSON *st = cJSON_GetObjectItem(run, "steps")->child; st; st = st->next, steps++) {
      floats(cJSON_GetObjectItem(st, "grads"), g, n);
      double lr = lpo_lr_at(&s, steps);
      CHECK_MSG(fabs(lr - num(st, "lr")) <= 1e-12 * fabs(num(st, "lr")), "%s step %d: lr %.17g vs %.17g", name, steps, lr, num(st, "lr"));
      if (cJSON_IsNumber(mn)) {
        float norm = lpo_clip_grad_norm(g, n, (float)mn->valuedouble);
        double rel = fabs(norm - num(st, "grad_norm")) / num(st, "grad_norm");
        if (rel > worst_norm) worst_norm = rel;
        CHECK_MSG(rel <= 1e-6, "%s step %d: grad norm %.9g vs torch %.9g", name, steps, norm, num(st, "grad_norm"));
      }
      CHECK(lpo_adamw_step(o, p, g, lr) == 0);
      floats(cJSON_GetObjectItem(st, "params"), want, n);
      for (int i = 0; i < n; i++) {
        double rel = fabs((double)p[i] - want[i]) / fmax(fabs(want[i]), 1e-3);
        if (rel > worst) worst = rel;
        bitexact += p[i] == want[i];
      }
    }
    CHECK_MSG(worst <= 1e-6, "%s: params differ from torch by %.3g relative", name, worst);
    CHECK(lpo_adamw_steps(o) == steps);
    printf("adamw %-6s: %d steps x %d params, %d/%d values bit-exact, worst relative error %.3g (norm %.3g)\n",
           name, steps, n, bitexact, steps * n, worst, worst_norm);
    free(p); free(g); free(want);
    lpo_adamw_free(o);
  }
  /* clip_grad_norm_ cases: norm returned and clipped gradients. */
  for (cJSON *c = cJSON_GetObjectItem(j, "clip")->child; c; c = c->next) {
    cJSON *ga = cJSON_GetObjectItem(c, "grads");
    int n = cJSON_GetArraySize(ga);
    float *g = malloc((size_t)n * 4), *want = malloc((size_t)n * 4);
    floats(ga, g, n);
    floats(cJSON_GetObjectItem(c, "clipped"), want, n);
    float norm = lpo_clip_grad_norm(g, n, (float)num(c, "max_norm"));
    CHECK_CLOSE(norm, num(c, "norm"), 1e-6, 0);
    double worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs((double)g[i] - want[i]) / fmax(fabs(want[i]), 1e-6));
    CHECK_MSG(worst <= 1e-6, "clip max_norm %g: worst relative error %.3g", num(c, "max_norm"), worst);
    free(g); free(want);
  }
  cJSON_Delete(j);
}

/* A deterministic synthetic problem: grads from Philox, 10 steps with clipping,
 * decay and a schedule, straight through vs interrupted by save/load at step 5. */
static void run_steps(lpo_adamw *o, float *p, float *g, int n, int from, int to, const lpo_lr_schedule *s) {
  for (int k = from; k < to; k++) {
    lpo_philox r;
    lpo_philox_init(&r, lpo_philox_key(5, 1, (uint64_t)k, 0, 0), 0);
    for (int i = 0; i < n; i++) g[i] = (float)lpo_philox_normal(&r) * (k % 2 ? 3.0f : 0.1f);
    lpo_clip_grad_norm(g, n, 1.0f);
    CHECK(lpo_adamw_step(o, p, g, lpo_lr_at(s, lpo_adamw_steps(o))) == 0);
  }
}

static void test_resume(void) {
  enum { N = 1000 };
  static float p1[N], p2[N], g[N];
  for (int i = 0; i < N; i++) p1[i] = p2[i] = (float)sin(i * 0.1);
  lpo_lr_schedule s = { .kind = LPO_LR_COSINE_MIN, .lr = 3e-3, .warmup_ratio = 0.2, .total_steps = 10, .min_lr_ratio = 0.1 };
  lpo_adamw *a = lpo_adamw_build(N, 0.9, 0.95, 1e-8, 0.1);
  lpo_adamw_no_decay(a, 100, 50);
  lpo_adamw_no_decay(a, 900, 100);
  run_steps(a, p1, g, N, 0, 10, &s);
  char path[] = "/tmp/lpo_optim_XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  lpo_adamw *b = lpo_adamw_build(N, 0.9, 0.95, 1e-8, 0.1);
  lpo_adamw_no_decay(b, 100, 50);
  lpo_adamw_no_decay(b, 900, 100);
  run_steps(b, p2, g, N, 0, 5, &s);
  CHECK_MSG(lpo_adamw_save(b, path, "{\"note\":\"resume test\"}") == 0, "%s", lpo_last_error());
  lpo_adamw_free(b);
  lpo_adamw *c = lpo_adamw_build(N, 0.9, 0.95, 1e-8, 0.1);
  lpo_adamw_no_decay(c, 900, 100);
  lpo_adamw_no_decay(c, 100, 50);  /* same set, other order */
  CHECK_MSG(lpo_adamw_load(c, path) == 0, "%s", lpo_last_error());
  CHECK(lpo_adamw_steps(c) == 5);
  run_steps(c, p2, g, N, 5, 10, &s);
  CHECK_MSG(memcmp(p1, p2, sizeof p1) == 0, "resumed parameters differ from the uninterrupted run");
  CHECK(memcmp(lpo_adamw_exp_avg(a), lpo_adamw_exp_avg(c), N * 4) == 0);
  CHECK(memcmp(lpo_adamw_exp_avg_sq(a), lpo_adamw_exp_avg_sq(c), N * 4) == 0);
  CHECK(lpo_adamw_steps(c) == 10);
  /* The file is a normal safetensors file with the hyperparameters in its metadata. */
  lpo_st *st = lpo_st_open(path);
  CHECK(st && strcmp(lpo_st_metadata(st, "note"), "resume test") == 0 && strcmp(lpo_st_metadata(st, "step"), "5") == 0 &&
        strcmp(lpo_st_metadata(st, "lpo_optimizer"), "adamw") == 0);
  lpo_st_close(st);
  /* Errors: wrong size, different no-decay set, not a state file; a failed load leaves
   * the optimizer untouched. */
  lpo_adamw *w = lpo_adamw_build(N - 1, 0.9, 0.95, 1e-8, 0.1);
  CHECK(lpo_adamw_load(w, path) == -1);
  CHECK_MSG(strstr(lpo_last_error(), "'exp_avg'") && strstr(lpo_last_error(), path), "%s", lpo_last_error());
  CHECK(lpo_adamw_steps(w) == 0);
  lpo_adamw_free(w);
  w = lpo_adamw_build(N, 0.9, 0.95, 1e-8, 0.1);
  lpo_adamw_no_decay(w, 100, 50);
  CHECK(lpo_adamw_load(w, path) == -1 && strstr(lpo_last_error(), "'no_decay'"));
  CHECK(lpo_adamw_steps(w) == 0 && lpo_adamw_exp_avg(w)[0] == 0);
  lpo_st_tensor t = { "exp_avg", LPO_F32, 1, { N }, p1 };
  CHECK(lpo_st_write(path, &t, 1, NULL) == 0);
  CHECK(lpo_adamw_load(w, path) == -1 && strstr(lpo_last_error(), "'exp_avg_sq'"));
  CHECK(lpo_adamw_load(w, "/nonexistent/opt.safetensors") == -1 && strstr(lpo_last_error(), "/nonexistent/opt.safetensors"));
  lpo_adamw_free(w);
  lpo_adamw_free(a);
  lpo_adamw_free(c);
  unlink(path);
}

static void test_api_edges(void) {
  CHECK(lpo_adamw_build(-1, 0.9, 0.999, 1e-8, 0) == NULL);
  CHECK(lpo_adamw_build(10, 1.0, 0.999, 1e-8, 0) == NULL && strstr(lpo_last_error(), "betas"));
  CHECK(lpo_adamw_build(10, 0.9, 0.999, -1, 0) == NULL && strstr(lpo_last_error(), "eps"));
  lpo_adamw *o = lpo_adamw_build(10, 0.9, 0.999, 1e-8, 0.5);
  CHECK(lpo_adamw_no_decay(o, 8, 3) == -1 && strstr(lpo_last_error(), "outside"));
  CHECK(lpo_adamw_no_decay(o, -1, 1) == -1);
  /* Overlapping and touching ranges merge: decay then only hits [0,2) and [7,10). */
  CHECK(lpo_adamw_no_decay(o, 2, 2) == 0 && lpo_adamw_no_decay(o, 3, 3) == 0 && lpo_adamw_no_decay(o, 6, 1) == 0);
  float p[10], g[10] = { 0 };
  for (int i = 0; i < 10; i++) p[i] = 1.0f;
  CHECK(lpo_adamw_step(o, p, g, 0.1) == 0);  /* zero grads: only decay moves params */
  for (int i = 0; i < 10; i++) CHECK_MSG(p[i] == ((i >= 2 && i < 7) ? 1.0f : (float)(1 - 0.1 * 0.5)), "p[%d] = %g", i, p[i]);
  CHECK(lpo_adamw_step(o, p, g, NAN) == -1 && strstr(lpo_last_error(), "learning rate"));
  lpo_adamw_free(o);
  /* beta1 <= 0.5 takes torch's other lerp branch; compare with the plain formula. */
  o = lpo_adamw_build(1, 0.3, 0.999, 1e-8, 0);
  float q = 1.0f, gq = 0.5f;
  CHECK(lpo_adamw_step(o, &q, &gq, 0.01) == 0);
  CHECK_CLOSE(lpo_adamw_exp_avg(o)[0], 0.7 * 0.5, 1e-6, 0);
  CHECK_CLOSE(q, 1.0 - 0.01, 1e-6, 0);  /* first Adam step moves by lr * sign(g) */
  lpo_adamw_free(o);
  /* Norm: fixed order, matches a long double reference. */
  enum { M = 100003 };
  static float big[M];
  long double ref = 0;
  for (int i = 0; i < M; i++) { big[i] = (float)cos(i * 0.37) * (i % 7 ? 1e-3f : 10.0f); ref += (long double)big[i] * big[i]; }
  double n1 = lpo_grad_norm(big, M), n2 = lpo_grad_norm(big, M);
  CHECK(n1 == n2);
  CHECK_CLOSE(n1, sqrtl(ref), 1e-14, 0);
  float before = big[0];
  CHECK((float)n1 == lpo_clip_grad_norm(big, M, 0));  /* max_norm 0: measure only */
  CHECK(big[0] == before);
  lpo_grad_scale(big, M, 0.5f);
  CHECK(big[0] == before * 0.5f);
  lpo_grad_zero(big, M);
  CHECK(lpo_grad_norm(big, M) == 0);
  /* A NaN gradient gives a NaN norm (the caller decides to skip the step). */
  big[5] = NAN;
  CHECK(isnan(lpo_clip_grad_norm(big, M, 1.0f)));
}

int main(void) {
  if (access(FIX "optim.json", F_OK) != 0) { fprintf(stderr, "run from the repository root\n"); return 1; }
  int64_t live0 = lpo_mem_live_bytes(0);
  test_schedules();
  test_adamw_vs_torch();
  test_resume();
  test_api_edges();
  CHECK_MSG(lpo_mem_live_bytes(0) == live0, "leaked %lld bytes", (long long)(lpo_mem_live_bytes(0) - live0));
  return check_done("test_optim");
}
