/* tensor_elementwise.c — binary ops with numpy broadcasting and type promotion, scalar
 * forms, and unary ops, over any strided view.
 *
 * Every op walks the broadcast output shape with the strided iterator; each run of the
 * innermost (merged) dim goes through a kernel on the compute type (f32 or i64). When all
 * operands are f32 the kernel reads and writes the storage directly; otherwise runs are
 * staged through TENSOR_CHUNK-sized buffers with conversion on load and store. */
#include "tensor_impl.h"
#include <math.h>
#include <string.h>

const char *lpo_binop_name(int op) {
  static const char *names[LPO_NBINOPS] = { "add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                            "eq", "ne", "lt", "le", "gt", "ge" };
  return op >= 0 && op < LPO_NBINOPS ? names[op] : "binary";
}

const char *lpo_unop_name(int op) {
  static const char *names[LPO_NUNOPS] = { "neg", "abs", "exp", "log", "sqrt", "tanh", "sigmoid", "relu" };
  return op >= 0 && op < LPO_NUNOPS ? names[op] : "unary";
}

int lpo_broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int64_t *out) {
  int n = na > nb ? na : nb;
  for (int i = 0; i < n; i++) {
    int ia = i - (n - na), ib = i - (n - nb);
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) return -1;
    out[i] = da == 1 ? db : da;
  }
  return n;
}

/* Strides of t viewed at the broadcast shape (ndim dims): 0 where t is broadcast. */
static void broadcast_strides(const lpo_tensor *t, int ndim, int64_t *strides) {
  int lead = ndim - t->ndim;
  for (int i = 0; i < ndim; i++)
    strides[i] = i < lead || t->shape[i - lead] == 1 ? 0 : t->strides[i - lead];
}

/* ---- kernels: n results, a and b with strides (0 = broadcast), o contiguous ---- */

#define LOOP(expr) for (int64_t i = 0; i < n; i++) { float x = a[i * sa], y = b[i * sb]; o[i] = (expr); } break
static void binary_f32(int op, int64_t n, float *o, const float *a, int64_t sa, const float *b, int64_t sb) {
  switch (op) {
  case LPO_ADD: LOOP(x + y);
  case LPO_SUB: LOOP(x - y);
  case LPO_MUL: LOOP(x * y);
  case LPO_DIV: LOOP(x / y);
  case LPO_POW: LOOP(powf(x, y));
  case LPO_MAXIMUM: LOOP(x > y || x != x ? x : y);   /* NaN propagates, as in torch */
  case LPO_MINIMUM: LOOP(x < y || x != x ? x : y);
  case LPO_EQ: LOOP((float)(x == y));
  case LPO_NE: LOOP((float)(x != y));
  case LPO_LT: LOOP((float)(x < y));
  case LPO_LE: LOOP((float)(x <= y));
  case LPO_GT: LOOP((float)(x > y));
  case LPO_GE: LOOP((float)(x >= y));
  default: LPO_ASSERT(!"bad binary op");
  }
}
#undef LOOP

/* Integer power by squaring with wrapping; negative exponents truncate like 1/x^k. */
static int64_t ipow(int64_t x, int64_t k) {
  if (k < 0) return x == 1 ? 1 : x == -1 ? (k & 1 ? -1 : 1) : 0;
  uint64_t r = 1, b = (uint64_t)x;
  while (k) { if (k & 1) r *= b; b *= b; k >>= 1; }
  return (int64_t)r;
}

/* Signed wraparound through uint64_t: defined behaviour, same bits torch produces. */
#define LOOP(expr) for (int64_t i = 0; i < n; i++) { int64_t x = a[i], y = b[i]; o[i] = (expr); } break
static void binary_i64(int op, int64_t n, int64_t *o, const int64_t *a, const int64_t *b) {
  switch (op) {
  case LPO_ADD: LOOP((int64_t)((uint64_t)x + (uint64_t)y));
  case LPO_SUB: LOOP((int64_t)((uint64_t)x - (uint64_t)y));
  case LPO_MUL: LOOP((int64_t)((uint64_t)x * (uint64_t)y));
  case LPO_POW: LOOP(ipow(x, y));
  case LPO_MAXIMUM: LOOP(x > y ? x : y);
  case LPO_MINIMUM: LOOP(x < y ? x : y);
  case LPO_EQ: LOOP(x == y);
  case LPO_NE: LOOP(x != y);
  case LPO_LT: LOOP(x < y);
  case LPO_LE: LOOP(x <= y);
  case LPO_GT: LOOP(x > y);
  case LPO_GE: LOOP(x >= y);
  default: LPO_ASSERT(!"bad integer binary op");   /* div always computes in f32 */
  }
}
#undef LOOP

/* out = a op b at out's shape; a and b broadcast; compute in f32 or i64. */
static void binary_run(int op, lpo_tensor *out, const lpo_tensor *a, const lpo_tensor *b, int as_float) {
  int64_t sa[LPO_MAX_DIMS], sb[LPO_MAX_DIMS];
  broadcast_strides(a, out->ndim, sa);
  broadcast_strides(b, out->ndim, sb);
  const int64_t *strides[3] = { out->strides, sa, sb };
  int64_t offs[3] = { 0, a->offset, b->offset };
  tensor_iter it;
  tensor_iter_init(&it, out->ndim, out->shape, 3, strides, offs);
  int direct = as_float && out->dtype == LPO_F32 && a->dtype == LPO_F32 && b->dtype == LPO_F32;
  float fa[TENSOR_CHUNK], fb[TENSOR_CHUNK], fo[TENSOR_CHUNK];
  int64_t ia[TENSOR_CHUNK], ib[TENSOR_CHUNK], io[TENSOR_CHUNK];
  while (tensor_iter_next(&it)) {
    int64_t so = it.inner_stride[0], s1 = it.inner_stride[1], s2 = it.inner_stride[2];
    if (direct && so == 1) {
      binary_f32(op, it.inner, (float *)out->data + it.offs[0], (const float *)a->data + it.offs[1], s1,
                 (const float *)b->data + it.offs[2], s2);
      continue;
    }
    for (int64_t i = 0; i < it.inner; i += TENSOR_CHUNK) {
      int64_t n = it.inner - i < TENSOR_CHUNK ? it.inner - i : TENSOR_CHUNK;
      int64_t o0 = it.offs[0] + i * so, a0 = it.offs[1] + i * s1, b0 = it.offs[2] + i * s2;
      if (as_float) {
        tensor_load_f32(fa, a->data, a->dtype, a0, s1, n);
        tensor_load_f32(fb, b->data, b->dtype, b0, s2, n);
        binary_f32(op, n, fo, fa, 1, fb, 1);
        tensor_store_f32(out->data, out->dtype, o0, so, fo, n);
      } else {
        tensor_load_i64(ia, a->data, a->dtype, a0, s1, n);
        tensor_load_i64(ib, b->data, b->dtype, b0, s2, n);
        binary_i64(op, n, io, ia, ib);
        tensor_store_i64(out->data, out->dtype, o0, so, io, n);
      }
    }
  }
}

static lpo_tensor *binary_impl(int op, const lpo_tensor *a, const lpo_tensor *b, int out_dtype, int as_float) {
  const char *name = lpo_binop_name(op);
  int64_t shape[LPO_MAX_DIMS];
  int ndim = lpo_broadcast_shapes(a->ndim, a->shape, b->ndim, b->shape, shape);
  if (ndim < 0) {
    char s0[SHAPE_BUF], s1[SHAPE_BUF];
    lpo_set_error("%s: shapes %s and %s cannot broadcast", name, tensor_shape_fmt(s0, a->ndim, a->shape),
                  tensor_shape_fmt(s1, b->ndim, b->shape));
    return NULL;
  }
  lpo_tensor *out = tensor_new(out_dtype, ndim, shape, name);
  if (out) binary_run(op, out, a, b, as_float);
  return out;
}

static int is_compare(int op) { return op >= LPO_EQ && op <= LPO_GE; }

lpo_tensor *lpo_tensor_binary(int op, const lpo_tensor *a, const lpo_tensor *b) {
  if (op < 0 || op >= LPO_NBINOPS) { lpo_set_error("binary: unknown op %d", op); return NULL; }
  const char *name = lpo_binop_name(op);
  if (tensor_check_cpu(a, name) || tensor_check_cpu(b, name)) return NULL;
  int dt = lpo_promote_types(a->dtype, b->dtype);
  int as_float = dtype_is_float(dt) || op == LPO_DIV;    /* true division, as torch */
  int out = is_compare(op) ? LPO_I32 : (as_float && !dtype_is_float(dt) ? LPO_F32 : dt);
  return binary_impl(op, a, b, out, as_float);
}

lpo_tensor *lpo_tensor_binary_scalar(int op, const lpo_tensor *a, double s, int scalar_first) {
  if (op < 0 || op >= LPO_NBINOPS) { lpo_set_error("binary: unknown op %d", op); return NULL; }
  const char *name = lpo_binop_name(op);
  if (tensor_check_cpu(a, name)) return NULL;
  /* A scalar keeps the tensor's dtype unless it changes category: i64 * 2.5 -> f32. */
  int integral = isfinite(s) && s == floor(s) && fabs(s) < 9.2e18;
  int as_float = dtype_is_float(a->dtype) || !integral || op == LPO_DIV;
  int out = is_compare(op) ? LPO_I32 : (as_float && !dtype_is_float(a->dtype) ? LPO_F32 : a->dtype);
  int64_t one = 1;
  lpo_tensor *st = tensor_new(as_float ? LPO_F32 : LPO_I64, 0, &one, name);
  if (!st) return NULL;
  if (as_float) *(float *)st->data = (float)s;
  else *(int64_t *)st->data = (int64_t)s;
  lpo_tensor *r = scalar_first ? binary_impl(op, st, a, out, as_float) : binary_impl(op, a, st, out, as_float);
  lpo_tensor_free(st);
  return r;
}

/* ---- unary ---- */

#define LOOP(expr) for (int64_t i = 0; i < n; i++) { float x = a[i * sa]; o[i] = (expr); } break
static void unary_f32(int op, int64_t n, float *o, const float *a, int64_t sa) {
  switch (op) {
  case LPO_NEG: LOOP(-x);
  case LPO_ABS: LOOP(fabsf(x));
  case LPO_EXP: LOOP(expf(x));
  case LPO_LOG: LOOP(logf(x));
  case LPO_SQRT: LOOP(sqrtf(x));
  case LPO_TANH: LOOP(tanhf(x));
  case LPO_SIGMOID: LOOP(1.0f / (1.0f + expf(-x)));
  case LPO_RELU: LOOP(x > 0 ? x : (x != x ? x : 0.0f));
  default: LPO_ASSERT(!"bad unary op");
  }
}
#undef LOOP

#define LOOP(expr) for (int64_t i = 0; i < n; i++) { int64_t x = a[i]; o[i] = (expr); } break
static void unary_i64(int op, int64_t n, int64_t *o, const int64_t *a) {
  switch (op) {
  case LPO_NEG: LOOP((int64_t)(0u - (uint64_t)x));
  case LPO_ABS: LOOP(x < 0 ? (int64_t)(0u - (uint64_t)x) : x);
  case LPO_RELU: LOOP(x > 0 ? x : 0);
  default: LPO_ASSERT(!"bad integer unary op");
  }
}
#undef LOOP

lpo_tensor *lpo_tensor_unary(int op, const lpo_tensor *a) {
  if (op < 0 || op >= LPO_NUNOPS) { lpo_set_error("unary: unknown op %d", op); return NULL; }
  const char *name = lpo_unop_name(op);
  if (tensor_check_cpu(a, name)) return NULL;
  int keeps_int = op == LPO_NEG || op == LPO_ABS || op == LPO_RELU;
  int as_float = dtype_is_float(a->dtype) || !keeps_int;
  lpo_tensor *out = tensor_new(as_float && !dtype_is_float(a->dtype) ? LPO_F32 : a->dtype, a->ndim, a->shape, name);
  if (!out) return NULL;
  const int64_t *strides[2] = { out->strides, a->strides };
  int64_t offs[2] = { 0, a->offset };
  tensor_iter it;
  tensor_iter_init(&it, a->ndim, a->shape, 2, strides, offs);
  int direct = a->dtype == LPO_F32 && out->dtype == LPO_F32;
  float fa[TENSOR_CHUNK], fo[TENSOR_CHUNK];
  int64_t ia[TENSOR_CHUNK], io[TENSOR_CHUNK];
  while (tensor_iter_next(&it)) {
    int64_t so = it.inner_stride[0], sa = it.inner_stride[1];
    if (direct && so == 1) {
      unary_f32(op, it.inner, (float *)out->data + it.offs[0], (const float *)a->data + it.offs[1], sa);
      continue;
    }
    for (int64_t i = 0; i < it.inner; i += TENSOR_CHUNK) {
      int64_t n = it.inner - i < TENSOR_CHUNK ? it.inner - i : TENSOR_CHUNK;
      if (as_float) {
        tensor_load_f32(fa, a->data, a->dtype, it.offs[1] + i * sa, sa, n);
        unary_f32(op, n, fo, fa, 1);
        tensor_store_f32(out->data, out->dtype, it.offs[0] + i * so, so, fo, n);
      } else {
        tensor_load_i64(ia, a->data, a->dtype, it.offs[1] + i * sa, sa, n);
        unary_i64(op, n, io, ia);
        tensor_store_i64(out->data, out->dtype, it.offs[0] + i * so, so, io, n);
      }
    }
  }
  return out;
}
