/* test_tensor_util.h — helpers for the tensor tests: a seeded generator, random shapes,
 * random tensors laid out as contiguous / transposed / step-sliced / narrowed views, and
 * an element reader that decodes raw storage itself (it does not use the library's
 * iterator or row loaders), so reference loops are independent of the code under test. */
#ifndef TEST_TENSOR_UTIL_H
#define TEST_TENSOR_UTIL_H
#include "lpo_tensor.h"
#include "check.h"
#include <math.h>
#include <string.h>

static lpo_philox test_rng;
static inline void test_seed(uint64_t seed) { lpo_philox_init(&test_rng, lpo_philox_key(seed, 99, 0, 0, 0), 0); }
static inline int64_t rnd_int(int64_t lo, int64_t hi) { return lo + (int64_t)(lpo_philox_u32(&test_rng) % (uint32_t)(hi - lo + 1)); }
static inline double rnd_unif(double lo, double hi) { return lo + (hi - lo) * lpo_philox_uniform(&test_rng); }

static inline int64_t numel_of(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

/* Advances a row-major multi-index; returns 0 after the last one. */
static inline int next_index(int ndim, const int64_t *shape, int64_t *idx) {
  for (int d = ndim - 1; d >= 0; d--) {
    if (++idx[d] < shape[d]) return 1;
    idx[d] = 0;
  }
  return 0;
}

/* The stored value at idx, decoded straight from memory. */
static inline double ref_get(const lpo_tensor *t, const int64_t *idx) {
  int64_t off = t->offset;
  for (int i = 0; i < t->ndim; i++) off += idx[i] * t->strides[i];
  const char *p = (const char *)t->data;
  switch (t->dtype) {
  case LPO_F32: return ((const float *)p)[off];
  case LPO_BF16: return lpo_bf16_to_f32(((const uint16_t *)p)[off]);
  case LPO_F16: return lpo_f16_to_f32(((const uint16_t *)p)[off]);
  case LPO_I32: return ((const int32_t *)p)[off];
  case LPO_I64: return (double)((const int64_t *)p)[off];
  }
  return NAN;
}

/* An integer tensor's stored value, exactly. */
static inline int64_t ref_get_int(const lpo_tensor *t, const int64_t *idx) {
  int64_t off = t->offset;
  for (int i = 0; i < t->ndim; i++) off += idx[i] * t->strides[i];
  return t->dtype == LPO_I32 ? ((const int32_t *)t->data)[off] : ((const int64_t *)t->data)[off];
}

/* What storing the double v into dtype yields, decoded back (the documented rules). */
static inline double ref_round(double v, int dtype) {
  switch (dtype) {
  case LPO_F32: return (float)v;
  case LPO_BF16: return lpo_bf16_to_f32(lpo_f32_to_bf16((float)v));
  case LPO_F16: return lpo_f16_to_f32(lpo_f32_to_f16((float)v));
  case LPO_I32: { if (v != v) return 0; double t = trunc(v); return t > 2147483647.0 ? 2147483647.0 : t < -2147483648.0 ? -2147483648.0 : t; }
  case LPO_I64: { if (v != v) return 0; double t = trunc(v); return t >= 9223372036854775807.0 ? 9223372036854775807.0 : t <= -9223372036854775808.0 ? -9223372036854775808.0 : t; }
  }
  return NAN;
}

static inline int same_value(double a, double b) { return (a != a && b != b) || a == b; }

static inline void random_shape(int ndim, int64_t *shape, int64_t lo, int64_t hi) {
  for (int i = 0; i < ndim; i++) shape[i] = rnd_int(lo, hi);
}

/* Random values: floats in [-3, 3], integers in [-6, 6]. */
static inline double random_value(int dtype) {
  return dtype == LPO_I32 || dtype == LPO_I64 ? (double)rnd_int(-6, 6) : rnd_unif(-3, 3);
}

static inline lpo_tensor *fill_random(lpo_tensor *t) {
  int64_t idx[LPO_MAX_DIMS] = { 0 };
  if (t->numel == 0) return t;
  do lpo_tensor_set(t, idx, random_value(t->dtype)); while (next_index(t->ndim, t->shape, idx));
  return t;
}

enum { LAYOUT_CONTIG, LAYOUT_TRANSPOSED, LAYOUT_STEP, LAYOUT_NARROW, LAYOUT_COUNT };

/* A random tensor of the given shape whose memory layout is `layout`. */
static inline lpo_tensor *random_tensor_layout(int dtype, int ndim, const int64_t *shape, int layout) {
  int64_t base[LPO_MAX_DIMS];
  memcpy(base, shape, (size_t)ndim * sizeof *base);
  lpo_tensor *b = NULL, *v = NULL;
  if (layout == LAYOUT_TRANSPOSED && ndim >= 2) {
    base[0] = shape[ndim - 1]; base[ndim - 1] = shape[0];
    b = lpo_tensor_empty(dtype, ndim, base);
    v = lpo_tensor_transpose(b, 0, ndim - 1);
  } else if (layout == LAYOUT_STEP && ndim >= 1) {
    for (int i = 0; i < ndim; i++) base[i] = shape[i] * 2 + 1;
    b = lpo_tensor_empty(dtype, ndim, base);
    v = lpo_tensor_alias(b);
    for (int i = 0; i < ndim; i++) {
      lpo_tensor *s = lpo_tensor_slice(v, i, 1, 1 + 2 * shape[i], 2);
      lpo_tensor_free(v);
      v = s;
    }
  } else if (layout == LAYOUT_NARROW && ndim >= 1) {
    base[ndim - 1] = shape[ndim - 1] + 3;
    b = lpo_tensor_empty(dtype, ndim, base);
    v = lpo_tensor_narrow(b, ndim - 1, 2, shape[ndim - 1]);
  } else {
    b = lpo_tensor_empty(dtype, ndim, shape);
    v = lpo_tensor_alias(b);
  }
  LPO_ASSERT(b && v);
  fill_random(b);   /* also fills the gaps around the view with junk */
  lpo_tensor_free(b);
  for (int i = 0; i < ndim; i++) LPO_ASSERT(v->shape[i] == shape[i]);
  return v;
}

static inline int is_float_dtype(int dt) { return dt == LPO_F32 || dt == LPO_BF16 || dt == LPO_F16; }
#endif
