/* tensor.c — tensor handles and their refcounted storage, argument checks, the strided
 * iterator, and single-element access.
 *
 * A handle (lpo_tensor) is a view: dtype, shape, strides, offset over a storage. Views
 * share the storage and each holds one reference; the storage is freed when the last
 * handle goes. An owned CPU storage is ONE allocation: a 64-byte header followed by the
 * data, so a tensor costs two allocations (handle + storage) and both are counted in
 * lpo_mem_live_bytes(0), which the Lua layer watches to run its collector in time. */
#include "tensor_impl.h"
#include "lpo_cuda.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STORAGE_HEADER 64   /* keeps the data 64-byte aligned after the header */
_Static_assert(sizeof(struct lpo_storage) <= STORAGE_HEADER, "storage header must fit its slot");

/* ---- shapes and checks ---- */

char *tensor_shape_fmt(char *buf, int ndim, const int64_t *shape) {
  int n = 0;
  buf[n++] = '[';
  for (int i = 0; i < ndim && i < LPO_MAX_DIMS; i++)
    n += snprintf(buf + n, (size_t)(SHAPE_BUF - n), i ? ",%lld" : "%lld", (long long)shape[i]);
  snprintf(buf + n, (size_t)(SHAPE_BUF - n), "]");
  return buf;
}

int lpo_tensor_shape_string(const lpo_tensor *t, char *buf, int size) {
  char s[SHAPE_BUF];
  if (!t || size <= 0) return -1;
  snprintf(buf, (size_t)size, "%s", tensor_shape_fmt(s, t->ndim, t->shape));
  return 0;
}

int tensor_check_alive(const lpo_tensor *t, const char *op) {
  if (!t) return lpo_set_error("%s: tensor is NULL", op);
  if (!t->storage) return lpo_set_error("%s: tensor was freed (its storage was released)", op);
  return 0;
}

int tensor_check_cpu(const lpo_tensor *t, const char *op) {
  if (tensor_check_alive(t, op)) return -1;
  if (t->device != 0)
    return lpo_set_error("%s: tensor is on cuda:%d; tensor ops run on the CPU (move it with to_device(0))",
                         op, t->device - 1);
  return 0;
}

int tensor_norm_dim(int dim, int ndim, int extra, const char *op, const lpo_tensor *t) {
  int n = ndim + (extra ? 1 : 0);
  int d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n) {
    char s[SHAPE_BUF];
    return lpo_set_error("%s: dim %d out of range for shape %s (valid: %d..%d)", op, dim,
                         tensor_shape_fmt(s, t->ndim, t->shape), -n, n - 1);
  }
  return d;
}

int tensor_check_shape(int ndim, const int64_t *shape, int64_t *numel, const char *op) {
  if (ndim < 0 || ndim > LPO_MAX_DIMS) return lpo_set_error("%s: %d dims (at most %d)", op, ndim, LPO_MAX_DIMS);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) {
      char s[SHAPE_BUF];
      return lpo_set_error("%s: negative size in shape %s", op, tensor_shape_fmt(s, ndim, shape));
    }
    /* 2^40 elements is far beyond any machine here, and keeps bytes well inside int64. */
    if (shape[i] > 0 && n > ((int64_t)1 << 40) / shape[i]) {
      char s[SHAPE_BUF];
      return lpo_set_error("%s: shape %s is too large", op, tensor_shape_fmt(s, ndim, shape));
    }
    n *= shape[i];
  }
  if (numel) *numel = n;
  return 0;
}

void tensor_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) { strides[i] = s; s *= shape[i] > 0 ? shape[i] : 1; }
}

/* ---- storage and handles ---- */

static void storage_unref(lpo_storage *s) {
  if (!s || atomic_fetch_sub(&s->refcount, 1) != 1) return;
  if (s->kind == STORAGE_INLINE) { lpo_free(s, STORAGE_HEADER + (size_t)s->bytes, 0); return; }
  if (s->kind == STORAGE_CUDA) lpo_cuda_free(s->data, s->bytes);
  lpo_free(s, sizeof *s, 0);
}

lpo_tensor *tensor_header(lpo_storage *s, int dtype, int ndim, const int64_t *shape,
                          const int64_t *strides, int64_t offset) {
  lpo_tensor *t = lpo_alloc(sizeof *t, 0);
  if (!t) { storage_unref(s); return NULL; }
  t->storage = s;
  t->data = s->data;
  t->dtype = dtype;
  t->device = s->device;
  t->ndim = ndim;
  t->offset = offset;
  t->numel = 1;
  for (int i = 0; i < ndim; i++) { t->shape[i] = shape[i]; t->strides[i] = strides[i]; t->numel *= shape[i]; }
  return t;
}

lpo_tensor *tensor_new(int dtype, int ndim, const int64_t *shape, const char *op) {
  int64_t numel, strides[LPO_MAX_DIMS];
  if (!dtype_valid(dtype)) { lpo_set_error("%s: unknown dtype %d", op, dtype); return NULL; }
  if (tensor_check_shape(ndim, shape, &numel, op)) return NULL;
  int64_t bytes = numel * lpo_dtype_size(dtype);
  lpo_storage *s = lpo_alloc(STORAGE_HEADER + (size_t)bytes, 0);
  if (!s) { lpo_set_error("%s: out of memory allocating %lld bytes (live: %lld bytes)", op,
                          (long long)bytes, (long long)lpo_mem_live_bytes(0)); return NULL; }
  s->data = (char *)s + STORAGE_HEADER;
  s->bytes = bytes;
  atomic_init(&s->refcount, 1);
  s->device = 0;
  s->kind = STORAGE_INLINE;
  tensor_contiguous_strides(ndim, shape, strides);
  return tensor_header(s, dtype, ndim, shape, strides, 0);
}

lpo_tensor *lpo_tensor_empty(int dtype, int ndim, const int64_t *shape) {
  if (!shape && ndim > 0) { lpo_set_error("empty: shape is NULL"); return NULL; }
  return tensor_new(dtype, ndim, shape, "empty");
}

lpo_tensor *lpo_tensor_from_data(int dtype, int ndim, const int64_t *shape, const void *data) {
  if (!data) { lpo_set_error("from_data: data is NULL"); return NULL; }
  lpo_tensor *t = tensor_new(dtype, ndim, shape, "from_data");
  if (t) memcpy(t->data, data, (size_t)t->storage->bytes);
  return t;
}

lpo_tensor *lpo_tensor_wrap(void *data, int dtype, int ndim, const int64_t *shape) {
  int64_t numel, strides[LPO_MAX_DIMS];
  if (!data) { lpo_set_error("wrap: data is NULL"); return NULL; }
  if (!dtype_valid(dtype)) { lpo_set_error("wrap: unknown dtype %d", dtype); return NULL; }
  if (tensor_check_shape(ndim, shape, &numel, "wrap")) return NULL;
  lpo_storage *s = lpo_alloc(sizeof *s, 0);
  if (!s) return NULL;
  s->data = data;
  s->bytes = numel * lpo_dtype_size(dtype);
  atomic_init(&s->refcount, 1);
  s->device = 0;
  s->kind = STORAGE_BORROWED;
  tensor_contiguous_strides(ndim, shape, strides);
  return tensor_header(s, dtype, ndim, shape, strides, 0);
}

lpo_tensor *lpo_tensor_alias(const lpo_tensor *t) {
  if (tensor_check_alive(t, "alias")) return NULL;
  atomic_fetch_add(&t->storage->refcount, 1);
  return tensor_header(t->storage, t->dtype, t->ndim, t->shape, t->strides, t->offset);
}

void lpo_tensor_release(lpo_tensor *t) {
  if (!t) return;
  storage_unref(t->storage);
  t->storage = NULL;
  t->data = NULL;
}

void lpo_tensor_free(lpo_tensor *t) {
  if (!t) return;
  storage_unref(t->storage);
  lpo_free(t, sizeof *t, 0);
}

int lpo_tensor_is_contiguous(const lpo_tensor *t) {
  if (!t) return 0;
  int64_t expect = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] == 0) return 1;
    if (t->shape[i] != 1 && t->strides[i] != expect) return 0;
    expect *= t->shape[i];
  }
  return 1;
}

int lpo_tensor_storage_refcount(const lpo_tensor *t) {
  return t && t->storage ? atomic_load(&t->storage->refcount) : 0;
}

int64_t lpo_tensor_storage_bytes(const lpo_tensor *t) { return t && t->storage ? t->storage->bytes : 0; }

void *lpo_tensor_ptr(const lpo_tensor *t) {
  if (!t || !t->data) return NULL;
  return (char *)t->data + t->offset * lpo_dtype_size(t->dtype);
}

/* ---- the strided iterator ---- */

void tensor_iter_init(tensor_iter *it, int ndim, const int64_t *shape, int nops,
                      const int64_t *const *strides, const int64_t *offsets) {
  LPO_ASSERT(nops >= 1 && nops <= 3 && ndim >= 0 && ndim <= LPO_MAX_DIMS);
  memset(it, 0, sizeof *it);
  it->nops = nops;
  for (int k = 0; k < nops; k++) it->offs[k] = offsets ? offsets[k] : 0;
  int n = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 0) { it->done = 1; return; }
    if (shape[d] == 1) continue;
    /* Merge with the previous kept dim when it steps exactly over this one for all ops. */
    int merge = n > 0;
    for (int k = 0; k < nops && merge; k++)
      if (it->strides[k][n - 1] != strides[k][d] * shape[d]) merge = 0;
    if (merge) {
      it->shape[n - 1] *= shape[d];
      for (int k = 0; k < nops; k++) it->strides[k][n - 1] = strides[k][d];
    } else {
      it->shape[n] = shape[d];
      for (int k = 0; k < nops; k++) it->strides[k][n] = strides[k][d];
      n++;
    }
  }
  if (n == 0) { it->inner = 1; it->ndim = 0; return; }
  it->inner = it->shape[n - 1];
  for (int k = 0; k < nops; k++) it->inner_stride[k] = it->strides[k][n - 1];
  it->ndim = n - 1;
}

int tensor_iter_next(tensor_iter *it) {
  if (it->done) return 0;
  if (!it->started) { it->started = 1; return 1; }
  for (int d = it->ndim - 1; d >= 0; d--) {
    it->idx[d]++;
    for (int k = 0; k < it->nops; k++) it->offs[k] += it->strides[k][d];
    if (it->idx[d] < it->shape[d]) return 1;
    for (int k = 0; k < it->nops; k++) it->offs[k] -= it->strides[k][d] * it->shape[d];
    it->idx[d] = 0;
  }
  it->done = 1;
  return 0;
}

/* ---- single elements (0-based index per dim) ---- */

int lpo_tensor_check_index(const lpo_tensor *t, const int64_t *index, const char *op) {
  if (tensor_check_cpu(t, op)) return -1;
  for (int i = 0; i < t->ndim; i++) {
    if (index[i] < 0 || index[i] >= t->shape[i]) {
      char s[SHAPE_BUF], ix[SHAPE_BUF];
      return lpo_set_error("%s: index %s out of range for shape %s (dim %d has size %lld)", op,
                           tensor_shape_fmt(ix, t->ndim, index), tensor_shape_fmt(s, t->ndim, t->shape),
                           i, (long long)t->shape[i]);
    }
  }
  return 0;
}

static int64_t element_offset(const lpo_tensor *t, const int64_t *index) {
  int64_t off = t->offset;
  for (int i = 0; i < t->ndim; i++) off += index[i] * t->strides[i];
  return off;
}

double lpo_tensor_get(const lpo_tensor *t, const int64_t *index) {
  if (lpo_tensor_check_index(t, index, "get")) return NAN;
  int64_t off = element_offset(t, index);
  if (dtype_is_float(t->dtype)) { float v; tensor_load_f32(&v, t->data, t->dtype, off, 1, 1); return v; }
  int64_t v;
  tensor_load_i64(&v, t->data, t->dtype, off, 1, 1);
  return (double)v;
}

int lpo_tensor_set(lpo_tensor *t, const int64_t *index, double value) {
  if (lpo_tensor_check_index(t, index, "set")) return -1;
  int64_t off = element_offset(t, index);
  tensor_store_f64(t->data, t->dtype, off, value);
  return 0;
}
