/* tensor_view.c — views: new handles over the same storage with other shape, strides or
 * offset (reshape/view, transpose, permute, narrow, slice, select, squeeze, unsqueeze,
 * expand), plus contiguous and clone, which copy when they must. */
#include "tensor_impl.h"
#include <string.h>

static lpo_tensor *make_view(const lpo_tensor *t, int ndim, const int64_t *shape,
                             const int64_t *strides, int64_t offset) {
  atomic_fetch_add(&t->storage->refcount, 1);
  return tensor_header(t->storage, t->dtype, ndim, shape, strides, offset);
}

/* Resolves one -1 in a requested shape against numel; checks the element count. */
static int infer_shape(const lpo_tensor *t, int ndim, const int64_t *shape, int64_t *out, const char *op) {
  char s0[SHAPE_BUF], s1[SHAPE_BUF];
  if (ndim < 0 || ndim > LPO_MAX_DIMS) return lpo_set_error("%s: %d dims (at most %d)", op, ndim, LPO_MAX_DIMS);
  if (!shape && ndim > 0) return lpo_set_error("%s: shape is NULL", op);
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < ndim; i++) {
    out[i] = shape[i];
    if (shape[i] == -1) {
      if (infer >= 0) return lpo_set_error("%s: only one size may be -1 in %s", op, tensor_shape_fmt(s0, ndim, shape));
      infer = i;
    } else if (shape[i] < 0) {
      return lpo_set_error("%s: negative size in shape %s", op, tensor_shape_fmt(s0, ndim, shape));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || t->numel % known != 0)
      return lpo_set_error("%s: shape %s is invalid for input of shape %s (%lld elements)", op,
                           tensor_shape_fmt(s0, ndim, shape), tensor_shape_fmt(s1, t->ndim, t->shape), (long long)t->numel);
    out[infer] = t->numel / known;
  } else if (known != t->numel) {
    return lpo_set_error("%s: shape %s is invalid for input of shape %s (%lld elements)", op,
                         tensor_shape_fmt(s0, ndim, shape), tensor_shape_fmt(s1, t->ndim, t->shape), (long long)t->numel);
  }
  return 0;
}

/* Strides for viewing t with a new shape of the same numel without copying, or -1 when
 * the memory layout does not allow it. Walks the old dims from the innermost, grouping
 * them into runs that are contiguous with each other; each run must be covered exactly
 * by a run of new dims (the same rule torch's view follows). */
static int view_strides(const lpo_tensor *t, int ndim, const int64_t *shape, int64_t *strides) {
  if (t->numel == 0 || t->ndim == 0 || lpo_tensor_is_contiguous(t)) {
    tensor_contiguous_strides(ndim, shape, strides);
    return 0;
  }
  int view_d = ndim - 1;
  int64_t chunk_stride = t->strides[t->ndim - 1], tensor_numel = 1, view_numel = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    tensor_numel *= t->shape[d];
    if (d == 0 || (t->shape[d - 1] != 1 && t->strides[d - 1] != tensor_numel * chunk_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_stride;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return -1;
      if (d > 0) { chunk_stride = t->strides[d - 1]; tensor_numel = 1; view_numel = 1; }
    }
  }
  return view_d == -1 ? 0 : -1;
}

lpo_tensor *lpo_tensor_view(const lpo_tensor *t, int ndim, const int64_t *shape) {
  int64_t s[LPO_MAX_DIMS], st[LPO_MAX_DIMS];
  if (tensor_check_alive(t, "view") || infer_shape(t, ndim, shape, s, "view")) return NULL;
  if (view_strides(t, ndim, s, st)) {
    char a[SHAPE_BUF], b[SHAPE_BUF];
    lpo_set_error("view: cannot view a tensor of shape %s with these strides as %s without a copy (use reshape)",
                  tensor_shape_fmt(a, t->ndim, t->shape), tensor_shape_fmt(b, ndim, s));
    return NULL;
  }
  return make_view(t, ndim, s, st, t->offset);
}

lpo_tensor *lpo_tensor_reshape(const lpo_tensor *t, int ndim, const int64_t *shape) {
  int64_t s[LPO_MAX_DIMS], st[LPO_MAX_DIMS];
  if (tensor_check_alive(t, "reshape") || infer_shape(t, ndim, shape, s, "reshape")) return NULL;
  if (view_strides(t, ndim, s, st) == 0) return make_view(t, ndim, s, st, t->offset);
  lpo_tensor *c = lpo_tensor_clone(t);
  if (!c) return NULL;
  lpo_tensor *v = lpo_tensor_view(c, ndim, s);
  lpo_tensor_free(c);
  return v;
}

lpo_tensor *lpo_tensor_transpose(const lpo_tensor *t, int dim0, int dim1) {
  if (tensor_check_alive(t, "transpose")) return NULL;
  if (t->ndim == 0 && (dim0 == 0 || dim0 == -1) && (dim1 == 0 || dim1 == -1)) return lpo_tensor_alias(t);
  int d0 = tensor_norm_dim(dim0, t->ndim, 0, "transpose", t);
  int d1 = d0 < 0 ? -1 : tensor_norm_dim(dim1, t->ndim, 0, "transpose", t);
  if (d1 < 0) return NULL;
  int64_t shape[LPO_MAX_DIMS], strides[LPO_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  memcpy(strides, t->strides, sizeof strides);
  shape[d0] = t->shape[d1]; shape[d1] = t->shape[d0];
  strides[d0] = t->strides[d1]; strides[d1] = t->strides[d0];
  return make_view(t, t->ndim, shape, strides, t->offset);
}

lpo_tensor *lpo_tensor_permute(const lpo_tensor *t, const int *dims) {
  if (tensor_check_alive(t, "permute")) return NULL;
  int64_t shape[LPO_MAX_DIMS], strides[LPO_MAX_DIMS];
  int seen[LPO_MAX_DIMS] = { 0 };
  for (int i = 0; i < t->ndim; i++) {
    int d = tensor_norm_dim(dims[i], t->ndim, 0, "permute", t);
    if (d < 0) return NULL;
    if (seen[d]++) { lpo_set_error("permute: dim %d appears twice", d); return NULL; }
    shape[i] = t->shape[d];
    strides[i] = t->strides[d];
  }
  return make_view(t, t->ndim, shape, strides, t->offset);
}

lpo_tensor *lpo_tensor_slice(const lpo_tensor *t, int dim, int64_t start, int64_t stop, int64_t step) {
  if (tensor_check_alive(t, "slice")) return NULL;
  int d = tensor_norm_dim(dim, t->ndim, 0, "slice", t);
  if (d < 0) return NULL;
  int64_t size = t->shape[d];
  char s[SHAPE_BUF];
  if (step <= 0) { lpo_set_error("slice: step %lld must be positive", (long long)step); return NULL; }
  if (start < 0 || stop < start || stop > size) {
    lpo_set_error("slice: dim %d range [%lld, %lld) out of range for shape %s", d, (long long)start,
                  (long long)stop, tensor_shape_fmt(s, t->ndim, t->shape));
    return NULL;
  }
  int64_t shape[LPO_MAX_DIMS], strides[LPO_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  memcpy(strides, t->strides, sizeof strides);
  shape[d] = (stop - start + step - 1) / step;
  strides[d] = t->strides[d] * step;
  return make_view(t, t->ndim, shape, strides, t->offset + start * t->strides[d]);
}

lpo_tensor *lpo_tensor_narrow(const lpo_tensor *t, int dim, int64_t start, int64_t length) {
  if (tensor_check_alive(t, "narrow")) return NULL;
  int d = tensor_norm_dim(dim, t->ndim, 0, "narrow", t);
  if (d < 0) return NULL;
  if (start < 0 || length < 0 || start > t->shape[d] - length) {
    char s[SHAPE_BUF];
    lpo_set_error("narrow: dim %d start %lld length %lld out of range for shape %s", d, (long long)start,
                  (long long)length, tensor_shape_fmt(s, t->ndim, t->shape));
    return NULL;
  }
  return lpo_tensor_slice(t, d, start, start + length, 1);
}

lpo_tensor *lpo_tensor_select(const lpo_tensor *t, int dim, int64_t index) {
  if (tensor_check_alive(t, "select")) return NULL;
  int d = tensor_norm_dim(dim, t->ndim, 0, "select", t);
  if (d < 0) return NULL;
  if (index < 0 || index >= t->shape[d]) {
    char s[SHAPE_BUF];
    lpo_set_error("select: index %lld out of range for dim %d of shape %s", (long long)index, d,
                  tensor_shape_fmt(s, t->ndim, t->shape));
    return NULL;
  }
  int64_t shape[LPO_MAX_DIMS], strides[LPO_MAX_DIMS];
  for (int i = 0, j = 0; i < t->ndim; i++)
    if (i != d) { shape[j] = t->shape[i]; strides[j] = t->strides[i]; j++; }
  return make_view(t, t->ndim - 1, shape, strides, t->offset + index * t->strides[d]);
}

lpo_tensor *lpo_tensor_unsqueeze(const lpo_tensor *t, int dim) {
  if (tensor_check_alive(t, "unsqueeze")) return NULL;
  if (t->ndim >= LPO_MAX_DIMS) { lpo_set_error("unsqueeze: tensor already has %d dims", LPO_MAX_DIMS); return NULL; }
  int d = tensor_norm_dim(dim, t->ndim, 1, "unsqueeze", t);
  if (d < 0) return NULL;
  int64_t shape[LPO_MAX_DIMS], strides[LPO_MAX_DIMS];
  for (int i = 0, j = 0; i <= t->ndim; i++) {
    if (i == d) {
      shape[i] = 1;
      strides[i] = d < t->ndim ? t->strides[d] * t->shape[d] : 1;
    } else {
      shape[i] = t->shape[j]; strides[i] = t->strides[j]; j++;
    }
  }
  return make_view(t, t->ndim + 1, shape, strides, t->offset);
}

lpo_tensor *lpo_tensor_squeeze(const lpo_tensor *t, int dim) {
  if (tensor_check_alive(t, "squeeze")) return NULL;
  int d = -1;
  if (dim >= -t->ndim) {
    d = tensor_norm_dim(dim, t->ndim, 0, "squeeze", t);
    if (d < 0) return NULL;
  }
  int64_t shape[LPO_MAX_DIMS], strides[LPO_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < t->ndim; i++) {
    int drop = t->shape[i] == 1 && (d < 0 || d == i);
    if (!drop) { shape[n] = t->shape[i]; strides[n] = t->strides[i]; n++; }
  }
  return make_view(t, n, shape, strides, t->offset);
}

lpo_tensor *lpo_tensor_expand(const lpo_tensor *t, int ndim, const int64_t *shape) {
  if (tensor_check_alive(t, "expand")) return NULL;
  char a[SHAPE_BUF], b[SHAPE_BUF];
  if (ndim < t->ndim || ndim > LPO_MAX_DIMS || (!shape && ndim > 0)) {
    lpo_set_error("expand: cannot expand shape %s to %d dims", tensor_shape_fmt(a, t->ndim, t->shape), ndim);
    return NULL;
  }
  int64_t out[LPO_MAX_DIMS], strides[LPO_MAX_DIMS];
  int lead = ndim - t->ndim;
  for (int i = 0; i < ndim; i++) {
    int64_t want = shape[i];
    if (i < lead) {
      if (want < 0) goto bad;
      out[i] = want; strides[i] = 0;
      continue;
    }
    int64_t have = t->shape[i - lead];
    if (want == -1) want = have;
    if (want == have) { out[i] = have; strides[i] = t->strides[i - lead]; }
    else if (have == 1 && want >= 0) { out[i] = want; strides[i] = 0; }
    else goto bad;
  }
  if (tensor_check_shape(ndim, out, NULL, "expand")) return NULL;
  return make_view(t, ndim, out, strides, t->offset);
bad:
  lpo_set_error("expand: shape %s cannot be expanded to %s", tensor_shape_fmt(a, t->ndim, t->shape),
                tensor_shape_fmt(b, ndim, shape));
  return NULL;
}

lpo_tensor *lpo_tensor_clone(const lpo_tensor *t) {
  if (tensor_check_cpu(t, "clone")) return NULL;
  lpo_tensor *c = tensor_new(t->dtype, t->ndim, t->shape, "clone");
  if (c) tensor_copy_unchecked(c, t);
  return c;
}

lpo_tensor *lpo_tensor_contiguous(const lpo_tensor *t) {
  if (tensor_check_alive(t, "contiguous")) return NULL;
  if (lpo_tensor_is_contiguous(t)) return lpo_tensor_alias(t);
  return lpo_tensor_clone(t);
}
