/* test_tensor_matmul.c — matmul against a naive triple loop in double: random sizes,
 * transposed / step-sliced / expanded operands, broadcast batches, 1-D operands, bf16 and
 * f16, empty sizes, and the error messages.
 *
 * Tolerance: |C - ref| <= 1e-5 * sum_k |A_ik * B_kj| per element (the normwise bound for
 * an f32 dot product; a bound relative to |ref| alone is meaningless where terms cancel).
 * The largest ratio seen is printed so the margin is visible. */
#include "test_tensor_util.h"
#include <stdio.h>
#include <time.h>

static double worst_ratio;

static int err_has(const char *needle) {
  int ok = strstr(lpo_last_error(), needle) != NULL;
  if (!ok) fprintf(stderr, "  error was: %s (wanted: %s)\n", lpo_last_error(), needle);
  return ok;
}

/* Element (i, p) of the matrix at batch index bidx of t (t has nb batch dims + 2, with
 * batch dims broadcast against the result's: size-1 batch dims read index 0). */
static double mat_get(const lpo_tensor *t, const int64_t *bidx, int nb_out, int64_t i, int64_t p) {
  int64_t idx[LPO_MAX_DIMS];
  int nb = t->ndim - 2;
  for (int d = 0; d < nb; d++) idx[d] = t->shape[d] == 1 ? 0 : bidx[nb_out - nb + d];
  idx[nb] = i; idx[nb + 1] = p;
  return ref_get(t, idx);
}

/* Checks c = a @ b for a, b with >= 2 dims; rel = tolerance factor on sum |a||b|. */
static int check_matmul(const lpo_tensor *a, const lpo_tensor *b, const lpo_tensor *c, double rel, int out_dtype) {
  if (!c) { fprintf(stderr, "  matmul failed: %s\n", lpo_last_error()); return 1; }
  int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1], n = b->shape[b->ndim - 1];
  int nb = c->ndim - 2, bad = c->dtype != out_dtype;
  int64_t bidx[LPO_MAX_DIMS] = { 0 }, cidx[LPO_MAX_DIMS];
  do {
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double ref = 0, mag = 0;
        for (int64_t p = 0; p < k; p++) {
          double x = mat_get(a, bidx, nb, i, p) * mat_get(b, bidx, nb, p, j);
          ref += x; mag += fabs(x);
        }
        memcpy(cidx, bidx, sizeof cidx);
        cidx[nb] = i; cidx[nb + 1] = j;
        double got = ref_get(c, cidx), err = fabs(got - ref);
        if (mag > 0 && out_dtype == LPO_F32 && err / mag > worst_ratio) worst_ratio = err / mag;
        if (!(err <= rel * mag + (out_dtype == LPO_F32 ? 0 : rel * fabs(ref))) && bad++ < 3)
          fprintf(stderr, "  C[%lld,%lld] = %.9g, naive %.9g (sum|ab| %.3g)\n", (long long)i, (long long)j, got, ref, mag);
      }
  } while (next_index(nb, c->shape, bidx));
  return bad;
}

static void test_random_2d(void) {
  int failures = 0;
  for (int trial = 0; trial < 60; trial++) {
    int64_t m = rnd_int(1, 40), k = rnd_int(1, 70), n = rnd_int(1, 40);
    int64_t sa[2] = { m, k }, sb[2] = { k, n };
    lpo_tensor *a = random_tensor_layout(LPO_F32, 2, sa, (int)rnd_int(0, LAYOUT_COUNT - 1));
    lpo_tensor *b = random_tensor_layout(LPO_F32, 2, sb, (int)rnd_int(0, LAYOUT_COUNT - 1));
    lpo_tensor *c = lpo_tensor_matmul(a, b);
    CHECK(c && c->ndim == 2 && c->shape[0] == m && c->shape[1] == n);
    failures += check_matmul(a, b, c, 1e-5, LPO_F32) != 0;
    lpo_tensor_free(c); lpo_tensor_free(a); lpo_tensor_free(b);
  }
  CHECK_MSG(failures == 0, "%d random 2-D matmuls disagree with the naive loop", failures);
}

static void test_batched(void) {
  int failures = 0;
  for (int trial = 0; trial < 20; trial++) {
    int64_t m = rnd_int(1, 9), k = rnd_int(1, 12), n = rnd_int(1, 9), B = rnd_int(1, 3), C = rnd_int(2, 3);
    int64_t sa[4] = { B, 1, m, k }, sb[3] = { C, k, n };
    lpo_tensor *a = random_tensor_layout(LPO_F32, 4, sa, (int)rnd_int(0, LAYOUT_COUNT - 1));
    lpo_tensor *b = random_tensor_layout(LPO_F32, 3, sb, (int)rnd_int(0, LAYOUT_COUNT - 1));
    lpo_tensor *c = lpo_tensor_matmul(a, b);
    CHECK(c && c->ndim == 4 && c->shape[0] == B && c->shape[1] == C && c->shape[2] == m && c->shape[3] == n);
    failures += check_matmul(a, b, c, 1e-5, LPO_F32) != 0;
    lpo_tensor_free(c);
    /* an expanded (stride-0) batch operand */
    int64_t big[3] = { 4, m, k }, one[3] = { 1, m, k }, sb2[2] = { k, n };
    lpo_tensor *a1 = random_tensor_layout(LPO_F32, 3, one, LAYOUT_CONTIG), *ae = lpo_tensor_expand(a1, 3, big);
    lpo_tensor *b2 = random_tensor_layout(LPO_F32, 2, sb2, LAYOUT_TRANSPOSED);
    c = lpo_tensor_matmul(ae, b2);
    CHECK(c && c->ndim == 3 && c->shape[0] == 4);
    failures += check_matmul(ae, b2, c, 1e-5, LPO_F32) != 0;
    lpo_tensor_free(c); lpo_tensor_free(a1); lpo_tensor_free(ae); lpo_tensor_free(b2);
    lpo_tensor_free(a); lpo_tensor_free(b);
  }
  CHECK_MSG(failures == 0, "%d batched matmuls disagree with the naive loop", failures);
}

static void test_vectors_and_dtypes(void) {
  int64_t k = 17, m = 5, n = 6, B = 3;
  int64_t sk[1] = { k }, skn[2] = { k, n }, smk[2] = { m, k }, sbkn[3] = { B, k, n };
  lpo_tensor *v = random_tensor_layout(LPO_F32, 1, sk, LAYOUT_STEP), *w = random_tensor_layout(LPO_F32, 1, sk, LAYOUT_CONTIG);
  lpo_tensor *Kn = random_tensor_layout(LPO_F32, 2, skn, LAYOUT_TRANSPOSED), *Mk = random_tensor_layout(LPO_F32, 2, smk, LAYOUT_NARROW);
  lpo_tensor *Bkn = random_tensor_layout(LPO_F32, 3, sbkn, LAYOUT_CONTIG);
  lpo_tensor *row = lpo_tensor_unsqueeze(v, 0), *col = lpo_tensor_unsqueeze(w, 1);

  lpo_tensor *dot = lpo_tensor_matmul(v, w);           /* [] */
  lpo_tensor *dot2 = lpo_tensor_matmul(row, col);      /* [1,1] reference */
  int64_t z[2] = { 0, 0 };
  CHECK(dot && dot->ndim == 0 && check_matmul(row, col, dot2, 1e-5, LPO_F32) == 0 && ref_get(dot, z) == ref_get(dot2, z));
  lpo_tensor *vK = lpo_tensor_matmul(v, Kn), *vK2 = lpo_tensor_matmul(row, Kn);   /* [n] */
  CHECK(vK && vK->ndim == 1 && vK->shape[0] == n && check_matmul(row, Kn, vK2, 1e-5, LPO_F32) == 0);
  lpo_tensor *Mv = lpo_tensor_matmul(Mk, w), *Mv2 = lpo_tensor_matmul(Mk, col);     /* [m] */
  CHECK(Mv && Mv->ndim == 1 && Mv->shape[0] == m && check_matmul(Mk, col, Mv2, 1e-5, LPO_F32) == 0);
  lpo_tensor *vB = lpo_tensor_matmul(v, Bkn);                                        /* [B,n] */
  CHECK(vB && vB->ndim == 2 && vB->shape[0] == B && vB->shape[1] == n);
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t a[1] = { i }, b2[2] = { 0, i };
    bad += ref_get(vK, a) != ref_get(vK2, b2);
  }
  CHECK(bad == 0);
  lpo_tensor *list[] = { dot, dot2, vK, vK2, Mv, Mv2, vB, row, col, v, w, Kn, Mk, Bkn };
  for (size_t i = 0; i < sizeof list / sizeof *list; i++) lpo_tensor_free(list[i]);

  /* bf16 / f16: computed in f32, rounded once to the promoted dtype */
  for (int dt = LPO_BF16; dt <= LPO_F16; dt++) {
    int64_t sa[2] = { 7, 33 }, sb[2] = { 33, 9 };
    lpo_tensor *a = random_tensor_layout(dt, 2, sa, LAYOUT_CONTIG), *b = random_tensor_layout(dt, 2, sb, LAYOUT_TRANSPOSED);
    lpo_tensor *c = lpo_tensor_matmul(a, b);
    CHECK_MSG(check_matmul(a, b, c, dt == LPO_BF16 ? 8e-3 : 1e-3, dt) == 0, "%s matmul", lpo_dtype_name(dt));
    lpo_tensor *af = lpo_tensor_to_dtype(a, LPO_F32), *mixed = lpo_tensor_matmul(af, b);   /* f32 @ bf16 -> f32 */
    CHECK(check_matmul(af, b, mixed, 1e-5, LPO_F32) == 0);
    lpo_tensor_free(a); lpo_tensor_free(b); lpo_tensor_free(c); lpo_tensor_free(af); lpo_tensor_free(mixed);
  }
}

static void test_edges_and_errors(void) {
  int64_t s0[2] = { 0, 4 }, s4[2] = { 4, 3 }, sk0[2] = { 2, 0 }, s0k[2] = { 0, 3 };
  lpo_tensor *e = lpo_tensor_empty(LPO_F32, 2, s0), *b = random_tensor_layout(LPO_F32, 2, s4, LAYOUT_CONTIG);
  lpo_tensor *c = lpo_tensor_matmul(e, b);
  CHECK(c && c->shape[0] == 0 && c->shape[1] == 3);
  lpo_tensor_free(c);
  lpo_tensor *a0 = lpo_tensor_empty(LPO_F32, 2, sk0), *b0 = lpo_tensor_full(LPO_F32, 2, s0k, 5);
  c = lpo_tensor_matmul(a0, b0);   /* k = 0: all zeros */
  int64_t i11[2] = { 1, 2 };
  CHECK(c && c->shape[0] == 2 && c->shape[1] == 3 && lpo_tensor_get(c, i11) == 0);
  lpo_tensor_free(c); lpo_tensor_free(a0); lpo_tensor_free(b0);

  int64_t s23[2] = { 2, 3 }, s45[2] = { 4, 5 }, b1[3] = { 2, 3, 4 }, b2[3] = { 3, 4, 2 };
  lpo_tensor *x = lpo_tensor_empty(LPO_F32, 2, s23), *y = lpo_tensor_empty(LPO_F32, 2, s45);
  CHECK(lpo_tensor_matmul(x, y) == NULL && err_has("matmul: shapes [2,3] and [4,5] are not aligned (inner sizes 3 and 4 differ)"));
  lpo_tensor *p = lpo_tensor_empty(LPO_F32, 3, b1), *q = lpo_tensor_empty(LPO_F32, 3, b2);
  CHECK(lpo_tensor_matmul(p, q) == NULL && err_has("matmul: batch dims of shapes [2,3,4] and [3,4,2] cannot broadcast"));
  lpo_tensor *xi = lpo_tensor_to_dtype(x, LPO_I64), *sc = lpo_tensor_empty(LPO_F32, 0, NULL);
  CHECK(lpo_tensor_matmul(xi, b) == NULL && err_has("matmul: dtypes i64 and f32: integer matmul is not supported"));
  CHECK(lpo_tensor_matmul(sc, x) == NULL && err_has("matmul: shapes [] and [2,3]: both operands need at least 1 dim"));
  int64_t k4 = 4;
  lpo_tensor *v4 = lpo_tensor_empty(LPO_F32, 1, &k4);
  CHECK(lpo_tensor_matmul(x, v4) == NULL && err_has("matmul: shapes [2,3] and [4] are not aligned"));
  lpo_tensor *list[] = { e, b, x, y, p, q, xi, sc, v4 };
  for (size_t i = 0; i < sizeof list / sizeof *list; i++) lpo_tensor_free(list[i]);
}

static void bench(void) {
  int64_t s[2] = { 256, 256 };
  lpo_tensor *a = lpo_tensor_randn(LPO_F32, 2, s, 1), *b = lpo_tensor_randn(LPO_F32, 2, s, 2);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int reps = 20;
  for (int i = 0; i < reps; i++) lpo_tensor_free(lpo_tensor_matmul(a, b));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  printf("matmul 256x256x256 f32: %.2f GFLOP/s (informational)\n", reps * 2.0 * 256 * 256 * 256 / sec / 1e9);
  lpo_tensor_free(a); lpo_tensor_free(b);
}

int main(void) {
  test_seed(3);
  int64_t live0 = lpo_mem_live_bytes(0);
  test_random_2d();
  test_batched();
  test_vectors_and_dtypes();
  test_edges_and_errors();
  printf("worst |C - naive| / sum|a*b| over f32 checks: %.3g (limit 1e-5)\n", worst_ratio);
  bench();
  CHECK_MSG(lpo_mem_live_bytes(0) == live0, "leaked %lld bytes", (long long)(lpo_mem_live_bytes(0) - live0));
  return check_done("test_tensor_matmul");
}
