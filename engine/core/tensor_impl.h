/* tensor_impl.h — private helpers shared by engine/core/tensor*.c: the storage layout,
 * argument checks that produce the user-facing messages, a strided iterator that every
 * op uses to walk any view, and row load/store with dtype conversion.
 *
 * Compute types: every elementwise op, reduction and conversion goes through one of two
 * "compute types": f32 (for f32, bf16, f16; bf16/f16 are exact in f32) or i64 (for i32,
 * i64). Rows are loaded into small buffers of the compute type, processed, and stored
 * back with conversion, so one generic code path covers every dtype and every view;
 * contiguous f32 gets direct loops where it matters. */
#ifndef LPO_TENSOR_IMPL_H
#define LPO_TENSOR_IMPL_H
#include "lpo_tensor.h"
#include <stdatomic.h>

enum { STORAGE_INLINE = 0, STORAGE_BORROWED = 1, STORAGE_CUDA = 2 };

struct lpo_storage {
  void *data;
  int64_t bytes;
  _Atomic int refcount;
  int device;
  int kind;
};

/* Elements per chunk when rows go through compute-type buffers (fits L1 with 3 buffers). */
#define TENSOR_CHUNK 512
#define SHAPE_BUF 200

static inline int dtype_is_float(int dtype) { return dtype == LPO_F32 || dtype == LPO_BF16 || dtype == LPO_F16; }
static inline int dtype_valid(int dtype) { return dtype >= 0 && dtype < LPO_NDTYPES; }

/* "[2,3]" into buf (SHAPE_BUF bytes); returns buf so it can sit inside an error call. */
char *tensor_shape_fmt(char *buf, int ndim, const int64_t *shape);
/* Checks t is non-NULL and not released (any device); sets "<op>: ..." and returns -1. */
int tensor_check_alive(const lpo_tensor *t, const char *op);
/* The above plus: t lives on the CPU, where ops compute. */
int tensor_check_cpu(const lpo_tensor *t, const char *op);
/* Normalises a possibly negative dim against ndim; -1 + error when out of range. The
 * extra argument allows dim == ndim (unsqueeze). */
int tensor_norm_dim(int dim, int ndim, int extra, const char *op, const lpo_tensor *t);
/* Validates a shape (0 <= ndim <= 8, sizes >= 0, no overflow); stores numel. */
int tensor_check_shape(int ndim, const int64_t *shape, int64_t *numel, const char *op);
/* A new handle over storage s (takes one reference, caller already counted it). */
lpo_tensor *tensor_header(lpo_storage *s, int dtype, int ndim, const int64_t *shape,
                          const int64_t *strides, int64_t offset);
/* A new contiguous zero-filled tensor; no argument checks beyond the shape. */
lpo_tensor *tensor_new(int dtype, int ndim, const int64_t *shape, const char *op);
void tensor_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);

/* Strided iteration over a shape for up to 3 operands sharing it (strides may be 0 for
 * broadcast). Size-1 dims are dropped and adjacent dims merged when every operand allows,
 * so a contiguous tensor becomes a single run. Each step gives the element offsets of the
 * start of a run of `inner` elements, whose strides are inner_stride[k]. */
typedef struct tensor_iter {
  int ndim, nops, done, started;
  int64_t inner;
  int64_t inner_stride[3];
  int64_t shape[LPO_MAX_DIMS], idx[LPO_MAX_DIMS];
  int64_t strides[3][LPO_MAX_DIMS];
  int64_t offs[3];
} tensor_iter;
void tensor_iter_init(tensor_iter *it, int ndim, const int64_t *shape, int nops,
                      const int64_t *const *strides, const int64_t *offsets);
int tensor_iter_next(tensor_iter *it);

/* Row transfer with conversion: n elements starting at element offset `off` of `base`,
 * `stride` elements apart. Float -> integer truncates toward zero and saturates, NaN -> 0. */
void tensor_load_f32(float *dst, const void *base, int dtype, int64_t off, int64_t stride, int64_t n);
void tensor_load_i64(int64_t *dst, const void *base, int dtype, int64_t off, int64_t stride, int64_t n);
void tensor_store_f32(void *base, int dtype, int64_t off, int64_t stride, const float *src, int64_t n);
void tensor_store_i64(void *base, int dtype, int64_t off, int64_t stride, const int64_t *src, int64_t n);
int64_t tensor_f64_to_i64(double v);   /* truncate, saturate, NaN -> 0 */
/* One double into element `off` of an array of dtype: floats round, integers truncate and
 * saturate at that dtype's range (so set/fill/from_f64 never wrap). */
void tensor_store_f64(void *base, int dtype, int64_t off, double v);

/* copy_ without the argument checks: dst and src have the same shape after broadcasting
 * src (strides 0), dst has no overlapping elements, and they do not share storage. */
void tensor_copy_unchecked(lpo_tensor *dst, const lpo_tensor *src);
#endif
