/* tensor_softmax.c — softmax and log-softmax along one dim.
 *
 * Each row along `dim` is gathered into an f32 buffer, shifted by its max (so exp never
 * overflows), exponentiated in f32 and summed in double in index order (deterministic):
 *   softmax_i     = exp(x_i - max) / sum_j exp(x_j - max)
 *   log_softmax_i = x_i - max - log(sum_j exp(x_j - max))
 * Float dtypes keep their dtype (bf16/f16 computed in f32); integers give f32. A row of
 * all -inf gives NaN, as in torch. */
#include "tensor_impl.h"
#include <math.h>
#include <string.h>

static void softmax_row(float *x, int64_t n, int log_space) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) if (x[i] > mx || x[i] != x[i]) mx = x[i];
  double sum = 0;
  if (log_space) {
    for (int64_t i = 0; i < n; i++) sum += expf(x[i] - mx);
    float lse = (float)log(sum);
    for (int64_t i = 0; i < n; i++) x[i] = x[i] - mx - lse;
  } else {
    for (int64_t i = 0; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    for (int64_t i = 0; i < n; i++) x[i] = (float)(x[i] / sum);
  }
}

static lpo_tensor *softmax_impl(const lpo_tensor *t, int dim, int log_space) {
  const char *name = log_space ? "log_softmax" : "softmax";
  if (tensor_check_cpu(t, name)) return NULL;
  if (t->ndim == 0) {
    if (dim != 0 && dim != -1) { lpo_set_error("%s: dim %d out of range for shape [] (valid: -1..0)", name, dim); return NULL; }
    lpo_tensor *v = lpo_tensor_unsqueeze(t, 0);
    lpo_tensor *r = v ? softmax_impl(v, 0, log_space) : NULL;
    lpo_tensor *s = r ? lpo_tensor_squeeze(r, 0) : NULL;
    lpo_tensor_free(v);
    lpo_tensor_free(r);
    return s;
  }
  int d = tensor_norm_dim(dim, t->ndim, 0, name, t);
  if (d < 0) return NULL;
  lpo_tensor *out = tensor_new(dtype_is_float(t->dtype) ? t->dtype : LPO_F32, t->ndim, t->shape, name);
  if (!out) return NULL;
  int64_t n = t->shape[d];
  float *row = lpo_alloc((size_t)(n > 0 ? n : 1) * sizeof *row, 0);
  if (!row) { lpo_tensor_free(out); return NULL; }
  /* Walk every position with dim fixed at 0; each is the start of one row. */
  int64_t shape[LPO_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[d] = 1;
  const int64_t *strides[2] = { out->strides, t->strides };
  int64_t offs[2] = { 0, t->offset };
  tensor_iter it;
  tensor_iter_init(&it, t->ndim, shape, 2, strides, offs);
  if (n == 0) it.done = 1;
  while (tensor_iter_next(&it)) {
    for (int64_t j = 0; j < it.inner; j++) {
      tensor_load_f32(row, t->data, t->dtype, it.offs[1] + j * it.inner_stride[1], t->strides[d], n);
      softmax_row(row, n, log_space);
      tensor_store_f32(out->data, out->dtype, it.offs[0] + j * it.inner_stride[0], out->strides[d], row, n);
    }
  }
  lpo_free(row, (size_t)(n > 0 ? n : 1) * sizeof *row, 0);
  return out;
}

lpo_tensor *lpo_tensor_softmax(const lpo_tensor *t, int dim) { return softmax_impl(t, dim, 0); }
lpo_tensor *lpo_tensor_log_softmax(const lpo_tensor *t, int dim) { return softmax_impl(t, dim, 1); }
