/* tensor_matmul.c — matmul with torch's rules, through OpenBLAS cblas_sgemm.
 *
 *   [k] @ [k] -> []                (dot)
 *   [m,k] @ [k,n] -> [m,n]
 *   [k] @ [...,k,n] -> [...,n]     (1-D left operand: a row, removed again)
 *   [...,m,k] @ [k] -> [...,m]     (1-D right operand: a column, removed again)
 *   [B...,m,k] @ [B'...,k,n] -> [broadcast(B,B')...,m,n]
 *
 * f32 goes straight to sgemm; bf16/f16 are converted to f32, multiplied, and rounded back
 * to the promoted dtype. Integer matmul is refused with a clear error: it is not needed
 * for exploration and an f32 product of large integers would silently lose digits.
 * Each matrix whose last two dims are row-major or column-major with a usable leading
 * dimension is passed as is (with the transpose flag), so a transposed weight is not
 * copied; any other layout (expanded, sliced with steps) is made contiguous first. */
#include "tensor_impl.h"
#include <cblas.h>
#include <limits.h>
#include <string.h>

typedef struct mat_layout { int trans; int64_t ld; } mat_layout;

/* Can the [rows, cols] matrix at the end of t be read by BLAS without a copy? */
static int blas_layout(const lpo_tensor *t, mat_layout *L) {
  int64_t rows = t->shape[t->ndim - 2], cols = t->shape[t->ndim - 1];
  int64_t sr = t->strides[t->ndim - 2], sc = t->strides[t->ndim - 1];
  if ((sc == 1 || cols == 1) && sr >= (cols > 1 ? cols : 1) && sr < INT_MAX) { L->trans = 0; L->ld = sr; return 1; }
  if ((sr == 1 || rows == 1) && sc >= (rows > 1 ? rows : 1) && sc < INT_MAX) { L->trans = 1; L->ld = sc; return 1; }
  return 0;
}

/* Brings an operand to f32 with a BLAS-readable layout (new handle; alias when it is). */
static lpo_tensor *prepare(const lpo_tensor *t, mat_layout *L) {
  lpo_tensor *f = t->dtype == LPO_F32 ? lpo_tensor_alias(t) : lpo_tensor_to_dtype(t, LPO_F32);
  if (!f || blas_layout(f, L)) return f;
  lpo_tensor *c = lpo_tensor_clone(f);
  lpo_tensor_free(f);
  if (c && !blas_layout(c, L)) LPO_ASSERT(!"a contiguous matrix must have a BLAS layout");
  return c;
}

/* a, b: at least 2-D; oa, ob: the operands as the caller gave them (for messages). */
static lpo_tensor *matmul_nd(const lpo_tensor *a, const lpo_tensor *b, int out_dtype,
                             const lpo_tensor *oa, const lpo_tensor *ob) {
  char s0[SHAPE_BUF], s1[SHAPE_BUF];
  int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
  int64_t k2 = b->shape[b->ndim - 2], n = b->shape[b->ndim - 1];
  if (k != k2) {
    lpo_set_error("matmul: shapes %s and %s are not aligned (inner sizes %lld and %lld differ)",
                  tensor_shape_fmt(s0, oa->ndim, oa->shape), tensor_shape_fmt(s1, ob->ndim, ob->shape),
                  (long long)k, (long long)k2);
    return NULL;
  }
  if (m >= INT_MAX || n >= INT_MAX || k >= INT_MAX) { lpo_set_error("matmul: matrix sizes beyond BLAS's int range"); return NULL; }
  int64_t bshape[LPO_MAX_DIMS];
  int nb = lpo_broadcast_shapes(a->ndim - 2, a->shape, b->ndim - 2, b->shape, bshape);
  if (nb < 0 || nb + 2 > LPO_MAX_DIMS) {
    lpo_set_error("matmul: batch dims of shapes %s and %s cannot broadcast",
                  tensor_shape_fmt(s0, oa->ndim, oa->shape), tensor_shape_fmt(s1, ob->ndim, ob->shape));
    return NULL;
  }
  int64_t oshape[LPO_MAX_DIMS];
  memcpy(oshape, bshape, (size_t)nb * sizeof *oshape);
  oshape[nb] = m; oshape[nb + 1] = n;
  lpo_tensor *out = tensor_new(LPO_F32, nb + 2, oshape, "matmul");
  if (!out) return NULL;
  mat_layout La, Lb;
  lpo_tensor *fa = prepare(a, &La), *fb = fa ? prepare(b, &Lb) : NULL;
  if (!fa || !fb) { lpo_tensor_free(fa); lpo_tensor_free(out); return NULL; }
  if (m > 0 && n > 0 && k > 0) {
    /* Batch strides of each operand at the broadcast batch shape (0 where broadcast). */
    int64_t sa[LPO_MAX_DIMS] = { 0 }, sb[LPO_MAX_DIMS] = { 0 };
    for (int i = 0; i < fa->ndim - 2; i++) { int j = nb - (fa->ndim - 2) + i; sa[j] = fa->shape[i] == 1 ? 0 : fa->strides[i]; }
    for (int i = 0; i < fb->ndim - 2; i++) { int j = nb - (fb->ndim - 2) + i; sb[j] = fb->shape[i] == 1 ? 0 : fb->strides[i]; }
    const int64_t *strides[3] = { out->strides, sa, sb };
    int64_t offs[3] = { 0, fa->offset, fb->offset };
    tensor_iter it;
    tensor_iter_init(&it, nb, bshape, 3, strides, offs);
    const float *A = fa->data, *B = fb->data;
    float *C = out->data;
    while (tensor_iter_next(&it)) {
      for (int64_t i = 0; i < it.inner; i++) {
        cblas_sgemm(CblasRowMajor, La.trans ? CblasTrans : CblasNoTrans, Lb.trans ? CblasTrans : CblasNoTrans,
                    (int)m, (int)n, (int)k, 1.0f, A + it.offs[1] + i * it.inner_stride[1], (int)La.ld,
                    B + it.offs[2] + i * it.inner_stride[2], (int)Lb.ld, 0.0f,
                    C + it.offs[0] + i * it.inner_stride[0], (int)n);
      }
    }
  }
  lpo_tensor_free(fa);
  lpo_tensor_free(fb);
  if (out_dtype == LPO_F32) return out;
  lpo_tensor *r = lpo_tensor_to_dtype(out, out_dtype);
  lpo_tensor_free(out);
  return r;
}

lpo_tensor *lpo_tensor_matmul(const lpo_tensor *a, const lpo_tensor *b) {
  if (tensor_check_cpu(a, "matmul") || tensor_check_cpu(b, "matmul")) return NULL;
  char s0[SHAPE_BUF], s1[SHAPE_BUF];
  if (!dtype_is_float(a->dtype) || !dtype_is_float(b->dtype)) {
    lpo_set_error("matmul: dtypes %s and %s: integer matmul is not supported (convert with to_dtype f32)",
                  lpo_dtype_name(a->dtype), lpo_dtype_name(b->dtype));
    return NULL;
  }
  if (a->ndim == 0 || b->ndim == 0) {
    lpo_set_error("matmul: shapes %s and %s: both operands need at least 1 dim (use mul for scalars)",
                  tensor_shape_fmt(s0, a->ndim, a->shape), tensor_shape_fmt(s1, b->ndim, b->shape));
    return NULL;
  }
  int dt = lpo_promote_types(a->dtype, b->dtype);
  /* 1-D operands become a row (left) or a column (right); that dim is removed after. */
  lpo_tensor *a2 = a->ndim == 1 ? lpo_tensor_unsqueeze(a, 0) : lpo_tensor_alias(a);
  lpo_tensor *b2 = b->ndim == 1 ? lpo_tensor_unsqueeze(b, 1) : lpo_tensor_alias(b);
  lpo_tensor *r = a2 && b2 ? matmul_nd(a2, b2, dt, a, b) : NULL;
  lpo_tensor_free(a2);
  lpo_tensor_free(b2);
  if (r && b->ndim == 1) { lpo_tensor *s = lpo_tensor_squeeze(r, -1); lpo_tensor_free(r); r = s; }
  if (r && a->ndim == 1) { lpo_tensor *s = lpo_tensor_squeeze(r, b->ndim == 1 ? -1 : -2); lpo_tensor_free(r); r = s; }
  return r;
}
