/* tensor_create.c — creation (full, arange, randn, rand, from doubles), fill_ and the
 * copy out to doubles that the Lua binding uses for totable.
 *
 * Random tensors are a pure function of (seed, shape): element i (row-major) of randn
 * takes Philox block i of the stream keyed by lpo_philox_key(seed, 0, 0, 0, 0) and turns
 * its four words into one normal value exactly as lpo_philox_normal does from counter 4i;
 * rand uses the stream lpo_philox_key(seed, 1, 0, 0, 0), word i (24 bits -> [0, 1)).
 * So the first k values never depend on how many follow, nor on threads. */
#include "tensor_impl.h"
#include <math.h>

lpo_tensor *lpo_tensor_full(int dtype, int ndim, const int64_t *shape, double value) {
  if (!shape && ndim > 0) { lpo_set_error("full: shape is NULL"); return NULL; }
  lpo_tensor *t = tensor_new(dtype, ndim, shape, "full");
  if (t && value != 0.0) lpo_tensor_fill_(t, value);
  return t;
}

lpo_tensor *lpo_tensor_arange(double start, double stop, double step, int dtype) {
  if (!dtype_valid(dtype)) { lpo_set_error("arange: unknown dtype %d", dtype); return NULL; }
  if (!(step != 0) || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
    lpo_set_error("arange: start %g, stop %g, step %g must be finite with step != 0", start, stop, step);
    return NULL;
  }
  double count = ceil((stop - start) / step);
  if (count < 0) {
    lpo_set_error("arange: step %g goes away from stop (start %g, stop %g)", step, start, stop);
    return NULL;
  }
  if (count > 1e12) { lpo_set_error("arange: %g elements is too many", count); return NULL; }
  int64_t n = (int64_t)count;
  lpo_tensor *t = tensor_new(dtype, 1, &n, "arange");
  if (!t) return NULL;
  for (int64_t i = 0; i < n; i++) {
    tensor_store_f64(t->data, dtype, i, start + (double)i * step);
  }
  return t;
}

static lpo_tensor *random_tensor(int dtype, int ndim, const int64_t *shape, uint64_t seed, int normal) {
  const char *op = normal ? "randn" : "rand";
  if (!shape && ndim > 0) { lpo_set_error("%s: shape is NULL", op); return NULL; }
  if (dtype_valid(dtype) && !dtype_is_float(dtype)) {
    lpo_set_error("%s: dtype %s is not a float dtype (use f32, bf16 or f16)", op, lpo_dtype_name(dtype));
    return NULL;
  }
  lpo_tensor *t = tensor_new(dtype, ndim, shape, op);
  if (!t) return NULL;
  uint64_t key = lpo_philox_key(seed, normal ? 0 : 1, 0, 0, 0);
  float buf[TENSOR_CHUNK];
  for (int64_t i0 = 0; i0 < t->numel; i0 += TENSOR_CHUNK) {
    int64_t n = t->numel - i0 < TENSOR_CHUNK ? t->numel - i0 : TENSOR_CHUNK;
    for (int64_t j = 0; j < n; j++) {
      int64_t i = i0 + j;
      if (normal) {
        /* One block = four words = what lpo_philox_normal consumes from counter 4i. */
        uint32_t w[4];
        lpo_philox_block(w, key, (uint64_t)i);
        double u1 = ((double)(w[0] >> 5) * 67108864.0 + (double)(w[1] >> 6)) / 9007199254740992.0;
        double u2 = ((double)(w[2] >> 5) * 67108864.0 + (double)(w[3] >> 6)) / 9007199254740992.0;
        buf[j] = (float)(sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
      } else {
        uint32_t w[4];
        lpo_philox_block(w, key, (uint64_t)i >> 2);
        buf[j] = (float)(w[i & 3] >> 8) * (1.0f / 16777216.0f);
      }
    }
    tensor_store_f32(t->data, dtype, i0, 1, buf, n);
  }
  return t;
}

lpo_tensor *lpo_tensor_randn(int dtype, int ndim, const int64_t *shape, uint64_t seed) {
  return random_tensor(dtype, ndim, shape, seed, 1);
}

lpo_tensor *lpo_tensor_rand(int dtype, int ndim, const int64_t *shape, uint64_t seed) {
  return random_tensor(dtype, ndim, shape, seed, 0);
}

lpo_tensor *lpo_tensor_from_f64(int dtype, int ndim, const int64_t *shape, const double *values) {
  if (!values) { lpo_set_error("from_f64: values is NULL"); return NULL; }
  if (!shape && ndim > 0) { lpo_set_error("from_f64: shape is NULL"); return NULL; }
  lpo_tensor *t = tensor_new(dtype, ndim, shape, "from_f64");
  if (!t) return NULL;
  for (int64_t i = 0; i < t->numel; i++) tensor_store_f64(t->data, dtype, i, values[i]);
  return t;
}

int lpo_tensor_to_f64(const lpo_tensor *t, double *out) {
  if (tensor_check_cpu(t, "to_f64")) return -1;
  if (!out) return lpo_set_error("to_f64: out is NULL");
  const int64_t *strides[1] = { t->strides };
  tensor_iter it;
  tensor_iter_init(&it, t->ndim, t->shape, 1, strides, &t->offset);
  float fbuf[TENSOR_CHUNK];
  int64_t ibuf[TENSOR_CHUNK], k = 0;
  while (tensor_iter_next(&it)) {
    for (int64_t i = 0; i < it.inner; i += TENSOR_CHUNK) {
      int64_t n = it.inner - i < TENSOR_CHUNK ? it.inner - i : TENSOR_CHUNK;
      int64_t off = it.offs[0] + i * it.inner_stride[0];
      if (dtype_is_float(t->dtype)) {
        tensor_load_f32(fbuf, t->data, t->dtype, off, it.inner_stride[0], n);
        for (int64_t j = 0; j < n; j++) out[k++] = fbuf[j];
      } else {
        tensor_load_i64(ibuf, t->data, t->dtype, off, it.inner_stride[0], n);
        for (int64_t j = 0; j < n; j++) out[k++] = (double)ibuf[j];
      }
    }
  }
  return 0;
}

int lpo_tensor_fill_(lpo_tensor *t, double value) {
  if (tensor_check_cpu(t, "fill_")) return -1;
  const int64_t *strides[1] = { t->strides };
  tensor_iter it;
  tensor_iter_init(&it, t->ndim, t->shape, 1, strides, &t->offset);
  float fbuf[TENSOR_CHUNK];
  int64_t ibuf[TENSOR_CHUNK];
  /* Convert once (saturating for integers), then replicate the stored bits. */
  int64_t cell = 0;   /* 8 bytes, aligned for any dtype */
  tensor_store_f64(&cell, t->dtype, 0, value);
  tensor_load_f32(fbuf, &cell, t->dtype, 0, 0, TENSOR_CHUNK);
  tensor_load_i64(ibuf, &cell, t->dtype, 0, 0, TENSOR_CHUNK);
  while (tensor_iter_next(&it)) {
    for (int64_t i = 0; i < it.inner; i += TENSOR_CHUNK) {
      int64_t n = it.inner - i < TENSOR_CHUNK ? it.inner - i : TENSOR_CHUNK;
      int64_t off = it.offs[0] + i * it.inner_stride[0];
      if (dtype_is_float(t->dtype)) tensor_store_f32(t->data, t->dtype, off, it.inner_stride[0], fbuf, n);
      else tensor_store_i64(t->data, t->dtype, off, it.inner_stride[0], ibuf, n);
    }
  }
  return 0;
}
