// cuda_core.cu — device discovery, device memory with accounting, and the first f32
// kernels (fill, copy, add). Plain C reference: the same loops in tests/c/test_cuda.c.
extern "C" {
#include "lpo.h"
#include "lpo_cuda.h"
}
#include <cuda_runtime.h>
#include <stdio.h>

static char status_line[256];

static int cuda_fail(const char *what, cudaError_t err) {
  return lpo_set_error("cuda: %s: %s", what, cudaGetErrorString(err));
}

extern "C" int lpo_cuda_device_count(void) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    snprintf(status_line, sizeof status_line, "no usable GPU: %s", cudaGetErrorString(err));
    return 0;
  }
  snprintf(status_line, sizeof status_line, n ? "%d CUDA device(s)" : "no CUDA device", n);
  return n;
}

extern "C" const char *lpo_cuda_status(void) {
  lpo_cuda_device_count();
  return status_line;
}

extern "C" void *lpo_cuda_alloc(int64_t bytes) {
  void *p = NULL;
  cudaError_t err = cudaMalloc(&p, bytes > 0 ? (size_t)bytes : 1);
  if (err != cudaSuccess) { cuda_fail("cudaMalloc", err); return NULL; }
  lpo_mem_account(1, bytes);
  return p;
}

extern "C" void lpo_cuda_free(void *ptr, int64_t bytes) {
  if (!ptr) return;
  cudaFree(ptr);
  lpo_mem_account(1, -bytes);
}

extern "C" int lpo_cuda_memcpy_h2d(void *dst, const void *src, int64_t bytes) {
  cudaError_t err = cudaMemcpy(dst, src, (size_t)bytes, cudaMemcpyHostToDevice);
  return err == cudaSuccess ? 0 : cuda_fail("memcpy host->device", err);
}

extern "C" int lpo_cuda_memcpy_d2h(void *dst, const void *src, int64_t bytes) {
  cudaError_t err = cudaMemcpy(dst, src, (size_t)bytes, cudaMemcpyDeviceToHost);
  return err == cudaSuccess ? 0 : cuda_fail("memcpy device->host", err);
}

// Grid-stride loops: one launch shape works for any n.
__global__ static void fill_kernel(float *dst, int64_t n, float v) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) dst[i] = v;
}
__global__ static void copy_kernel(float *dst, const float *src, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) dst[i] = src[i];
}
__global__ static void add_kernel(float *out, const float *a, const float *b, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) out[i] = a[i] + b[i];
}

static int grid_for(int64_t n) { int64_t g = (n + 255) / 256; return (int)(g < 4096 ? (g > 0 ? g : 1) : 4096); }
static int launched(const char *what) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) err = cudaDeviceSynchronize();
  return err == cudaSuccess ? 0 : cuda_fail(what, err);
}

extern "C" int lpo_cuda_fill_f32(float *dst, int64_t n, float value) {
  fill_kernel<<<grid_for(n), 256>>>(dst, n, value);
  return launched("fill_f32");
}
extern "C" int lpo_cuda_copy_f32(float *dst, const float *src, int64_t n) {
  copy_kernel<<<grid_for(n), 256>>>(dst, src, n);
  return launched("copy_f32");
}
extern "C" int lpo_cuda_add_f32(float *out, const float *a, const float *b, int64_t n) {
  add_kernel<<<grid_for(n), 256>>>(out, a, b, n);
  return launched("add_f32");
}
