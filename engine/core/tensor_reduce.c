/* tensor_reduce.c — sum, mean, max, min, argmax, argmin along one dim (keepdim or not)
 * or over all elements.
 *
 * Determinism: every output element folds its inputs in index order k = 0, 1, ..., n-1,
 * one at a time (float sums in double), whatever the strides or the traversal, so results
 * are bitwise reproducible. Traversal: outputs are processed in chunks of up to
 * TENSOR_CHUNK; for each k the chunk's inputs are loaded as one strided row, so reducing
 * a leading dim streams memory and reducing the last dim touches at most one chunk of
 * cache lines per pass.
 *
 * Output dtypes: sum keeps float dtypes and gives i64 for integers (as torch); mean keeps
 * float dtypes and gives f32 for integers; max/min keep the dtype; argmax/argmin give i64
 * (0-based here; the Lua binding adds 1). max/min propagate NaN (the first NaN wins, its
 * index is the argmax); ties pick the first index. An empty dim gives sum 0, mean NaN and
 * an error for max/min/argmax/argmin. */
#include "tensor_impl.h"
#include <math.h>
#include <string.h>

const char *lpo_reduce_name(int op) {
  static const char *names[LPO_NREDUCE] = { "sum", "mean", "max", "min", "argmax", "argmin" };
  return op >= 0 && op < LPO_NREDUCE ? names[op] : "reduce";
}

typedef struct acc {
  double sum[TENSOR_CHUNK];     /* float sums */
  int64_t isum[TENSOR_CHUNK];   /* integer sums (wrapping) */
  float best[TENSOR_CHUNK];     /* float max/min */
  int64_t ibest[TENSOR_CHUNK];  /* integer max/min */
  int64_t idx[TENSOR_CHUNK];    /* index of best */
} acc;

static int is_max(int op) { return op == LPO_MAX || op == LPO_ARGMAX; }

/* Folds input k of each of m outputs (v[j] belongs to output slot j). */
static void fold_f32(int op, acc *A, const float *v, int64_t m, int64_t k) {
  if (op == LPO_SUM || op == LPO_MEAN) { for (int64_t j = 0; j < m; j++) A->sum[j] += v[j]; return; }
  int mx = is_max(op);
  for (int64_t j = 0; j < m; j++) {
    float b = A->best[j], x = v[j];
    if (k == 0) { A->best[j] = x; A->idx[j] = 0; continue; }
    if (b != b) continue;                                   /* a NaN already won */
    if (x != x || (mx ? x > b : x < b)) { A->best[j] = x; A->idx[j] = k; }
  }
}

static void fold_i64(int op, acc *A, const int64_t *v, int64_t m, int64_t k) {
  if (op == LPO_SUM) { for (int64_t j = 0; j < m; j++) A->isum[j] = (int64_t)((uint64_t)A->isum[j] + (uint64_t)v[j]); return; }
  int mx = is_max(op);
  for (int64_t j = 0; j < m; j++)
    if (k == 0 || (mx ? v[j] > A->ibest[j] : v[j] < A->ibest[j])) { A->ibest[j] = v[j]; A->idx[j] = k; }
}

/* The same folds for ONE output slot j over inputs k0 .. k0+c-1, in that order. */
static void fold_row_f32(int op, acc *A, int64_t j, const float *v, int64_t c, int64_t k0) {
  if (op == LPO_SUM || op == LPO_MEAN) { double s = A->sum[j]; for (int64_t q = 0; q < c; q++) s += v[q]; A->sum[j] = s; return; }
  int mx = is_max(op);
  float b = A->best[j];
  int64_t bi = A->idx[j];
  for (int64_t q = 0; q < c; q++) {
    float x = v[q];
    if (k0 + q == 0) { b = x; bi = 0; continue; }
    if (b != b) break;                                      /* a NaN already won */
    if (x != x || (mx ? x > b : x < b)) { b = x; bi = k0 + q; }
  }
  A->best[j] = b; A->idx[j] = bi;
}

static void fold_row_i64(int op, acc *A, int64_t j, const int64_t *v, int64_t c, int64_t k0) {
  if (op == LPO_SUM) { uint64_t s = (uint64_t)A->isum[j]; for (int64_t q = 0; q < c; q++) s += (uint64_t)v[q]; A->isum[j] = (int64_t)s; return; }
  int mx = is_max(op);
  int64_t b = A->ibest[j], bi = A->idx[j];
  for (int64_t q = 0; q < c; q++)
    if (k0 + q == 0 || (mx ? v[q] > b : v[q] < b)) { b = v[q]; bi = k0 + q; }
  A->ibest[j] = b; A->idx[j] = bi;
}

/* Writes m finished outputs. */
static void emit(int op, const acc *A, lpo_tensor *out, int64_t off, int64_t stride, int64_t m, int64_t n, int as_float) {
  float f[TENSOR_CHUNK];
  switch (op) {
  case LPO_SUM:
    if (as_float) { for (int64_t j = 0; j < m; j++) f[j] = (float)A->sum[j]; tensor_store_f32(out->data, out->dtype, off, stride, f, m); }
    else tensor_store_i64(out->data, out->dtype, off, stride, A->isum, m);
    break;
  case LPO_MEAN:
    for (int64_t j = 0; j < m; j++) f[j] = (float)(A->sum[j] / (double)n);
    tensor_store_f32(out->data, out->dtype, off, stride, f, m);
    break;
  case LPO_MAX: case LPO_MIN:
    if (as_float) tensor_store_f32(out->data, out->dtype, off, stride, A->best, m);
    else tensor_store_i64(out->data, out->dtype, off, stride, A->ibest, m);
    break;
  default:
    tensor_store_i64(out->data, out->dtype, off, stride, A->idx, m);
  }
}

static int out_dtype(int op, int dtype) {
  switch (op) {
  case LPO_SUM: return dtype_is_float(dtype) ? dtype : LPO_I64;
  case LPO_MEAN: return dtype_is_float(dtype) ? dtype : LPO_F32;
  case LPO_MAX: case LPO_MIN: return dtype;
  default: return LPO_I64;
  }
}

lpo_tensor *lpo_tensor_reduce(int op, const lpo_tensor *t, int dim, int keepdim) {
  if (op < 0 || op >= LPO_NREDUCE) { lpo_set_error("reduce: unknown op %d", op); return NULL; }
  const char *name = lpo_reduce_name(op);
  if (tensor_check_cpu(t, name)) return NULL;
  if (t->ndim == 0) {
    /* A scalar reduces over a virtual dim of size 1 (dim 0 or -1), like torch. */
    if (dim != 0 && dim != -1) { lpo_set_error("%s: dim %d out of range for shape [] (valid: -1..0)", name, dim); return NULL; }
    lpo_tensor *v = lpo_tensor_unsqueeze(t, 0);
    lpo_tensor *r = v ? lpo_tensor_reduce(op, v, 0, 0) : NULL;
    lpo_tensor_free(v);
    return r;
  }
  int d = tensor_norm_dim(dim, t->ndim, 0, name, t);
  if (d < 0) return NULL;
  int64_t n = t->shape[d];
  if (n == 0 && op != LPO_SUM && op != LPO_MEAN) {
    char s[SHAPE_BUF];
    lpo_set_error("%s: cannot reduce dim %d of size 0 (shape %s)", name, d, tensor_shape_fmt(s, t->ndim, t->shape));
    return NULL;
  }
  int64_t shape[LPO_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[d] = 1;
  lpo_tensor *out = tensor_new(out_dtype(op, t->dtype), t->ndim, shape, name);
  if (!out) return NULL;
  acc *A = lpo_alloc(sizeof *A, 0);
  if (!A) { lpo_tensor_free(out); return NULL; }

  /* Mean of integers and every float input fold in f32/double; the rest in i64. */
  int as_float = dtype_is_float(t->dtype) || op == LPO_MEAN;
  const int64_t *strides[2] = { out->strides, t->strides };
  int64_t offs[2] = { 0, t->offset }, kstride = t->strides[d];
  tensor_iter it;
  tensor_iter_init(&it, t->ndim, shape, 2, strides, offs);
  float fv[TENSOR_CHUNK];
  int64_t iv[TENSOR_CHUNK];
  while (tensor_iter_next(&it)) {
    int64_t so = it.inner_stride[0], st = it.inner_stride[1];
    for (int64_t i = 0; i < it.inner; i += TENSOR_CHUNK) {
      int64_t m = it.inner - i < TENSOR_CHUNK ? it.inner - i : TENSOR_CHUNK;
      int64_t t0 = it.offs[1] + i * st;
      memset(A->sum, 0, sizeof A->sum);
      memset(A->isum, 0, sizeof A->isum);
      if (m < 8) {
        /* Few outputs per run (e.g. reducing everything): walk each output's own row. */
        for (int64_t j = 0; j < m; j++) {
          for (int64_t k = 0; k < n; k += TENSOR_CHUNK) {
            int64_t c = n - k < TENSOR_CHUNK ? n - k : TENSOR_CHUNK, base = t0 + j * st + k * kstride;
            if (as_float) { tensor_load_f32(fv, t->data, t->dtype, base, kstride, c); fold_row_f32(op, A, j, fv, c, k); }
            else { tensor_load_i64(iv, t->data, t->dtype, base, kstride, c); fold_row_i64(op, A, j, iv, c, k); }
          }
        }
      } else {
        for (int64_t k = 0; k < n; k++) {
          if (as_float) { tensor_load_f32(fv, t->data, t->dtype, t0 + k * kstride, st, m); fold_f32(op, A, fv, m, k); }
          else { tensor_load_i64(iv, t->data, t->dtype, t0 + k * kstride, st, m); fold_i64(op, A, iv, m, k); }
        }
      }
      emit(op, A, out, it.offs[0] + i * so, so, m, n, as_float);
    }
  }
  lpo_free(A, sizeof *A, 0);
  if (keepdim) return out;
  lpo_tensor *sq = lpo_tensor_squeeze(out, d);
  lpo_tensor_free(out);
  return sq;
}

lpo_tensor *lpo_tensor_reduce_all(int op, const lpo_tensor *t) {
  if (op < 0 || op >= LPO_NREDUCE) { lpo_set_error("reduce: unknown op %d", op); return NULL; }
  if (tensor_check_cpu(t, lpo_reduce_name(op))) return NULL;
  int64_t flat = -1;
  lpo_tensor *v = lpo_tensor_reshape(t, 1, &flat);
  if (!v) return NULL;
  lpo_tensor *r = lpo_tensor_reduce(op, v, 0, 0);
  lpo_tensor_free(v);
  return r;
}
