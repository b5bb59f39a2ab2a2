/* test_tensor_core.c — storage, views, creation, random, conversion, copy and errors.
 * Views are checked element by element against index arithmetic done here; conversions
 * against the documented scalar rules; randn against lpo_philox_normal itself. */
#include "test_tensor_util.h"
#include <stdio.h>

static int err_has(const char *needle) {
  int ok = strstr(lpo_last_error(), needle) != NULL;
  if (!ok) fprintf(stderr, "  error was: %s (wanted: %s)\n", lpo_last_error(), needle);
  return ok;
}

static void test_storage_and_accounting(void) {
  int64_t live0 = lpo_mem_live_bytes(0);
  int64_t shape[2] = { 3, 4 };
  lpo_tensor *a = lpo_tensor_full(LPO_F32, 2, shape, 1.5);
  CHECK(a && a->numel == 12 && a->ndim == 2 && lpo_tensor_is_contiguous(a));
  CHECK(lpo_mem_live_bytes(0) >= live0 + 48);
  lpo_tensor *t = lpo_tensor_transpose(a, 0, 1);
  CHECK(lpo_tensor_storage_refcount(a) == 2 && t->storage == a->storage && !lpo_tensor_is_contiguous(t));
  lpo_tensor_free(a);                       /* the view keeps the storage alive */
  int64_t idx[2] = { 3, 2 };
  CHECK(lpo_tensor_storage_refcount(t) == 1 && ref_get(t, idx) == 1.5);
  lpo_tensor_release(t);                    /* storage gone now, handle still valid */
  CHECK(lpo_tensor_binary(LPO_ADD, t, t) == NULL && err_has("add: tensor was freed"));
  CHECK(lpo_tensor_clone(NULL) == NULL && err_has("clone: tensor is NULL"));
  lpo_tensor_free(t);
  CHECK_MSG(lpo_mem_live_bytes(0) == live0, "live %lld vs %lld", (long long)lpo_mem_live_bytes(0), (long long)live0);
  /* Borrowed memory is not freed by the tensor. */
  float ext[6] = { 1, 2, 3, 4, 5, 6 };
  int64_t s23[2] = { 2, 3 };
  lpo_tensor *w = lpo_tensor_wrap(ext, LPO_F32, 2, s23);
  int64_t i12[2] = { 1, 2 };
  CHECK(w && lpo_tensor_get(w, i12) == 6);
  lpo_tensor_set(w, i12, 9);
  CHECK(ext[5] == 9);
  lpo_tensor_free(w);
  CHECK(lpo_mem_live_bytes(0) == live0);
}

/* Every element of view v equals source element map(idx). */
typedef void (*index_map)(const int64_t *vidx, int64_t *sidx, const int *arg);

static void check_values(const char *what, const lpo_tensor *src, const lpo_tensor *v, index_map map, const int *arg) {
  CHECK_MSG(v != NULL, "%s: %s", what, lpo_last_error());
  if (!v || v->numel == 0) return;
  int64_t idx[LPO_MAX_DIMS] = { 0 }, sidx[LPO_MAX_DIMS];
  int bad = 0;
  do { map(idx, sidx, arg); if (!same_value(ref_get(v, idx), ref_get(src, sidx))) bad++; }
  while (next_index(v->ndim, v->shape, idx));
  CHECK_MSG(bad == 0, "%s: %d elements differ", what, bad);
}

/* The same, and v must share src's storage (a view, not a copy). */
static void check_view(const char *what, const lpo_tensor *src, const lpo_tensor *v, index_map map, const int *arg) {
  CHECK_MSG(v && v->storage == src->storage, "%s: not a view", what);
  check_values(what, src, v, map, arg);
}

/* arg layout per view kind: [0] = ndim, then parameters. */
static void map_transpose(const int64_t *v, int64_t *s, const int *a) {
  for (int i = 0; i < a[0]; i++) s[i] = v[i];
  s[a[1]] = v[a[2]]; s[a[2]] = v[a[1]];
}
static void map_permute(const int64_t *v, int64_t *s, const int *a) { for (int i = 0; i < a[0]; i++) s[a[1 + i]] = v[i]; }
static void map_slice(const int64_t *v, int64_t *s, const int *a) {   /* dim, start, step */
  for (int i = 0; i < a[0]; i++) s[i] = v[i];
  s[a[1]] = a[2] + v[a[1]] * a[3];
}
static void map_select(const int64_t *v, int64_t *s, const int *a) {  /* dim, index */
  for (int i = 0, j = 0; i < a[0]; i++) s[i] = i == a[1] ? a[2] : v[j++];
}
static void map_unsqueeze(const int64_t *v, int64_t *s, const int *a) {  /* dim */
  for (int i = 0, j = 0; i <= a[0]; i++) { if (i != a[1]) s[j++] = v[i]; }
}
static void map_expand(const int64_t *v, int64_t *s, const int *a) {  /* src ndim, lead, src shape.. */
  for (int i = 0; i < a[0]; i++) s[i] = a[2 + i] == 1 ? 0 : v[a[1] + i];
}
static void map_flat(const int64_t *v, int64_t *s, const int *a) {     /* view as [numel] of src shape a[1..] */
  int64_t k = v[0];
  for (int i = a[0] - 1; i >= 0; i--) { s[i] = k % a[1 + i]; k /= a[1 + i]; }
}

static void test_views(void) {
  for (int trial = 0; trial < 60; trial++) {
    int nd = (int)rnd_int(1, 4), layout = (int)rnd_int(0, LAYOUT_COUNT - 1), dt = (int)rnd_int(0, 4);
    int64_t shape[LPO_MAX_DIMS];
    random_shape(nd, shape, 1, 5);
    lpo_tensor *t = random_tensor_layout(dt, nd, shape, layout);
    int d0 = (int)rnd_int(0, nd - 1), d1 = (int)rnd_int(0, nd - 1);
    int arg[12] = { nd, d0, d1 };
    lpo_tensor *v = lpo_tensor_transpose(t, d0, d1 - nd);   /* negative dims count from the end */
    check_view("transpose", t, v, map_transpose, arg);
    lpo_tensor_free(v);

    int perm[LPO_MAX_DIMS];
    for (int i = 0; i < nd; i++) perm[i] = i;
    for (int i = nd - 1; i > 0; i--) { int j = (int)rnd_int(0, i), x = perm[i]; perm[i] = perm[j]; perm[j] = x; }
    arg[0] = nd;
    for (int i = 0; i < nd; i++) arg[1 + i] = perm[i];
    v = lpo_tensor_permute(t, perm);
    check_view("permute", t, v, map_permute, arg);
    lpo_tensor_free(v);

    int64_t size = shape[d0], start = rnd_int(0, size - 1), stop = rnd_int(start, size), step = rnd_int(1, 3);
    int sarg[4] = { nd, d0, (int)start, (int)step };
    v = lpo_tensor_slice(t, d0, start, stop, step);
    CHECK(v && v->shape[d0] == (stop - start + step - 1) / step);
    check_view("slice", t, v, map_slice, sarg);
    lpo_tensor_free(v);
    sarg[3] = 1;
    v = lpo_tensor_narrow(t, d0, start, stop - start);
    CHECK(v && v->shape[d0] == stop - start);
    check_view("narrow", t, v, map_slice, sarg);
    lpo_tensor_free(v);

    int selarg[3] = { nd, d0, (int)start };
    v = lpo_tensor_select(t, d0, start);
    CHECK(v && v->ndim == nd - 1);
    check_view("select", t, v, map_select, selarg);
    lpo_tensor_free(v);

    int uarg[2] = { nd, (int)rnd_int(0, nd) };
    v = lpo_tensor_unsqueeze(t, uarg[1]);
    CHECK(v && v->ndim == nd + 1 && v->shape[uarg[1]] == 1);
    check_view("unsqueeze", t, v, map_unsqueeze, uarg);
    lpo_tensor *sq = v ? lpo_tensor_squeeze(v, uarg[1]) : NULL;
    CHECK(sq && sq->ndim == nd);
    lpo_tensor_free(sq);
    lpo_tensor_free(v);

    /* expand: size-1 dims grow, one leading dim is added */
    int64_t one_shape[LPO_MAX_DIMS], big[LPO_MAX_DIMS];
    for (int i = 0; i < nd; i++) one_shape[i] = rnd_int(0, 1) ? 1 : shape[i];
    lpo_tensor *base = random_tensor_layout(dt, nd, one_shape, layout);
    big[0] = 3;
    for (int i = 0; i < nd; i++) big[1 + i] = one_shape[i] == 1 ? rnd_int(1, 4) : one_shape[i];
    int earg[12] = { nd, 1 };
    for (int i = 0; i < nd; i++) earg[2 + i] = (int)one_shape[i];
    v = lpo_tensor_expand(base, nd + 1, big);
    check_view("expand", base, v, map_expand, earg);
    lpo_tensor_free(v);
    lpo_tensor_free(base);

    /* reshape to 1-D: a view when the layout allows, a copy otherwise; row-major order */
    int farg[LPO_MAX_DIMS + 1] = { nd };
    for (int i = 0; i < nd; i++) farg[1 + i] = (int)shape[i];
    int64_t minus1 = -1;
    v = lpo_tensor_reshape(t, 1, &minus1);
    CHECK(v && v->numel == t->numel && v->ndim == 1);
    if (v && v->storage == t->storage) check_view("reshape (view)", t, v, map_flat, farg);
    else if (v) {
      int64_t idx[LPO_MAX_DIMS] = { 0 }, k = 0;
      int bad = 0;
      do { int64_t vi = k++; if (!same_value(ref_get(v, &vi), ref_get(t, idx))) bad++; } while (next_index(nd, shape, idx));
      CHECK_MSG(bad == 0, "reshape (copy): %d elements differ", bad);
      CHECK(!lpo_tensor_is_contiguous(t) && lpo_tensor_view(t, 1, &minus1) == NULL && err_has("use reshape"));
    }
    lpo_tensor_free(v);

    lpo_tensor *c = lpo_tensor_contiguous(t);
    CHECK(c && lpo_tensor_is_contiguous(c) && (c->storage == t->storage) == lpo_tensor_is_contiguous(t));
    check_values("contiguous", t, c, map_permute, (int[]){ nd, 0, 1, 2, 3, 4, 5, 6, 7 }) ;
    lpo_tensor_free(c);
    lpo_tensor_free(t);
  }
}

static void test_view_rules(void) {
  /* view splits a dim of a transposed tensor without a copy (as torch allows) ... */
  int64_t s[2] = { 4, 6 }, split[3] = { 3, 2, 4 };
  lpo_tensor *a = fill_random(lpo_tensor_empty(LPO_F32, 2, s));
  lpo_tensor *t = lpo_tensor_transpose(a, 0, 1);            /* [6,4], strides [1,6] */
  lpo_tensor *v = lpo_tensor_view(t, 3, split);              /* [3,2,4] */
  CHECK(v && v->storage == a->storage && v->strides[0] == 2 && v->strides[1] == 1 && v->strides[2] == 6);
  lpo_tensor_free(v);
  /* ... but cannot merge dims that are not adjacent in memory */
  int64_t flat = 24;
  CHECK(lpo_tensor_view(t, 1, &flat) == NULL && err_has("view: cannot view a tensor of shape [6,4]"));
  int64_t bad[2] = { 5, 5 };
  CHECK(lpo_tensor_reshape(a, 2, bad) == NULL && err_has("reshape: shape [5,5] is invalid for input of shape [4,6] (24 elements)"));
  int64_t two[2] = { -1, -1 };
  CHECK(lpo_tensor_reshape(a, 2, two) == NULL && err_has("only one size may be -1"));
  CHECK(lpo_tensor_transpose(a, 0, 2) == NULL && err_has("transpose: dim 2 out of range for shape [4,6] (valid: -2..1)"));
  CHECK(lpo_tensor_narrow(a, 1, 5, 2) == NULL && err_has("narrow: dim 1 start 5 length 2 out of range for shape [4,6]"));
  CHECK(lpo_tensor_select(a, 0, 4) == NULL && err_has("select: index 4 out of range for dim 0 of shape [4,6]"));
  CHECK(lpo_tensor_slice(a, 0, 0, 2, 0) == NULL && err_has("step 0 must be positive"));
  int64_t e[2] = { 3, 6 };
  CHECK(lpo_tensor_expand(a, 2, e) == NULL && err_has("expand: shape [4,6] cannot be expanded to [3,6]"));
  int64_t ix[2] = { 1, 6 };
  CHECK(isnan(lpo_tensor_get(a, ix)) && err_has("get: index [1,6] out of range for shape [4,6] (dim 1 has size 6)"));
  CHECK(lpo_tensor_set(a, ix, 1) == -1);
  int perm[2] = { 0, 0 };
  CHECK(lpo_tensor_permute(a, perm) == NULL && err_has("permute: dim 0 appears twice"));
  int64_t neg[2] = { 2, -3 };
  CHECK(lpo_tensor_empty(LPO_F32, 2, neg) == NULL && err_has("empty: negative size in shape [2,-3]"));
  int64_t nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
  CHECK(lpo_tensor_empty(LPO_F32, 9, nine) == NULL && err_has("9 dims (at most 8)"));
  CHECK(lpo_tensor_empty(7, 2, s) == NULL && err_has("unknown dtype 7"));
  lpo_tensor_free(t);
  lpo_tensor_free(a);
}

static void test_conversions(void) {
  static const double specials[] = { 0.0, -0.0, 0.5, -2.7, 1.0 / 3.0, 65504, 70000, -1e10, 1e10, 3e38,
                                     5.96e-8, 1e-40, 2147483647.0, -2147483649.0, 123456789, NAN, INFINITY, -INFINITY };
  int ns = (int)(sizeof specials / sizeof *specials);
  for (int from = 0; from < LPO_NDTYPES; from++) {
    for (int to = 0; to < LPO_NDTYPES; to++) {
      int64_t n = 64 + ns;
      lpo_tensor *src = lpo_tensor_empty(from, 1, &n);
      for (int64_t i = 0; i < n; i++) lpo_tensor_set(src, &i, i < ns ? specials[i] : random_value(from) * 1000.5);
      /* through a strided view too */
      lpo_tensor *view = lpo_tensor_slice(src, 0, 1, n, 3);
      lpo_tensor *outs[2] = { lpo_tensor_to_dtype(src, to), lpo_tensor_to_dtype(view, to) };
      const lpo_tensor *ins[2] = { src, view };
      for (int k = 0; k < 2; k++) {
        CHECK(outs[k] && outs[k]->dtype == to && outs[k]->numel == ins[k]->numel);
        int bad = 0;
        for (int64_t i = 0; i < ins[k]->numel; i++) {
          double v = ref_get(ins[k], &i), want = ref_round(v, to), got = ref_get(outs[k], &i);
          if (!is_float_dtype(from) && to == LPO_I32) want = (double)(int32_t)(uint32_t)ref_get_int(ins[k], &i);  /* ints wrap */
          if (!same_value(got, want)) { if (bad++ < 3) fprintf(stderr, "  %s->%s: %.17g -> %.17g, want %.17g\n",
                                      lpo_dtype_name(from), lpo_dtype_name(to), v, got, want); }
        }
        CHECK_MSG(bad == 0, "%s -> %s: %d values differ", lpo_dtype_name(from), lpo_dtype_name(to), bad);
        lpo_tensor_free(outs[k]);
      }
      lpo_tensor_free(view);
      lpo_tensor_free(src);
    }
  }
  /* i64 -> i32 wraps; to_dtype of the same dtype is a view */
  int64_t two = 2;
  double vals[2] = { 4294967301.0, -1 };
  lpo_tensor *big = lpo_tensor_from_f64(LPO_I64, 1, &two, vals);
  lpo_tensor *w = lpo_tensor_to_dtype(big, LPO_I32), *same = lpo_tensor_to_dtype(big, LPO_I64);
  int64_t i0 = 0, i1 = 1;
  CHECK(lpo_tensor_get(w, &i0) == 5 && lpo_tensor_get(w, &i1) == -1 && same->storage == big->storage);
  lpo_tensor_free(w); lpo_tensor_free(same); lpo_tensor_free(big);
}

static void test_random(void) {
  int64_t shape[2] = { 7, 13 };
  lpo_tensor *a = lpo_tensor_randn(LPO_F32, 2, shape, 1234), *b = lpo_tensor_randn(LPO_F32, 2, shape, 1234);
  lpo_tensor *c = lpo_tensor_randn(LPO_F32, 2, shape, 1235), *h = lpo_tensor_randn(LPO_BF16, 2, shape, 1234);
  CHECK(memcmp(a->data, b->data, 91 * 4) == 0);
  int same = 0;
  for (int i = 0; i < 91; i++) same += ((float *)a->data)[i] == ((float *)c->data)[i];
  CHECK(same == 0);
  lpo_philox rng;
  uint64_t key = lpo_philox_key(1234, 0, 0, 0, 0);
  int bad = 0, badh = 0;
  for (int64_t i = 0; i < 91; i++) {
    lpo_philox_init(&rng, key, 4 * (uint64_t)i);
    float want = (float)lpo_philox_normal(&rng);
    if (((float *)a->data)[i] != want) bad++;
    int64_t ij[2] = { i / 13, i % 13 };
    if (ref_get(h, ij) != ref_round(want, LPO_BF16)) badh++;
  }
  CHECK_MSG(bad == 0 && badh == 0, "randn differs from lpo_philox_normal at counter 4i: %d, bf16 %d", bad, badh);
  /* a pure function of (seed, index): a longer tensor starts with the same values */
  int64_t n = 200;
  lpo_tensor *flat = lpo_tensor_randn(LPO_F32, 1, &n, 1234);
  CHECK(memcmp(flat->data, a->data, 91 * 4) == 0);
  lpo_tensor *u = lpo_tensor_rand(LPO_F32, 1, &n, 5);
  double mean = 0;
  int inrange = 1;
  for (int i = 0; i < 200; i++) { float x = ((float *)u->data)[i]; inrange &= x >= 0 && x < 1; mean += x / 200; }
  CHECK(inrange && fabs(mean - 0.5) < 0.1);
  CHECK(lpo_tensor_randn(LPO_I64, 1, &n, 1) == NULL && err_has("randn: dtype i64 is not a float dtype"));
  lpo_tensor_free(a); lpo_tensor_free(b); lpo_tensor_free(c); lpo_tensor_free(h); lpo_tensor_free(flat); lpo_tensor_free(u);
}

static void test_create_fill_copy(void) {
  lpo_tensor *r = lpo_tensor_arange(2, 5, 0.5, LPO_F32), *ri = lpo_tensor_arange(10, 0, -3, LPO_I64);
  CHECK(r && r->numel == 6 && ri && ri->numel == 4);
  int bad = 0;
  for (int64_t i = 0; i < 6; i++) bad += ref_get(r, &i) != 2 + 0.5 * (double)i;
  for (int64_t i = 0; i < 4; i++) bad += ref_get(ri, &i) != 10 - 3 * (double)i;
  CHECK(bad == 0);
  CHECK(lpo_tensor_arange(0, 1, 0, LPO_F32) == NULL && err_has("step != 0"));
  CHECK(lpo_tensor_arange(0, 5, -1, LPO_F32) == NULL && err_has("goes away from stop"));
  lpo_tensor_free(r); lpo_tensor_free(ri);

  /* from_f64 / to_f64 round trip, and to_f64 of a transposed view is in logical order */
  int64_t s[2] = { 3, 4 };
  double vals[12], back[12];
  for (int i = 0; i < 12; i++) vals[i] = i * 1.25 - 3;
  lpo_tensor *a = lpo_tensor_from_f64(LPO_F32, 2, s, vals);
  CHECK(lpo_tensor_to_f64(a, back) == 0 && memcmp(vals, back, sizeof vals) == 0);
  lpo_tensor *t = lpo_tensor_transpose(a, 0, 1);
  lpo_tensor_to_f64(t, back);
  bad = 0;
  for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) bad += back[i * 3 + j] != vals[j * 4 + i];
  CHECK(bad == 0);

  /* fill_ through a step view touches only the view's elements */
  lpo_tensor *st = lpo_tensor_slice(a, 1, 1, 4, 2);   /* columns 1 and 3 */
  lpo_tensor_fill_(st, 7);
  lpo_tensor_to_f64(a, back);
  bad = 0;
  for (int i = 0; i < 12; i++) bad += back[i] != (i % 4 == 1 || i % 4 == 3 ? 7 : vals[i]);
  CHECK(bad == 0);

  /* copy_: broadcast a row into a transposed destination, with conversion i64 -> f32 */
  int64_t three = 3;
  double rowv[3] = { 10, 20, 30 };
  lpo_tensor *row = lpo_tensor_from_f64(LPO_I64, 1, &three, rowv);
  lpo_tensor *dst = lpo_tensor_transpose(a, 0, 1);   /* [4,3] */
  CHECK(lpo_tensor_copy_(dst, row) == 0);
  lpo_tensor_to_f64(a, back);
  bad = 0;
  for (int i = 0; i < 12; i++) bad += back[i] != rowv[i / 4];
  CHECK(bad == 0);
  /* overlapping copy within one storage reads before it writes */
  int64_t sq[2] = { 3, 3 };
  double m[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
  lpo_tensor *M = lpo_tensor_from_f64(LPO_F32, 2, sq, m), *Mt = lpo_tensor_transpose(M, 0, 1);
  CHECK(lpo_tensor_copy_(M, Mt) == 0);
  lpo_tensor_to_f64(M, back);
  bad = 0;
  for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) bad += back[i * 3 + j] != m[j * 3 + i];
  CHECK(bad == 0);
  int64_t four = 4;
  lpo_tensor *wrong = lpo_tensor_empty(LPO_F32, 1, &four);
  CHECK(lpo_tensor_copy_(M, wrong) == -1 && err_has("copy_: source shape [4] cannot broadcast to destination shape [3,3]"));
  int64_t e33[2] = { 3, 3 };
  lpo_tensor *one = lpo_tensor_empty(LPO_F32, 1, (int64_t[]){ 1 }), *ex = lpo_tensor_expand(one, 2, e33);
  CHECK(lpo_tensor_copy_(ex, M) == -1 && err_has("expanded view"));
  lpo_tensor_free(one); lpo_tensor_free(ex); lpo_tensor_free(wrong);
  lpo_tensor_free(M); lpo_tensor_free(Mt); lpo_tensor_free(row); lpo_tensor_free(dst);
  lpo_tensor_free(st); lpo_tensor_free(t); lpo_tensor_free(a);
}

static void test_device(void) {
  int64_t n = 5;
  lpo_tensor *a = lpo_tensor_arange(0, 5, 1, LPO_F32);
  lpo_tensor *g = lpo_tensor_to_device(a, 1);
  if (lpo_cuda_device_count() == 0) {
    CHECK(g == NULL && err_has("to_device: cannot move a tensor to cuda:0"));
  } else {
    CHECK(g && g->device == 1);
    CHECK(lpo_tensor_unary(LPO_EXP, g) == NULL && err_has("exp: tensor is on cuda:0"));
    lpo_tensor *back = lpo_tensor_to_device(g, 0);
    CHECK(back && memcmp(back->data, a->data, (size_t)n * 4) == 0);
    lpo_tensor_free(back);
  }
  CHECK(lpo_tensor_to_device(a, 3) == NULL && err_has("device 3 is not supported"));
  lpo_tensor_free(g);
  lpo_tensor_free(a);
}

int main(void) {
  test_seed(1);
  int64_t live0 = lpo_mem_live_bytes(0);
  test_storage_and_accounting();
  test_views();
  test_view_rules();
  test_conversions();
  test_random();
  test_create_fill_copy();
  test_device();
  CHECK_MSG(lpo_mem_live_bytes(0) == live0, "leaked %lld bytes", (long long)(lpo_mem_live_bytes(0) - live0));
  return check_done("test_tensor_core");
}
