/* The fast CPU kernels (OpenBLAS, blocked causal attention, chunked LM head, vectorised
 * loops) against the plain-C reference, on shapes that hit every edge: lengths that are
 * not multiples of the 16-wide loops or of the 64-row attention blocks, GQA, the LM head
 * both keeping its probabilities and recomputing them chunk by chunk. Then a whole model
 * at T = 150 (three attention blocks), fast vs reference, logps and every gradient.
 * Error of an array: max|fast - ref| / max|ref|; bound 2e-5 (f32 sums in another order). */
#include "check.h"
#include "cpu/cpu.h"
#include "lpo.h"
#include "lpo_model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static lpo_philox rng;

static float *randv(size_t n, float scale) {
  float *x = lpo_alloc(n * sizeof(float), 0);
  for (size_t i = 0; i < n; i++) x[i] = scale * (float)lpo_philox_normal(&rng);
  return x;
}
static float *copyv(const float *x, size_t n) {
  float *y = lpo_alloc(n * sizeof(float), 0);
  memcpy(y, x, n * sizeof(float));
  return y;
}
#define SAME(a, b, n, what) do { double e_ = check_rel_err(a, b, n); CHECK_MSG(e_ <= 2e-5, "%s: rel err %.3g", what, e_); } while (0)
#define FREE(x, n) lpo_free(x, (n) * sizeof(float), 0)

static void test_exp(void) {
  double worst = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.01372f) {
    double e = fabs(lpo_expf(x) - exp((double)x)) / exp((double)x);
    if (e > worst) worst = e;
  }
  CHECK_MSG(worst < 3e-7, "lpo_expf worst relative error %.3g", worst);
  CHECK(lpo_expf(-1000.0f) == 0.0f && lpo_expf(-INFINITY) == 0.0f && isfinite(lpo_expf(1000.0f)));
}

static void test_matmul(const lpo_backend *f, const lpo_backend *r, int N) {
  int IC = 70, OC = 45;
  float *x = randv((size_t)N * IC, 1), *w = randv((size_t)OC * IC, 1), *b = randv(OC, 1), *dy = randv((size_t)N * OC, 1);
  float *y1 = randv((size_t)N * OC, 1), *y2 = copyv(y1, (size_t)N * OC);
  f->matmul_forward(y1, x, w, b, N, IC, OC, 1);
  r->matmul_forward(y2, x, w, b, N, IC, OC, 1);
  SAME(y1, y2, (size_t)N * OC, "matmul forward (accumulate, bias)");
  float *dx1 = randv((size_t)N * IC, 1), *dx2 = copyv(dx1, (size_t)N * IC);
  float *dw1 = randv((size_t)OC * IC, 1), *dw2 = copyv(dw1, (size_t)OC * IC);
  float *db1 = randv(OC, 1), *db2 = copyv(db1, OC);
  f->matmul_backward(dx1, dw1, db1, dy, x, w, N, IC, OC);
  r->matmul_backward(dx2, dw2, db2, dy, x, w, N, IC, OC);
  SAME(dx1, dx2, (size_t)N * IC, "matmul dinp");
  SAME(dw1, dw2, (size_t)OC * IC, "matmul dweight");
  SAME(db1, db2, OC, "matmul dbias");
  FREE(x, N * IC); FREE(w, OC * IC); FREE(b, OC); FREE(dy, N * OC); FREE(y1, N * OC); FREE(y2, N * OC);
  FREE(dx1, N * IC); FREE(dx2, N * IC); FREE(dw1, OC * IC); FREE(dw2, OC * IC); FREE(db1, OC); FREE(db2, OC);
}

static void test_rmsnorm_swiglu(const lpo_backend *f, const lpo_backend *r) {
  int N = 7, C = 70, F = 37;
  float *x = randv((size_t)N * C, 2), *w = randv(C, 1), *dy = randv((size_t)N * C, 1);
  float *y1 = randv((size_t)N * C, 1), *y2 = randv((size_t)N * C, 1), *r1 = randv(N, 1), *r2 = randv(N, 1);
  f->rmsnorm_forward(y1, r1, x, w, N, C, 1e-5f);
  r->rmsnorm_forward(y2, r2, x, w, N, C, 1e-5f);
  SAME(y1, y2, (size_t)N * C, "rmsnorm forward");
  SAME(r1, r2, N, "rmsnorm rstd");
  float *dx1 = randv((size_t)N * C, 1), *dx2 = copyv(dx1, (size_t)N * C), *dw1 = randv(C, 1), *dw2 = copyv(dw1, C);
  f->rmsnorm_backward(dx1, dw1, dy, x, w, r2, N, C);
  r->rmsnorm_backward(dx2, dw2, dy, x, w, r2, N, C);
  SAME(dx1, dx2, (size_t)N * C, "rmsnorm dinp");
  SAME(dw1, dw2, C, "rmsnorm dweight");
  float *gu = randv((size_t)N * 2 * F, 3), *h1 = randv((size_t)N * F, 1), *h2 = randv((size_t)N * F, 1), *dh = randv((size_t)N * F, 1);
  f->swiglu_forward(h1, gu, N, F);
  r->swiglu_forward(h2, gu, N, F);
  SAME(h1, h2, (size_t)N * F, "swiglu forward");
  float *dg1 = randv((size_t)N * 2 * F, 1), *dg2 = copyv(dg1, (size_t)N * 2 * F);
  f->swiglu_backward(dg1, dh, gu, N, F);
  r->swiglu_backward(dg2, dh, gu, N, F);
  SAME(dg1, dg2, (size_t)N * 2 * F, "swiglu backward");
  FREE(x, N * C); FREE(w, C); FREE(dy, N * C); FREE(y1, N * C); FREE(y2, N * C); FREE(r1, N); FREE(r2, N);
  FREE(dx1, N * C); FREE(dx2, N * C); FREE(dw1, C); FREE(dw2, C); FREE(gu, N * 2 * F); FREE(h1, N * F);
  FREE(h2, N * F); FREE(dh, N * F); FREE(dg1, N * 2 * F); FREE(dg2, N * 2 * F);
}

static void test_attention(const lpo_backend *f, const lpo_backend *r, int T, int D) {
  int B = 2, Hq = 4, Hkv = 2, QKV = (Hq + 2 * Hkv) * D, QD = Hq * D;
  size_t nq = (size_t)B * T * QKV, no = (size_t)B * T * QD, nl = (size_t)B * Hq * T;
  float *qkv = randv(nq, 1), *o1 = randv(no, 1), *o2 = randv(no, 1), *l1 = randv(nl, 1), *l2 = randv(nl, 1);
  int slots = lpo_cpu_threads();
  size_t ns = slots * (f->attention_scratch(T, D) > r->attention_scratch(T, D) ? f->attention_scratch(T, D) : r->attention_scratch(T, D));
  float *scratch = randv(ns, 1), *dout = randv(no, 1);
  f->attention_forward(o1, l1, qkv, B, T, Hq, Hkv, D, scratch, slots);
  r->attention_forward(o2, l2, qkv, B, T, Hq, Hkv, D, scratch, slots);
  char what[64];
  snprintf(what, sizeof what, "attention T=%d D=%d out", T, D);
  SAME(o1, o2, no, what);
  SAME(l1, l2, nl, "attention lse");
  float *d1 = randv(nq, 1), *d2 = copyv(d1, nq);
  f->attention_backward(d1, dout, o2, l2, qkv, B, T, Hq, Hkv, D, scratch, slots);
  r->attention_backward(d2, dout, o2, l2, qkv, B, T, Hq, Hkv, D, scratch, slots);
  snprintf(what, sizeof what, "attention T=%d D=%d dqkv", T, D);
  SAME(d1, d2, nq, what);
  FREE(qkv, nq); FREE(o1, no); FREE(o2, no); FREE(l1, nl); FREE(l2, nl); FREE(scratch, ns);
  FREE(dout, no); FREE(d1, nq); FREE(d2, nq);
}

static void test_lmhead(const lpo_backend *f, const lpo_backend *r) {
  int M = 37, C = 24, V = 1000;
  float *x = randv((size_t)M * C, 1), *w = randv((size_t)V * C, 1), *dl = randv(M, 1);
  int32_t t[37];
  for (int i = 0; i < M; i++) t[i] = (int32_t)(lpo_philox_u32(&rng) % (uint32_t)V);
  float lp_r[37], lse_r[37], lp[37], lse[37];
  float *buf = randv((size_t)64 * V, 1);
  r->lmhead_forward(lp_r, lse_r, buf, x, w, t, M, C, V, 64);
  float *dx_r = randv((size_t)M * C, 1), *dw_r = randv((size_t)V * C, 1);
  float *dx0 = copyv(dx_r, (size_t)M * C), *dw0 = copyv(dw_r, (size_t)V * C);
  r->lmhead_backward(dx_r, dw_r, buf, dl, x, w, t, lse_r, M, C, V, 64, 0);
  for (int cap = 10; cap <= 64; cap += 54) {          /* 10: recompute in chunks; 64: kept */
    int kept = f->lmhead_forward(lp, lse, buf, x, w, t, M, C, V, cap);
    CHECK(kept == (M <= cap));
    SAME(lp, lp_r, M, "lmhead logp");
    SAME(lse, lse_r, M, "lmhead lse");
    float *dx = copyv(dx0, (size_t)M * C), *dw = copyv(dw0, (size_t)V * C);
    f->lmhead_backward(dx, dw, buf, dl, x, w, t, lse, M, C, V, cap, kept);
    SAME(dx, dx_r, (size_t)M * C, "lmhead dx");
    SAME(dw, dw_r, (size_t)V * C, "lmhead dw");
    FREE(dx, M * C); FREE(dw, V * C);
  }
  FREE(x, M * C); FREE(w, V * C); FREE(dl, M); FREE(buf, 64 * V); FREE(dx_r, M * C); FREE(dw_r, V * C);
  FREE(dx0, M * C); FREE(dw0, V * C);
}

static void test_model(void) {
  const char *cfg = "{\"model_type\":\"qwen2\",\"vocab_size\":120,\"hidden_size\":40,\"intermediate_size\":72,"
                    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"initializer_range\":0.2}";
  enum { B = 2, T = 150 };
  lpo_model *a = lpo_model_new(cfg, 1), *b = lpo_model_new(cfg, 1);
  lpo_model_set_backend(b, lpo_backend_cpu_ref());
  lpo_model_set_lmhead_budget(a, 120 * 4 * 50);       /* 50 rows at a time: the chunked path */
  lpo_model_reserve(a, B, T, 1);
  lpo_model_reserve(b, B, T, 1);
  static int32_t tok[B * T];
  static float mask[B * T], tl_a[B * T], tl_b[B * T];
  for (int i = 0; i < B * T; i++) { tok[i] = (int32_t)(lpo_philox_u32(&rng) % 120); mask[i] = (i % T) > 20; }
  float sa[B], sb[B], d[B] = { 1.0f, -0.5f };
  CHECK(lpo_model_logprobs(a, tok, mask, B, T, tl_a, sa) == 0);
  CHECK(lpo_model_logprobs(b, tok, mask, B, T, tl_b, sb) == 0);
  SAME(tl_a, tl_b, B * T, "model tok_logp");
  SAME(sa, sb, B, "model seq_logp");
  CHECK(lpo_model_backward(a, d) == 0 && lpo_model_backward(b, d) == 0);
  for (int i = 0; i < lpo_model_num_tensors(a); i++) {
    lpo_model_tensor t;
    lpo_model_tensor_info(a, i, &t);
    double e = check_rel_err(lpo_model_grads(a) + t.offset, lpo_model_grads(b) + t.offset, (size_t)t.numel);
    CHECK_MSG(e <= 2e-5, "model grad %s: rel err %.3g", t.name, e);
  }
  lpo_model_free(a);
  lpo_model_free(b);
}

/* Same thread count -> the same bits; another thread count -> the same numbers up to
 * rounding (sgemm blocks are split differently). */
static void test_determinism(void) {
  const char *cfg = "{\"model_type\":\"llama\",\"vocab_size\":90,\"hidden_size\":48,\"intermediate_size\":64,"
                    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"initializer_range\":0.2}";
  enum { B = 3, T = 70 };
  static int32_t tok[B * T];
  static float mask[B * T];
  for (int i = 0; i < B * T; i++) { tok[i] = (int32_t)((i * 37 + 5) % 90); mask[i] = (i % T) > 3; }
  float *g[3];
  float seq[3][B], d[B] = { 1.0f, 2.0f, -1.0f };
  int threads[3] = { 2, 2, 1 };
  int64_t n = 0;
  for (int r = 0; r < 3; r++) {
    lpo_cpu_set_threads(threads[r]);
    lpo_model *m = lpo_model_new(cfg, 4);
    lpo_model_reserve(m, B, T, 1);
    CHECK(lpo_model_logprobs(m, tok, mask, B, T, NULL, seq[r]) == 0);
    CHECK(lpo_model_backward(m, d) == 0);
    n = lpo_model_num_params(m);
    g[r] = malloc((size_t)n * sizeof(float));
    memcpy(g[r], lpo_model_grads(m), (size_t)n * sizeof(float));
    lpo_model_free(m);
  }
  CHECK(memcmp(seq[0], seq[1], sizeof seq[0]) == 0);
  CHECK_MSG(memcmp(g[0], g[1], (size_t)n * sizeof(float)) == 0, "2 threads twice: gradients differ");
  SAME(seq[2], seq[0], B, "1 vs 2 threads seq_logp");
  SAME(g[2], g[0], (size_t)n, "1 vs 2 threads grads");
  for (int r = 0; r < 3; r++) free(g[r]);
}

/* The pool after fork(): the child has no workers and must not wait for them. */
static void test_fork(void) {
  lpo_cpu_set_threads(2);
  const char *cfg = "{\"model_type\":\"llama\",\"vocab_size\":50,\"hidden_size\":32,\"intermediate_size\":64,"
                    "\"num_hidden_layers\":1,\"num_attention_heads\":2}";
  lpo_model *m = lpo_model_new(cfg, 1);
  lpo_model_reserve(m, 2, 40, 0);
  static int32_t tok[80];
  static float mask[80];
  for (int i = 0; i < 80; i++) { tok[i] = i % 50; mask[i] = (i % 40) > 0; }
  float seq[2], seq_child[2];
  CHECK(lpo_model_logprobs(m, tok, mask, 2, 40, NULL, seq) == 0);   /* workers exist now */
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    int ok = lpo_model_logprobs(m, tok, mask, 2, 40, NULL, seq_child) == 0;
    ssize_t w = write(fds[1], seq_child, sizeof seq_child);
    _exit(ok && w == (ssize_t)sizeof seq_child ? 0 : 1);
  }
  close(fds[1]);   /* the child's end: a child that dies without writing gives EOF, not a hang */
  ssize_t got = read(fds[0], seq_child, sizeof seq_child);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child after fork: status %d", status);
  CHECK(got == (ssize_t)sizeof seq_child && memcmp(seq, seq_child, sizeof seq) == 0);
  close(fds[0]);
  lpo_model_free(m);
}

int main(void) {
  lpo_philox_init(&rng, 12345, 0);
  const lpo_backend *f = lpo_backend_cpu(), *r = lpo_backend_cpu_ref();
  test_exp();
  test_matmul(f, r, 33);   /* sgemm */
  test_matmul(f, r, 300);  /* big enough for the paired backward products */
  test_matmul(f, r, 7);    /* few rows: the skinny kernel (4 x 4 blocks, tails in both) */
  test_matmul(f, r, 1);
  test_rmsnorm_swiglu(f, r);
  /* 150 = several 8-row blocks and a short last one; D = 64 (4-vector path), 16, 20
   * (one vector + scalar tail), 6; T = 5 (one short block) */
  test_attention(f, r, 150, 64);
  test_attention(f, r, 150, 16);
  test_attention(f, r, 37, 20);
  test_attention(f, r, 5, 6);
  test_lmhead(f, r);
  test_model();
  int threads = lpo_cpu_threads();
  test_determinism();
  if (!getenv("LPO_TEST_NO_FORK")) test_fork();   /* (ThreadSanitizer cannot follow a fork) */
  lpo_cpu_set_threads(threads);
  return check_done("test_model_kernels");
}
