/* backend_cpu.c — the two CPU op tables: the fast one (OpenBLAS + vectorised loops) that
 * the model uses, and the plain-C reference that tests hold it to. */
#include "lpo_backend.h"
#include "cpu/cpu.h"
#include <cblas.h>

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }
static void copy(float *dst, const float *src, size_t n) { memcpy(dst, src, n * sizeof(float)); }

static const lpo_backend cpu_fast = {
  .name = "cpu",
  .device = 0,
  .matmul_forward = lpo_cpu_matmul_forward,
  .matmul_backward = lpo_cpu_matmul_backward,
  .rmsnorm_forward = lpo_cpu_rmsnorm_forward,
  .rmsnorm_backward = lpo_cpu_rmsnorm_backward,
  .rope_forward = lpo_cpu_rope_forward,
  .rope_backward = lpo_cpu_rope_backward,
  .attention_forward = lpo_cpu_attention_forward,
  .attention_backward = lpo_cpu_attention_backward,
  .attention_cached = lpo_cpu_attention_cached,
  .kv_store = lpo_cpu_kv_store,
  .swiglu_forward = lpo_cpu_swiglu_forward,
  .swiglu_backward = lpo_cpu_swiglu_backward,
  .embedding_forward = lpo_cpu_embedding_forward,
  .embedding_backward = lpo_cpu_embedding_backward,
  .lmhead_forward = lpo_cpu_lmhead_forward,
  .lmhead_backward = lpo_cpu_lmhead_backward,
  .zero = zero,
  .copy = copy,
  .gather_rows = lpo_cpu_gather_rows,
  .scatter_add_rows = lpo_cpu_scatter_add_rows,
};

static const lpo_backend cpu_ref = {
  .name = "cpu-ref",
  .device = 0,
  .matmul_forward = lpo_cpu_matmul_forward_ref,
  .matmul_backward = lpo_cpu_matmul_backward_ref,
  .rmsnorm_forward = lpo_cpu_rmsnorm_forward_ref,
  .rmsnorm_backward = lpo_cpu_rmsnorm_backward_ref,
  .rope_forward = lpo_cpu_rope_forward,           /* a rotation: one obvious loop already */
  .rope_backward = lpo_cpu_rope_backward,
  .attention_forward = lpo_cpu_attention_forward_ref,
  .attention_backward = lpo_cpu_attention_backward_ref,
  .attention_cached = lpo_cpu_attention_cached,
  .kv_store = lpo_cpu_kv_store,
  .swiglu_forward = lpo_cpu_swiglu_forward_ref,
  .swiglu_backward = lpo_cpu_swiglu_backward_ref,
  .embedding_forward = lpo_cpu_embedding_forward,
  .embedding_backward = lpo_cpu_embedding_backward,
  .lmhead_forward = lpo_cpu_lmhead_forward_ref,
  .lmhead_backward = lpo_cpu_lmhead_backward_ref,
  .zero = zero,
  .copy = copy,
  .gather_rows = lpo_cpu_gather_rows,
  .scatter_add_rows = lpo_cpu_scatter_add_rows,
};

const lpo_backend *lpo_backend_cpu(void) { return &cpu_fast; }
const lpo_backend *lpo_backend_cpu_ref(void) { return &cpu_ref; }

int lpo_cpu_set_threads(int n) {
  if (n >= 1) openblas_set_num_threads(n);
  return openblas_get_num_threads();
}

int lpo_cpu_get_threads(void) { return openblas_get_num_threads(); }
