/* test_cuda.c — the first CUDA kernels against plain C loops; skipped loudly without a GPU. */
#include "lpo.h"
#include "lpo_cuda.h"
#include "check.h"
#include <stdlib.h>

int main(void) {
  if (lpo_cuda_device_count() == 0) {
    printf("SKIPPED: CUDA tests need a GPU: %s\n", lpo_cuda_status());
    return 77;  /* ctest SKIP_RETURN_CODE */
  }
  enum { N = 100003 };
  float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *out = malloc(N * sizeof *out);
  for (int i = 0; i < N; i++) { a[i] = (float)i * 0.5f; b[i] = 1.0f / (float)(i + 1); }
  float *da = lpo_cuda_alloc(N * 4), *db = lpo_cuda_alloc(N * 4), *dout = lpo_cuda_alloc(N * 4);
  CHECK(da && db && dout);
  CHECK(lpo_cuda_memcpy_h2d(da, a, N * 4) == 0);
  CHECK(lpo_cuda_memcpy_h2d(db, b, N * 4) == 0);
  CHECK(lpo_cuda_add_f32(dout, da, db, N) == 0);
  CHECK(lpo_cuda_memcpy_d2h(out, dout, N * 4) == 0);
  int bad = 0;
  for (int i = 0; i < N; i++) bad += out[i] != a[i] + b[i];
  CHECK_MSG(bad == 0, "%d mismatches in add", bad);
  CHECK(lpo_cuda_fill_f32(dout, N, 3.25f) == 0);
  CHECK(lpo_cuda_copy_f32(da, dout, N) == 0);
  CHECK(lpo_cuda_memcpy_d2h(out, da, N * 4) == 0);
  bad = 0;
  for (int i = 0; i < N; i++) bad += out[i] != 3.25f;
  CHECK_MSG(bad == 0, "%d mismatches in fill/copy", bad);
  lpo_cuda_free(da, N * 4); lpo_cuda_free(db, N * 4); lpo_cuda_free(dout, N * 4);
  free(a); free(b); free(out);
  return check_done("test_cuda");
}
