/* test_tensor_ops.c — elementwise (binary with broadcasting, scalar, unary), reductions
 * and softmax against straightforward reference loops, on random shapes, every dtype,
 * and operands laid out as contiguous, transposed, step-sliced and narrowed views.
 * The references read raw memory (ref_get) and use their own promotion table. */
#include "test_tensor_util.h"
#include <stdio.h>

static int err_has(const char *needle) {
  int ok = strstr(lpo_last_error(), needle) != NULL;
  if (!ok) fprintf(stderr, "  error was: %s (wanted: %s)\n", lpo_last_error(), needle);
  return ok;
}

/* torch's promotion, written out as a table: rows/cols f32 bf16 f16 i32 i64 */
static const int promote[5][5] = {
  { LPO_F32, LPO_F32, LPO_F32, LPO_F32, LPO_F32 },
  { LPO_F32, LPO_BF16, LPO_F32, LPO_BF16, LPO_BF16 },
  { LPO_F32, LPO_F32, LPO_F16, LPO_F16, LPO_F16 },
  { LPO_F32, LPO_BF16, LPO_F16, LPO_I32, LPO_I64 },
  { LPO_F32, LPO_BF16, LPO_F16, LPO_I64, LPO_I64 },
};

static int is_cmp(int op) { return op >= LPO_EQ; }

static double ref_binop(int op, double x, double y, int as_float) {
  if (as_float) {
    float a = (float)x, b = (float)y;
    switch (op) {
    case LPO_ADD: return a + b;
    case LPO_SUB: return a - b;
    case LPO_MUL: return a * b;
    case LPO_DIV: return a / b;
    case LPO_POW: return powf(a, b);
    case LPO_MAXIMUM: return isnan(a) || isnan(b) ? NAN : (a >= b ? a : b);
    case LPO_MINIMUM: return isnan(a) || isnan(b) ? NAN : (a <= b ? a : b);
    case LPO_EQ: return a == b;
    case LPO_NE: return a != b;
    case LPO_LT: return a < b;
    case LPO_LE: return a <= b;
    case LPO_GT: return a > b;
    case LPO_GE: return a >= b;
    }
  }
  int64_t a = (int64_t)x, b = (int64_t)y;
  switch (op) {
  case LPO_ADD: return (double)(a + b);
  case LPO_SUB: return (double)(a - b);
  case LPO_MUL: return (double)(a * b);
  case LPO_POW: {
    if (b < 0) return a == 1 ? 1 : a == -1 ? (b % 2 ? -1 : 1) : 0;
    int64_t r = 1;
    for (int64_t i = 0; i < b; i++) r *= a;
    return (double)r;
  }
  case LPO_MAXIMUM: return (double)(a > b ? a : b);
  case LPO_MINIMUM: return (double)(a < b ? a : b);
  case LPO_EQ: return a == b;
  case LPO_NE: return a != b;
  case LPO_LT: return a < b;
  case LPO_LE: return a <= b;
  case LPO_GT: return a > b;
  case LPO_GE: return a >= b;
  }
  return NAN;
}

/* Checks out == ref(a, b) elementwise with broadcasting; b may be NULL for a scalar. */
static int check_binary(int op, const lpo_tensor *out, const lpo_tensor *a, const lpo_tensor *b,
                        double scalar, int scalar_first, int as_float) {
  int64_t idx[LPO_MAX_DIMS] = { 0 }, ia[LPO_MAX_DIMS], ib[LPO_MAX_DIMS];
  int bad = 0;
  if (out->numel == 0) return 0;
  do {
    for (int i = 0; i < a->ndim; i++) { int o = out->ndim - a->ndim + i; ia[i] = a->shape[i] == 1 ? 0 : idx[o]; }
    double x = ref_get(a, ia), y = scalar;
    if (b) {
      for (int i = 0; i < b->ndim; i++) { int o = out->ndim - b->ndim + i; ib[i] = b->shape[i] == 1 ? 0 : idx[o]; }
      y = ref_get(b, ib);
    }
    double want = ref_round(scalar_first ? ref_binop(op, y, x, as_float) : ref_binop(op, x, y, as_float), out->dtype);
    double got = ref_get(out, idx);
    if (!same_value(got, want) && bad++ < 3)
      fprintf(stderr, "  %s %s,%s: %g %g -> %.9g, want %.9g\n", lpo_binop_name(op), lpo_dtype_name(a->dtype),
              b ? lpo_dtype_name(b->dtype) : "scalar", x, y, got, want);
  } while (next_index(out->ndim, out->shape, idx));
  return bad;
}

static void test_binary(void) {
  int failures = 0, runs = 0;
  for (int trial = 0; trial < 400; trial++) {
    int op = (int)rnd_int(0, LPO_NBINOPS - 1), da = (int)rnd_int(0, 4), db = (int)rnd_int(0, 4);
    int nd = (int)rnd_int(0, 4);
    int64_t shape[LPO_MAX_DIMS], sa[LPO_MAX_DIMS], sb[LPO_MAX_DIMS];
    random_shape(nd, shape, 1, 5);
    if (trial % 50 == 7 && nd > 0) shape[0] = 0;             /* empty tensors too */
    /* each operand drops some leading dims and has some dims set to 1 */
    int na = nd - (int)rnd_int(0, nd), nb = nd - (int)rnd_int(0, nd);
    if (rnd_int(0, 1)) na = nd; else nb = nd;
    for (int i = 0; i < na; i++) sa[i] = rnd_int(0, 3) == 0 ? 1 : shape[nd - na + i];
    for (int i = 0; i < nb; i++) sb[i] = rnd_int(0, 3) == 0 ? 1 : shape[nd - nb + i];
    lpo_tensor *a = random_tensor_layout(da, na, sa, (int)rnd_int(0, LAYOUT_COUNT - 1));
    lpo_tensor *b = random_tensor_layout(db, nb, sb, (int)rnd_int(0, LAYOUT_COUNT - 1));
    lpo_tensor *out = lpo_tensor_binary(op, a, b);
    int dt = promote[da][db];
    int as_float = is_float_dtype(dt) || op == LPO_DIV;
    int want_dtype = is_cmp(op) ? LPO_I32 : (as_float && !is_float_dtype(dt) ? LPO_F32 : dt);
    int64_t bshape[LPO_MAX_DIMS];
    int bn = lpo_broadcast_shapes(na, sa, nb, sb, bshape);
    CHECK_MSG(out && out->dtype == want_dtype && out->ndim == bn, "%s: %s", lpo_binop_name(op), out ? "wrong dtype/ndim" : lpo_last_error());
    if (out) {
      for (int i = 0; i < bn; i++) CHECK(out->shape[i] == bshape[i]);
      failures += check_binary(op, out, a, b, 0, 0, as_float) != 0;
      runs++;
    }
    lpo_tensor_free(out);

    /* scalar forms, both orders */
    static const double scalars[] = { 2, -3, 0.5, 2.5, -1.25, 0 };
    double s = scalars[rnd_int(0, 5)];
    int first = (int)rnd_int(0, 1);
    out = lpo_tensor_binary_scalar(op, a, s, first);
    int integral = s == floor(s);
    int sf = is_float_dtype(da) || !integral || op == LPO_DIV;
    int sdt = is_cmp(op) ? LPO_I32 : (sf && !is_float_dtype(da) ? LPO_F32 : da);
    CHECK_MSG(out && out->dtype == sdt, "%s scalar: dtype %s want %s", lpo_binop_name(op),
              out ? lpo_dtype_name(out->dtype) : lpo_last_error(), lpo_dtype_name(sdt));
    if (out) failures += check_binary(op, out, a, NULL, s, first, sf) != 0;
    lpo_tensor_free(out);
    lpo_tensor_free(a);
    lpo_tensor_free(b);
  }
  CHECK_MSG(failures == 0, "%d of %d binary trials disagree with the reference", failures, runs);

  int64_t s23[2] = { 2, 3 }, s4 = 4;
  lpo_tensor *x = lpo_tensor_empty(LPO_F32, 2, s23), *y = lpo_tensor_empty(LPO_F32, 1, &s4);
  CHECK(lpo_tensor_binary(LPO_ADD, x, y) == NULL && err_has("add: shapes [2,3] and [4] cannot broadcast"));
  CHECK(lpo_tensor_binary(LPO_GE, y, x) == NULL && err_has("ge: shapes [4] and [2,3] cannot broadcast"));
  CHECK(lpo_tensor_binary(99, x, y) == NULL && err_has("unknown op 99"));
  lpo_tensor_free(x);
  lpo_tensor_free(y);
}

static double ref_unop(int op, double v, int as_float) {
  if (!as_float) {
    int64_t x = (int64_t)v;
    return op == LPO_NEG ? (double)-x : op == LPO_ABS ? (double)(x < 0 ? -x : x) : (double)(x > 0 ? x : 0);
  }
  float x = (float)v;
  switch (op) {
  case LPO_NEG: return -x;
  case LPO_ABS: return fabsf(x);
  case LPO_EXP: return expf(x);
  case LPO_LOG: return logf(x);
  case LPO_SQRT: return sqrtf(x);
  case LPO_TANH: return tanhf(x);
  case LPO_SIGMOID: return (float)(1.0 / (1.0 + exp(-(double)x)));
  case LPO_RELU: return x > 0 ? x : 0;
  }
  return NAN;
}

static void test_unary(void) {
  int failures = 0;
  for (int trial = 0; trial < 200; trial++) {
    int op = (int)rnd_int(0, LPO_NUNOPS - 1), dt = (int)rnd_int(0, 4), nd = (int)rnd_int(0, 4);
    int64_t shape[LPO_MAX_DIMS];
    random_shape(nd, shape, 1, 6);
    lpo_tensor *a = random_tensor_layout(dt, nd, shape, (int)rnd_int(0, LAYOUT_COUNT - 1));
    lpo_tensor *out = lpo_tensor_unary(op, a);
    int keeps = op == LPO_NEG || op == LPO_ABS || op == LPO_RELU;
    int as_float = is_float_dtype(dt) || !keeps;
    int want_dt = as_float && !is_float_dtype(dt) ? LPO_F32 : dt;
    CHECK_MSG(out && out->dtype == want_dt, "%s %s", lpo_unop_name(op), lpo_dtype_name(dt));
    if (!out) { lpo_tensor_free(a); continue; }
    int64_t idx[LPO_MAX_DIMS] = { 0 };
    int bad = 0;
    do {
      double want = ref_round(ref_unop(op, ref_get(a, idx), as_float), want_dt), got = ref_get(out, idx);
      /* sigmoid: the reference is the double formula; allow one f32 rounding step */
      int ok = op == LPO_SIGMOID ? fabs(got - want) <= 1e-6 + (want_dt == LPO_F32 ? 0 : 1e-2) : same_value(got, want);
      if (!ok && bad++ < 3) fprintf(stderr, "  %s(%g) = %.9g, want %.9g\n", lpo_unop_name(op), ref_get(a, idx), got, want);
    } while (next_index(nd, shape, idx));
    failures += bad != 0;
    lpo_tensor_free(out);
    lpo_tensor_free(a);
  }
  CHECK_MSG(failures == 0, "%d unary trials disagree with the reference", failures);
}

/* Reference reduction of t along dim d at output index oidx (dim d ignored). */
static double ref_reduce(int op, const lpo_tensor *t, int d, const int64_t *oidx) {
  int64_t idx[LPO_MAX_DIMS];
  memcpy(idx, oidx, (size_t)t->ndim * sizeof *idx);
  int64_t n = t->shape[d], best_i = 0;
  double sum = 0, best = 0;
  for (int64_t k = 0; k < n; k++) {
    idx[d] = k;
    double v = ref_get(t, idx);
    sum += v;
    if (k == 0 || (op == LPO_MAX || op == LPO_ARGMAX ? v > best : v < best)) { best = v; best_i = k; }
  }
  switch (op) {
  case LPO_SUM: return sum;
  case LPO_MEAN: return sum / (double)n;
  case LPO_MAX: case LPO_MIN: return best;
  default: return (double)best_i;
  }
}

static int check_reduce(int op, const lpo_tensor *t, int d, int keepdim) {
  lpo_tensor *r = lpo_tensor_reduce(op, t, d - (rnd_int(0, 1) ? t->ndim : 0), keepdim);  /* negative dims too */
  int dt = t->dtype, isf = is_float_dtype(dt);
  int want_dt = op == LPO_SUM ? (isf ? dt : LPO_I64) : op == LPO_MEAN ? (isf ? dt : LPO_F32)
              : op == LPO_MAX || op == LPO_MIN ? dt : LPO_I64;
  if (!r) { fprintf(stderr, "  %s: %s\n", lpo_reduce_name(op), lpo_last_error()); return 1; }
  int bad = r->dtype != want_dt || r->ndim != t->ndim - (keepdim ? 0 : 1);
  int64_t oidx[LPO_MAX_DIMS] = { 0 }, ridx[LPO_MAX_DIMS], shape[LPO_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[d] = 1;
  do {
    for (int i = 0, j = 0; i < t->ndim; i++) if (keepdim || i != d) ridx[j++] = oidx[i];
    double ref = ref_reduce(op, t, d, oidx);
    /* sums of floats fold in double in index order: the f32 result is that sum, rounded */
    double want = op == LPO_MEAN && !isf ? (float)ref : ref_round(ref, want_dt), got = ref_get(r, ridx);
    if (!same_value(got, want) && bad++ < 3)
      fprintf(stderr, "  %s %s dim %d: %.9g want %.9g\n", lpo_reduce_name(op), lpo_dtype_name(dt), d, got, want);
  } while (next_index(t->ndim, shape, oidx));
  lpo_tensor_free(r);
  return bad;
}

static void test_reduce(void) {
  int failures = 0;
  for (int trial = 0; trial < 300; trial++) {
    int op = (int)rnd_int(0, LPO_NREDUCE - 1), dt = (int)rnd_int(0, 4), nd = (int)rnd_int(1, 4);
    int64_t shape[LPO_MAX_DIMS];
    random_shape(nd, shape, 1, 6);
    lpo_tensor *t = random_tensor_layout(dt, nd, shape, (int)rnd_int(0, LAYOUT_COUNT - 1));
    failures += check_reduce(op, t, (int)rnd_int(0, nd - 1), (int)rnd_int(0, 1)) != 0;
    /* reduce over everything = reduce the flattened tensor along its only dim */
    lpo_tensor *all = lpo_tensor_reduce_all(op, t), *flat = lpo_tensor_reshape(t, 1, (int64_t[]){ -1 });
    int64_t zero[1] = { 0 };
    double want = ref_reduce(op, flat, 0, zero);
    int wdt = all ? all->dtype : 0;
    want = op == LPO_MEAN && !is_float_dtype(dt) ? (float)want : ref_round(want, wdt);
    CHECK_MSG(all && all->ndim == 0 && same_value(ref_get(all, zero), want), "%s all: %s", lpo_reduce_name(op),
              all ? "wrong value" : lpo_last_error());
    lpo_tensor_free(all);
    lpo_tensor_free(flat);
    lpo_tensor_free(t);
  }
  CHECK_MSG(failures == 0, "%d reduce trials disagree with the reference", failures);
  /* large dims: chunked traversal along both dims, ties in integer argmax */
  int64_t big[2] = { 37, 1200 };
  for (int dt = 0; dt < LPO_NDTYPES; dt++) {
    lpo_tensor *t = random_tensor_layout(dt, 2, big, dt % 2 ? LAYOUT_TRANSPOSED : LAYOUT_CONTIG);
    for (int op = 0; op < LPO_NREDUCE; op++)
      for (int d = 0; d < 2; d++) CHECK_MSG(check_reduce(op, t, d, 0) == 0, "%s %s big dim %d", lpo_reduce_name(op), lpo_dtype_name(dt), d);
    lpo_tensor_free(t);
  }
  /* NaN propagates through max/min and argmax points at it */
  int64_t n5 = 5;
  double v[5] = { 1, 7, NAN, 9, 2 };
  lpo_tensor *x = lpo_tensor_from_f64(LPO_F32, 1, &n5, v);
  lpo_tensor *mx = lpo_tensor_reduce_all(LPO_MAX, x), *am = lpo_tensor_reduce_all(LPO_ARGMAX, x), *mn = lpo_tensor_reduce(LPO_MIN, x, 0, 1);
  int64_t z = 0;
  CHECK(isnan(ref_get(mx, &z)) && ref_get(am, &z) == 2 && isnan(ref_get(mn, &z)) && mn->ndim == 1);
  lpo_tensor_free(mx); lpo_tensor_free(am); lpo_tensor_free(mn);
  CHECK(lpo_tensor_reduce(LPO_SUM, x, 1, 0) == NULL && err_has("sum: dim 1 out of range for shape [5] (valid: -1..0)"));
  int64_t e[2] = { 3, 0 };
  lpo_tensor *empty = lpo_tensor_empty(LPO_F32, 2, e), *s = lpo_tensor_reduce(LPO_SUM, empty, 1, 0);
  int64_t i0 = 0;
  CHECK(s && s->numel == 3 && ref_get(s, &i0) == 0);
  CHECK(lpo_tensor_reduce(LPO_ARGMAX, empty, 1, 0) == NULL && err_has("argmax: cannot reduce dim 1 of size 0 (shape [3,0])"));
  lpo_tensor_free(s); lpo_tensor_free(empty); lpo_tensor_free(x);
  /* a 0-d tensor reduces over dim 0 / -1 only */
  lpo_tensor *sc = lpo_tensor_full(LPO_F32, 0, NULL, 2.5), *r0 = lpo_tensor_reduce(LPO_SUM, sc, -1, 0);
  CHECK(r0 && r0->ndim == 0 && ref_get(r0, &i0) == 2.5);
  CHECK(lpo_tensor_reduce(LPO_MAX, sc, 1, 0) == NULL && err_has("max: dim 1 out of range for shape []"));
  lpo_tensor_free(r0); lpo_tensor_free(sc);
}

static void test_softmax(void) {
  int failures = 0;
  for (int trial = 0; trial < 120; trial++) {
    int dt = (int)rnd_int(0, 4), nd = (int)rnd_int(1, 4), logs = (int)rnd_int(0, 1);
    int64_t shape[LPO_MAX_DIMS];
    random_shape(nd, shape, 1, 7);
    lpo_tensor *t = random_tensor_layout(dt, nd, shape, (int)rnd_int(0, LAYOUT_COUNT - 1));
    int d = (int)rnd_int(0, nd - 1);
    lpo_tensor *r = logs ? lpo_tensor_log_softmax(t, d) : lpo_tensor_softmax(t, d);
    int odt = is_float_dtype(dt) ? dt : LPO_F32;
    double tol = odt == LPO_F32 ? 1e-6 : odt == LPO_F16 ? 2e-3 : 1.6e-2;
    CHECK_MSG(r && r->dtype == odt, "softmax dtype");
    if (!r) { lpo_tensor_free(t); continue; }
    int64_t oidx[LPO_MAX_DIMS] = { 0 }, idx[LPO_MAX_DIMS], rs[LPO_MAX_DIMS];
    memcpy(rs, shape, sizeof rs);
    rs[d] = 1;
    int bad = 0;
    do {
      memcpy(idx, oidx, sizeof idx);
      double mx = -INFINITY, sum = 0;
      for (idx[d] = 0; idx[d] < shape[d]; idx[d]++) mx = fmax(mx, ref_get(t, idx));
      for (idx[d] = 0; idx[d] < shape[d]; idx[d]++) sum += exp(ref_get(t, idx) - mx);
      for (idx[d] = 0; idx[d] < shape[d]; idx[d]++) {
        double x = ref_get(t, idx), want = logs ? x - mx - log(sum) : exp(x - mx) / sum, got = ref_get(r, idx);
        if (!(fabs(got - want) <= tol + tol * fabs(want)) && bad++ < 3)
          fprintf(stderr, "  %s %s: %.9g want %.9g\n", logs ? "log_softmax" : "softmax", lpo_dtype_name(dt), got, want);
      }
    } while (next_index(nd, rs, oidx));
    failures += bad != 0;
    lpo_tensor_free(r);
    lpo_tensor_free(t);
  }
  CHECK_MSG(failures == 0, "%d softmax trials disagree with the reference", failures);
  /* huge logits do not overflow */
  int64_t n3 = 3;
  double v[3] = { 1000, 1001, 1002 };
  lpo_tensor *x = lpo_tensor_from_f64(LPO_F32, 1, &n3, v), *p = lpo_tensor_softmax(x, -1), *lp = lpo_tensor_log_softmax(x, 0);
  int64_t i2 = 2;
  double z = exp(0) + exp(-1) + exp(-2);
  CHECK_CLOSE(ref_get(p, &i2), 1 / z, 1e-6, 1e-7);
  CHECK_CLOSE(ref_get(lp, &i2), -log(z), 1e-6, 1e-7);
  CHECK(lpo_tensor_softmax(x, 1) == NULL && err_has("softmax: dim 1 out of range for shape [3]"));
  lpo_tensor_free(x); lpo_tensor_free(p); lpo_tensor_free(lp);
}

int main(void) {
  test_seed(2);
  int64_t live0 = lpo_mem_live_bytes(0);
  test_binary();
  test_unary();
  test_reduce();
  test_softmax();
  CHECK_MSG(lpo_mem_live_bytes(0) == live0, "leaked %lld bytes", (long long)(lpo_mem_live_bytes(0) - live0));
  return check_done("test_tensor_ops");
}
