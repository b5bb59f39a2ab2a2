/* tensor_convert.c — dtype conversion: row load/store between storage dtypes and the two
 * compute types (f32, i64), strided copy with broadcasting, to_dtype, to_device, and the
 * type promotion table.
 *
 * Float -> integer: truncate toward zero and saturate at the integer range; NaN gives 0.
 * (C leaves out-of-range float->int casts undefined; torch's result there is whatever the
 * CPU does, so we pick the defined, documented answer.) Integer -> narrower integer wraps
 * (two's complement), as torch does. */
#include "tensor_impl.h"
#include "lpo_cuda.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* lpo_bf16_to_f32 / lpo_f32_to_bf16 (dtype.c) inlined: row conversion is the hot loop of
 * every bf16 op. Same bits (test_tensor_core compares every conversion with dtype.c). */
static inline float bf16_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
static inline uint16_t f32_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

int64_t tensor_f64_to_i64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;   /* 2^63 rounds to this double */
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

void tensor_store_f64(void *base, int dtype, int64_t off, double v) {
  if (dtype_is_float(dtype)) { float f = (float)v; tensor_store_f32(base, dtype, off, 1, &f, 1); return; }
  int64_t k = tensor_f64_to_i64(v);
  if (dtype == LPO_I32) k = k > INT32_MAX ? INT32_MAX : k < INT32_MIN ? INT32_MIN : k;
  tensor_store_i64(base, dtype, off, 1, &k, 1);
}

static int32_t f32_to_i32(float v) {
  if (v != v) return 0;
  if (v >= 2147483648.0f) return INT32_MAX;
  if (v <= -2147483648.0f) return INT32_MIN;
  return (int32_t)v;
}

void tensor_load_f32(float *dst, const void *base, int dtype, int64_t off, int64_t stride, int64_t n) {
  switch (dtype) {
  case LPO_F32: {
    const float *p = (const float *)base + off;
    if (stride == 1) memcpy(dst, p, (size_t)n * sizeof *dst);
    else for (int64_t i = 0; i < n; i++) dst[i] = p[i * stride];
    break;
  }
  case LPO_BF16: { const uint16_t *p = (const uint16_t *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = bf16_f32(p[i * stride]); break; }
  case LPO_F16: { const uint16_t *p = (const uint16_t *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = lpo_f16_to_f32(p[i * stride]); break; }
  case LPO_I32: { const int32_t *p = (const int32_t *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i * stride]; break; }
  case LPO_I64: { const int64_t *p = (const int64_t *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i * stride]; break; }
  default: LPO_ASSERT(!"bad dtype");
  }
}

void tensor_load_i64(int64_t *dst, const void *base, int dtype, int64_t off, int64_t stride, int64_t n) {
  switch (dtype) {
  case LPO_I64: { const int64_t *p = (const int64_t *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = p[i * stride]; break; }
  case LPO_I32: { const int32_t *p = (const int32_t *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = p[i * stride]; break; }
  case LPO_F32: { const float *p = (const float *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = tensor_f64_to_i64(p[i * stride]); break; }
  case LPO_BF16: { const uint16_t *p = (const uint16_t *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = tensor_f64_to_i64(bf16_f32(p[i * stride])); break; }
  case LPO_F16: { const uint16_t *p = (const uint16_t *)base + off; for (int64_t i = 0; i < n; i++) dst[i] = tensor_f64_to_i64(lpo_f16_to_f32(p[i * stride])); break; }
  default: LPO_ASSERT(!"bad dtype");
  }
}

void tensor_store_f32(void *base, int dtype, int64_t off, int64_t stride, const float *src, int64_t n) {
  switch (dtype) {
  case LPO_F32: {
    float *p = (float *)base + off;
    if (stride == 1) memcpy(p, src, (size_t)n * sizeof *src);
    else for (int64_t i = 0; i < n; i++) p[i * stride] = src[i];
    break;
  }
  case LPO_BF16: { uint16_t *p = (uint16_t *)base + off; for (int64_t i = 0; i < n; i++) p[i * stride] = f32_bf16(src[i]); break; }
  case LPO_F16: { uint16_t *p = (uint16_t *)base + off; for (int64_t i = 0; i < n; i++) p[i * stride] = lpo_f32_to_f16(src[i]); break; }
  case LPO_I32: { int32_t *p = (int32_t *)base + off; for (int64_t i = 0; i < n; i++) p[i * stride] = f32_to_i32(src[i]); break; }
  case LPO_I64: { int64_t *p = (int64_t *)base + off; for (int64_t i = 0; i < n; i++) p[i * stride] = tensor_f64_to_i64(src[i]); break; }
  default: LPO_ASSERT(!"bad dtype");
  }
}

void tensor_store_i64(void *base, int dtype, int64_t off, int64_t stride, const int64_t *src, int64_t n) {
  switch (dtype) {
  case LPO_I64: { int64_t *p = (int64_t *)base + off; for (int64_t i = 0; i < n; i++) p[i * stride] = src[i]; break; }
  /* Through uint32_t: wrapping is then defined by the standard, not by the compiler. */
  case LPO_I32: { int32_t *p = (int32_t *)base + off; for (int64_t i = 0; i < n; i++) { uint32_t u = (uint32_t)src[i]; memcpy(&p[i * stride], &u, 4); } break; }
  case LPO_F32: { float *p = (float *)base + off; for (int64_t i = 0; i < n; i++) p[i * stride] = (float)src[i]; break; }
  case LPO_BF16: { uint16_t *p = (uint16_t *)base + off; for (int64_t i = 0; i < n; i++) p[i * stride] = f32_bf16((float)src[i]); break; }
  case LPO_F16: { uint16_t *p = (uint16_t *)base + off; for (int64_t i = 0; i < n; i++) p[i * stride] = lpo_f32_to_f16((float)src[i]); break; }
  default: LPO_ASSERT(!"bad dtype");
  }
}

/* Same dtype: bit-exact element moves (NaN payloads and all). */
static void copy_raw(void *dst, int64_t d, int64_t ds, const void *src, int64_t s, int64_t ss, int64_t n, int esize) {
  if (ds == 1 && ss == 1) { memcpy((char *)dst + d * esize, (const char *)src + s * esize, (size_t)(n * esize)); return; }
  switch (esize) {
  case 2: { uint16_t *o = (uint16_t *)dst + d; const uint16_t *i = (const uint16_t *)src + s; for (int64_t k = 0; k < n; k++) o[k * ds] = i[k * ss]; break; }
  case 4: { uint32_t *o = (uint32_t *)dst + d; const uint32_t *i = (const uint32_t *)src + s; for (int64_t k = 0; k < n; k++) o[k * ds] = i[k * ss]; break; }
  case 8: { uint64_t *o = (uint64_t *)dst + d; const uint64_t *i = (const uint64_t *)src + s; for (int64_t k = 0; k < n; k++) o[k * ds] = i[k * ss]; break; }
  default: LPO_ASSERT(!"bad element size");
  }
}

void tensor_copy_unchecked(lpo_tensor *dst, const lpo_tensor *src) {
  /* src is broadcast to dst's shape by aligning trailing dims; missing dims get stride 0. */
  int64_t sst[LPO_MAX_DIMS] = { 0 };
  int lead = dst->ndim - src->ndim;
  for (int i = 0; i < src->ndim; i++) sst[lead + i] = src->shape[i] == 1 ? 0 : src->strides[i];
  const int64_t *strides[2] = { dst->strides, sst };
  int64_t offs[2] = { dst->offset, src->offset };
  tensor_iter it;
  tensor_iter_init(&it, dst->ndim, dst->shape, 2, strides, offs);
  int esize = lpo_dtype_size(dst->dtype);
  int same = dst->dtype == src->dtype;
  int src_float = dtype_is_float(src->dtype);
  float fbuf[TENSOR_CHUNK];
  int64_t ibuf[TENSOR_CHUNK];
  while (tensor_iter_next(&it)) {
    int64_t d = it.offs[0], s = it.offs[1], ds = it.inner_stride[0], ss = it.inner_stride[1];
    if (same) { copy_raw(dst->data, d, ds, src->data, s, ss, it.inner, esize); continue; }
    for (int64_t i = 0; i < it.inner; i += TENSOR_CHUNK) {
      int64_t n = it.inner - i < TENSOR_CHUNK ? it.inner - i : TENSOR_CHUNK;
      if (src_float) {
        /* float sources go through f32 (exact for bf16/f16); into ints they saturate */
        tensor_load_f32(fbuf, src->data, src->dtype, s + i * ss, ss, n);
        tensor_store_f32(dst->data, dst->dtype, d + i * ds, ds, fbuf, n);
      } else {
        tensor_load_i64(ibuf, src->data, src->dtype, s + i * ss, ss, n);
        tensor_store_i64(dst->data, dst->dtype, d + i * ds, ds, ibuf, n);
      }
    }
  }
}

int lpo_tensor_copy_(lpo_tensor *dst, const lpo_tensor *src) {
  if (tensor_check_cpu(dst, "copy_") || tensor_check_cpu(src, "copy_")) return -1;
  char a[SHAPE_BUF], b[SHAPE_BUF];
  int ok = src->ndim <= dst->ndim;
  for (int i = 0; ok && i < src->ndim; i++) {
    int64_t sd = src->shape[i], dd = dst->shape[dst->ndim - src->ndim + i];
    if (sd != dd && sd != 1) ok = 0;
  }
  if (!ok)
    return lpo_set_error("copy_: source shape %s cannot broadcast to destination shape %s",
                         tensor_shape_fmt(a, src->ndim, src->shape), tensor_shape_fmt(b, dst->ndim, dst->shape));
  for (int i = 0; i < dst->ndim; i++)
    if (dst->strides[i] == 0 && dst->shape[i] > 1)
      return lpo_set_error("copy_: destination of shape %s is an expanded view (several elements share memory)",
                           tensor_shape_fmt(a, dst->ndim, dst->shape));
  if (dst->storage == src->storage) {
    /* The views may overlap: read everything before writing anything. */
    lpo_tensor *tmp = lpo_tensor_clone(src);
    if (!tmp) return -1;
    tensor_copy_unchecked(dst, tmp);
    lpo_tensor_free(tmp);
    return 0;
  }
  tensor_copy_unchecked(dst, src);
  return 0;
}

lpo_tensor *lpo_tensor_to_dtype(const lpo_tensor *t, int dtype) {
  if (tensor_check_alive(t, "to_dtype")) return NULL;
  if (!dtype_valid(dtype)) { lpo_set_error("to_dtype: unknown dtype %d", dtype); return NULL; }
  if (t->dtype == dtype) return lpo_tensor_alias(t);
  if (tensor_check_cpu(t, "to_dtype")) return NULL;
  lpo_tensor *out = tensor_new(dtype, t->ndim, t->shape, "to_dtype");
  if (out) tensor_copy_unchecked(out, t);
  return out;
}

lpo_tensor *lpo_tensor_to_device(const lpo_tensor *t, int device) {
  if (tensor_check_alive(t, "to_device")) return NULL;
  if (device != 0 && device != 1) {
    lpo_set_error("to_device: device %d is not supported (0 = CPU, 1 = cuda:0)", device);
    return NULL;
  }
  if (t->device == device) return lpo_tensor_alias(t);
  if (device == 1) {
    lpo_tensor *c = lpo_tensor_contiguous(t);
    if (!c) return NULL;
    int64_t bytes = c->numel * lpo_dtype_size(c->dtype);
    lpo_storage *s = lpo_alloc(sizeof *s, 0);
    void *dev = s ? lpo_cuda_alloc(bytes) : NULL;
    if (!dev || lpo_cuda_memcpy_h2d(dev, lpo_tensor_ptr(c), bytes) != 0) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", lpo_last_error());
      if (dev) lpo_cuda_free(dev, bytes);
      lpo_free(s, sizeof *s, 0);
      lpo_tensor_free(c);
      lpo_set_error("to_device: cannot move a tensor to cuda:0: %s", msg);
      return NULL;
    }
    s->data = dev;
    s->bytes = bytes;
    atomic_init(&s->refcount, 1);
    s->device = 1;
    s->kind = STORAGE_CUDA;
    int64_t strides[LPO_MAX_DIMS];
    tensor_contiguous_strides(c->ndim, c->shape, strides);
    lpo_tensor *out = tensor_header(s, c->dtype, c->ndim, c->shape, strides, 0);
    lpo_tensor_free(c);
    return out;
  }
  /* GPU -> CPU: only contiguous device tensors (there are no device kernels for gathers yet). */
  if (!lpo_tensor_is_contiguous(t)) {
    lpo_set_error("to_device: a non-contiguous cuda tensor cannot be copied to the CPU yet");
    return NULL;
  }
  lpo_tensor *out = tensor_new(t->dtype, t->ndim, t->shape, "to_device");
  if (!out) return NULL;
  int64_t bytes = t->numel * lpo_dtype_size(t->dtype);
  if (lpo_cuda_memcpy_d2h(out->data, lpo_tensor_ptr(t), bytes) != 0) { lpo_tensor_free(out); return NULL; }
  return out;
}

int lpo_promote_types(int a, int b) {
  if (a == b) return a;
  int fa = dtype_is_float(a), fb = dtype_is_float(b);
  if (fa && !fb) return a;          /* a float beats any integer: i64 + bf16 -> bf16 */
  if (fb && !fa) return b;
  if (fa && fb) return LPO_F32;     /* f32 with anything, and bf16 with f16 */
  return LPO_I64;                   /* i32 with i64 */
}
