/* cuda_stub.c — linked instead of the .cu files of engine/cuda when the build has no CUDA toolkit. */
#include "lpo.h"
int lpo_cuda_device_count(void) { return 0; }
const char *lpo_cuda_status(void) { return "built without CUDA (no nvcc at configure time)"; }
#include "lpo_cuda.h"
static int no_cuda(void) { return lpo_set_error("cuda: %s", lpo_cuda_status()); }
void *lpo_cuda_alloc(int64_t bytes) { (void)bytes; no_cuda(); return 0; }
void lpo_cuda_free(void *ptr, int64_t bytes) { (void)ptr; (void)bytes; }
int lpo_cuda_memcpy_h2d(void *d, const void *s, int64_t b) { (void)d; (void)s; (void)b; return no_cuda(); }
int lpo_cuda_memcpy_d2h(void *d, const void *s, int64_t b) { (void)d; (void)s; (void)b; return no_cuda(); }
int lpo_cuda_fill_f32(float *d, int64_t n, float v) { (void)d; (void)n; (void)v; return no_cuda(); }
int lpo_cuda_copy_f32(float *d, const float *s, int64_t n) { (void)d; (void)s; (void)n; return no_cuda(); }
int lpo_cuda_add_f32(float *o, const float *a, const float *b, int64_t n) { (void)o; (void)a; (void)b; (void)n; return no_cuda(); }
