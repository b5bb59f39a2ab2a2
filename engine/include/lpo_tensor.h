/* lpo_tensor.h — n-dimensional tensors for exploration and glue: dtype, shape, strides,
 * offset, device, and a refcounted storage that views share.
 *
 * Conventions of the C API (the Lua binding lpo.tensor is 1-based; this is 0-based):
 *   - dims and indices are 0-based; a negative dim counts from the end (-1 = last);
 *   - shapes and strides are in elements, strides may be 0 (broadcast views from expand);
 *   - every op returns a NEW lpo_tensor* handle that the caller frees with
 *     lpo_tensor_free; views (reshape when possible, transpose, narrow, slice, select,
 *     expand, ...) share the storage of their source, which stays alive as long as any
 *     handle refers to it;
 *   - on bad input an op returns NULL (or -1) and sets lpo_last_error() to a message that
 *     names the op and the shapes, e.g. "add: shapes [2,3] and [4] cannot broadcast";
 *   - ops compute on the CPU (device 0). A tensor moved to a GPU (device 1 = cuda:0) can be
 *     viewed and moved back; other ops on it report an error;
 *   - data comes from lpo_alloc, so lpo_mem_live_bytes(0) counts every tensor's bytes.
 *
 * Type promotion (as torch): the result of a binary op has the "larger" dtype; a float
 * dtype beats an integer one (i64 + bf16 -> bf16), bf16 with f16 gives f32, i32 with i64
 * gives i64. Division and exp/log/sqrt/tanh/sigmoid of integers give f32. Comparisons
 * give i32 0/1 (there is no bool dtype). bf16 and f16 are computed in f32 and rounded on
 * store; f32 in f32; integers in 64-bit wrapping arithmetic. Float -> integer conversion
 * truncates toward zero and saturates (NaN -> 0), so it is never undefined behaviour. */
#ifndef LPO_TENSOR_H
#define LPO_TENSOR_H
#include "lpo.h"

#define LPO_MAX_DIMS 8

/* LPO_CDEF_BEGIN */
typedef struct lpo_storage lpo_storage;   /* opaque: data, bytes, device, refcount */

typedef struct lpo_tensor {
  lpo_storage *storage;   /* NULL once released (lpo_tensor_release): ops then fail cleanly */
  void *data;             /* base of the storage's bytes (NULL once released) */
  int32_t dtype;          /* lpo_dtype */
  int32_t device;         /* 0 = CPU, 1 = first CUDA device */
  int32_t ndim;           /* 0..8; 0 is a scalar with one element */
  int32_t _pad;
  int64_t offset;         /* in elements, from data */
  int64_t numel;          /* product of shape */
  int64_t shape[8];
  int64_t strides[8];     /* in elements */
} lpo_tensor;

typedef enum lpo_binop {
  LPO_ADD = 0, LPO_SUB, LPO_MUL, LPO_DIV, LPO_POW, LPO_MAXIMUM, LPO_MINIMUM,
  LPO_EQ, LPO_NE, LPO_LT, LPO_LE, LPO_GT, LPO_GE, LPO_NBINOPS
} lpo_binop;

typedef enum lpo_unop {
  LPO_NEG = 0, LPO_ABS, LPO_EXP, LPO_LOG, LPO_SQRT, LPO_TANH, LPO_SIGMOID, LPO_RELU, LPO_NUNOPS
} lpo_unop;

typedef enum lpo_reduce_op {
  LPO_SUM = 0, LPO_MEAN, LPO_MAX, LPO_MIN, LPO_ARGMAX, LPO_ARGMIN, LPO_NREDUCE
} lpo_reduce_op;

/* ---- handles, storage, element access (tensor.c) ---- */
void lpo_tensor_free(lpo_tensor *t);            /* NULL is fine */
void lpo_tensor_release(lpo_tensor *t);         /* drop the storage now, keep the handle (ops then fail) */
lpo_tensor *lpo_tensor_empty(int dtype, int ndim, const int64_t *shape);   /* zero-filled, contiguous */
lpo_tensor *lpo_tensor_from_data(int dtype, int ndim, const int64_t *shape, const void *data); /* copies numel elements */
lpo_tensor *lpo_tensor_wrap(void *data, int dtype, int ndim, const int64_t *shape);  /* borrows CPU memory; caller keeps it alive */
lpo_tensor *lpo_tensor_alias(const lpo_tensor *t);  /* a second handle to the same view */
int lpo_tensor_is_contiguous(const lpo_tensor *t);
int lpo_tensor_storage_refcount(const lpo_tensor *t);
int64_t lpo_tensor_storage_bytes(const lpo_tensor *t);
void *lpo_tensor_ptr(const lpo_tensor *t);      /* address of the first element (data + offset) */
int lpo_tensor_check_index(const lpo_tensor *t, const int64_t *index, const char *op);  /* 0 or -1 + error */
double lpo_tensor_get(const lpo_tensor *t, const int64_t *index);     /* NaN + error when out of range */
int lpo_tensor_set(lpo_tensor *t, const int64_t *index, double value);
int lpo_tensor_shape_string(const lpo_tensor *t, char *buf, int size);   /* "[2,3]" */

/* ---- views: share storage (tensor_view.c) ---- */
lpo_tensor *lpo_tensor_view(const lpo_tensor *t, int ndim, const int64_t *shape);    /* no copy, or error; one -1 allowed */
lpo_tensor *lpo_tensor_reshape(const lpo_tensor *t, int ndim, const int64_t *shape); /* a view when possible, else a copy */
lpo_tensor *lpo_tensor_transpose(const lpo_tensor *t, int dim0, int dim1);
lpo_tensor *lpo_tensor_permute(const lpo_tensor *t, const int *dims);                 /* dims: ndim entries */
lpo_tensor *lpo_tensor_narrow(const lpo_tensor *t, int dim, int64_t start, int64_t length);
lpo_tensor *lpo_tensor_slice(const lpo_tensor *t, int dim, int64_t start, int64_t stop, int64_t step); /* [start, stop), step > 0 */
lpo_tensor *lpo_tensor_select(const lpo_tensor *t, int dim, int64_t index);           /* removes dim */
lpo_tensor *lpo_tensor_unsqueeze(const lpo_tensor *t, int dim);                       /* dim in [0, ndim] */
lpo_tensor *lpo_tensor_squeeze(const lpo_tensor *t, int dim);                         /* dim < -ndim: all size-1 dims */
lpo_tensor *lpo_tensor_expand(const lpo_tensor *t, int ndim, const int64_t *shape);   /* broadcast view (stride 0) */
lpo_tensor *lpo_tensor_contiguous(const lpo_tensor *t);  /* alias when already contiguous, else a copy */
lpo_tensor *lpo_tensor_clone(const lpo_tensor *t);       /* always a fresh contiguous copy */

/* ---- creation, random, fill, copy (tensor_create.c) ---- */
lpo_tensor *lpo_tensor_full(int dtype, int ndim, const int64_t *shape, double value);
lpo_tensor *lpo_tensor_arange(double start, double stop, double step, int dtype);     /* [start, stop) */
lpo_tensor *lpo_tensor_randn(int dtype, int ndim, const int64_t *shape, uint64_t seed); /* N(0,1) */
lpo_tensor *lpo_tensor_rand(int dtype, int ndim, const int64_t *shape, uint64_t seed);  /* U[0,1) */
lpo_tensor *lpo_tensor_from_f64(int dtype, int ndim, const int64_t *shape, const double *values);
int lpo_tensor_to_f64(const lpo_tensor *t, double *out);   /* numel values, row-major logical order */
int lpo_tensor_fill_(lpo_tensor *t, double value);
int lpo_tensor_copy_(lpo_tensor *dst, const lpo_tensor *src);  /* src broadcast to dst; converts dtype */

/* ---- dtype and device conversion (tensor_convert.c) ---- */
lpo_tensor *lpo_tensor_to_dtype(const lpo_tensor *t, int dtype);   /* alias when the dtype already matches */
lpo_tensor *lpo_tensor_to_device(const lpo_tensor *t, int device); /* contiguous copy; alias when already there */
int lpo_promote_types(int a, int b);

/* ---- elementwise with broadcasting (tensor_elementwise.c) ---- */
lpo_tensor *lpo_tensor_binary(int op, const lpo_tensor *a, const lpo_tensor *b);
/* a op s, or s op a when scalar_first; the scalar does not widen a float tensor's dtype. */
lpo_tensor *lpo_tensor_binary_scalar(int op, const lpo_tensor *a, double s, int scalar_first);
lpo_tensor *lpo_tensor_unary(int op, const lpo_tensor *a);
int lpo_broadcast_shapes(int ndim_a, const int64_t *a, int ndim_b, const int64_t *b, int64_t *out); /* ndim or -1 */
const char *lpo_binop_name(int op);
const char *lpo_unop_name(int op);

/* ---- reductions (tensor_reduce.c): fixed, sequential order along the dim ---- */
lpo_tensor *lpo_tensor_reduce(int op, const lpo_tensor *t, int dim, int keepdim);
lpo_tensor *lpo_tensor_reduce_all(int op, const lpo_tensor *t);    /* a 0-d tensor */
const char *lpo_reduce_name(int op);

/* ---- matmul (tensor_matmul.c): OpenBLAS sgemm; f32, bf16, f16 ---- */
lpo_tensor *lpo_tensor_matmul(const lpo_tensor *a, const lpo_tensor *b);

/* ---- softmax (tensor_softmax.c) ---- */
lpo_tensor *lpo_tensor_softmax(const lpo_tensor *t, int dim);
lpo_tensor *lpo_tensor_log_softmax(const lpo_tensor *t, int dim);
/* LPO_CDEF_END */

#endif
