/* lpo_cuda.h — the first CUDA kernels (fill, copy, add on f32) and device memory.
 * Every function fails with an error (never aborts) when no GPU is present, so callers
 * and tests can skip loudly. The full GPU backend arrives behind the backend vtable. */
#ifndef LPO_CUDA_H
#define LPO_CUDA_H
#include <stdint.h>
/* LPO_CDEF_BEGIN */
void *lpo_cuda_alloc(int64_t bytes);
void lpo_cuda_free(void *ptr, int64_t bytes);
int lpo_cuda_memcpy_h2d(void *dst, const void *src, int64_t bytes);
int lpo_cuda_memcpy_d2h(void *dst, const void *src, int64_t bytes);
int lpo_cuda_fill_f32(float *dst, int64_t n, float value);
int lpo_cuda_copy_f32(float *dst, const float *src, int64_t n);
int lpo_cuda_add_f32(float *out, const float *a, const float *b, int64_t n);
/* LPO_CDEF_END */
#endif
