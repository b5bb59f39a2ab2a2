/* cpu.h — internals shared by the CPU kernels: the multiversioning attribute and a
 * vectorisable exp.
 *
 * The build uses -O2 for a generic x86-64, which would leave the hot loops as SSE2
 * scalar-ish code. LPO_HOT compiles a function three times (AVX-512, AVX2+FMA, baseline)
 * and picks one at load time by CPUID (GCC target_clones), so one binary runs everywhere
 * and uses the wide units where they exist. Loops are written so GCC vectorises them
 * without -ffast-math: reductions keep 16 explicit partial sums (a fixed order, so results
 * are deterministic on a given machine and build). */
#ifndef LPO_CPU_H
#define LPO_CPU_H
#include "lpo.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

/* -O2 in GCC 12 vectorises only with the "very cheap" cost model, which leaves loops with
 * a remainder or a select (the exp below) scalar; the kernels ask for -O3's vectoriser.
 * And ISO C mode (-std=c11) turns off contraction of a*b+c into one fused multiply-add,
 * halving the arithmetic rate of every loop here: the kernels turn it back on (one
 * rounding instead of two, so results stay deterministic and slightly more accurate).
 * (Optimised builds only: a -O0 debug/sanitizer build stays as compiled.) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#pragma GCC optimize("O3", "fp-contract=fast")
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(LPO_NO_CLONES)
#define LPO_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LPO_HOT
#endif

/* Sum of a*b over n floats with 16 partial sums, added up in order at the end: vectorises
 * inside LPO_HOT callers without reassociation, so the result does not depend on the clone. */
static inline float lpo_dot16(const float *a, const float *b, int n) {
  float acc[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += a[i + k] * b[i + k];
  float s = 0.0f;
  for (int k = 0; k < 16; k++) s += acc[k];
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

/* exp(x) for float, within ~2 ulp, written with arithmetic and bit casts only so that it
 * vectorises inside LPO_HOT loops (glibc's expf is a call the vectoriser cannot inline).
 * Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r, then
 * scale by 2^n through the exponent bits. Returns 0 below -87.3 (exp underflows to
 * denormals there; softmax weights that small do not matter) and saturates above 88.3. */
static inline float lpo_expf(float x) {
  const float hi = 88.3f, lo = -87.3f;      /* keeps n in [-126, 127] */
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  const float magic = 12582912.0f;                   /* 1.5 * 2^23: rounds to an integer */
  float fn = xc * 1.44269504088896341f + magic;
  fn = fn - magic;
  float r = xc - fn * 0.693359375f;                  /* ln2 split in a short high part */
  r = r - fn * -2.12194440e-4f;                      /* and the low remainder */
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t n = (int32_t)fn;
  uint32_t bits = (uint32_t)(n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  float y = p * scale;
  return x < lo ? 0.0f : y;
}

/* max of x[0..n) (n >= 1) with 16 partial maxima: max is exact in any order, and the
 * partial form vectorises (a running scalar max is one long dependency chain). */
static inline float lpo_max_row(const float *x, int n) {
  float m[16];
  int i = 0;
  if (n >= 16) {
    for (int k = 0; k < 16; k++) m[k] = x[k];
    for (i = 16; i + 16 <= n; i += 16)
      for (int k = 0; k < 16; k++) m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
  } else {
    for (int k = 0; k < 16; k++) m[k] = x[0];
  }
  float r = m[0];
  for (int k = 1; k < 16; k++) r = m[k] > r ? m[k] : r;
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  return r;
}

/* max_parts for an elementwise pass over `elems` floats: 1 (the calling thread alone)
 * when it is small. A fork-join costs a few microseconds; a norm or a rotation of a
 * decode step's few rows costs less than one, and a step has ~10 of them per layer. */
static inline int lpo_cpu_parts_for(size_t elems) { return elems < ((size_t)1 << 15) ? 1 : 0; }
/* pool.c: fork-join over tasks [0, ntasks): fn(ctx, t0, t1, tid) runs the contiguous
 * range of part tid (0 = the caller); at most max_parts parts (0: no limit besides the
 * thread count). Calls from inside a task run serially. */
void lpo_cpu_parallel(lpo_task_fn fn, void *ctx, int ntasks, int max_parts);
/* The same for task functions whose results do not depend on how [0, ntasks) is cut
 * (fn may run any sub-range, several times per thread, tid = the running thread): each
 * thread starts on its own part, and one that finishes early takes work from the back of
 * the fullest other part, in chunks of at least `grain` tasks. */
void lpo_cpu_parallel_balanced(lpo_task_fn fn, void *ctx, int ntasks, int grain);
int lpo_cpu_threads(void);

/* Kernels, one file each; *_ref are the plain-C references (no BLAS, no tricks). */
void lpo_cpu_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                            int N, int IC, int OC, int accumulate);
void lpo_cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                             const float *inp, const float *w, int N, int IC, int OC);
void lpo_cpu_matmul_forward_ref(float *out, const float *inp, const float *w, const float *bias,
                                int N, int IC, int OC, int accumulate);
void lpo_cpu_matmul_backward_ref(float *dinp, float *dw, float *dbias, const float *dout,
                                 const float *inp, const float *w, int N, int IC, int OC);
/* matmul_decode.c: the decode step's matmul from weights packed in LPO_DECODE_PANEL-wide
 * panels of w^T (lpo_cpu_matmul_pack); the reference reads the same packed copy. */
enum { LPO_DECODE_PANEL = 32 };
size_t lpo_cpu_matmul_packed_size(int IC, int OC);
void lpo_cpu_matmul_pack(float *wp, const float *w, int IC, int OC);
void lpo_cpu_matmul_decode(float *out, const float *inp, const float *wp, const float *bias,
                           int N, int IC, int OC, int accumulate);
void lpo_cpu_matmul_decode_ref(float *out, const float *inp, const float *wp, const float *bias,
                               int N, int IC, int OC, int accumulate);
/* C = alpha op(A) op(B) + beta C, row-major, through BLAS (single-threaded: call it inside
 * a task); lpo_cpu_sgemm_par splits C's rows or columns over the pool. */
void lpo_cpu_sgemm_par(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* One product for lpo_cpu_sgemm_pair; by_rows: split C by rows (else by columns); bp: op(B)
 * packed whole beforehand (lpo_cpu_sgemm_avx512_pack_b), or NULL. */
typedef struct gemm_job {
  int tA, tB, M, N, K, lda, ldb, ldc, by_rows, unit;
  float alpha, beta;
  const float *A, *B;
  float *C;
  const float *bp;
} gemm_job;
gemm_job lpo_cpu_gemm_job(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc);
/* Two independent products at once (a backward's dinp and dweight): each half of an even
 * thread count starts on one, and takes pieces of the other once its own is done. */
void lpo_cpu_sgemm_pair(const gemm_job *a, const gemm_job *b);
void lpo_cpu_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* 1 when lpo_cpu_sgemm gives the same bits however C is cut into calls (our AVX-512
 * kernel); 0 under OpenBLAS, whose blocking, and so rounding, follows the call's shape. */
int lpo_cpu_sgemm_split_invariant(void);
/* sgemm_avx512.c: the same contract without BLAS, for AVX-512 CPUs (lpo_cpu_sgemm uses it
 * there unless LPO_SGEMM=blas); returns -1 without touching C when it cannot run
 * (no AVX-512, M/N/K <= 0, no memory). */
int lpo_cpu_sgemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc);
int lpo_cpu_sgemm_avx512_available(void);
/* The same product from op(B) packed whole beforehand (the NT forward packs the weight's
 * transpose once, the pool's threads in parallel, instead of once per thread):
 *   packed_size: floats for op(B) [K,N]; whole_b: the calling thread's grow-only buffer
 *   for it (NULL when out of memory); pack_b: panels [p0, p1) of 32 columns each (tB: B
 *   is [N,K]); prepacked: C = alpha op(A) op(B) + beta C, the same bits as unpacked. */
size_t lpo_cpu_sgemm_avx512_packed_size(int N, int K);
float *lpo_cpu_sgemm_avx512_whole_b(size_t floats);
void lpo_cpu_sgemm_avx512_pack_b(float *bp, const float *B, int ldb, int tB, int N, int K, int p0, int p1);
int lpo_cpu_sgemm_avx512_prepacked(int transA, int M, int N, int K, float alpha, const float *A,
                                   int lda, const float *bp, float beta, float *C, int ldc);

void lpo_cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N,
                             int C, float eps);
void lpo_cpu_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                              const float *w, const float *rstd, int N, int C);
void lpo_cpu_rmsnorm_forward_ref(float *out, float *rstd, const float *inp, const float *w,
                                 int N, int C, float eps);
void lpo_cpu_rmsnorm_backward_ref(float *dinp, float *dw, const float *dout, const float *inp,
                                  const float *w, const float *rstd, int N, int C);

void lpo_cpu_rope_forward(float *x, const int32_t *pos, const float *cos, const float *sin,
                          int N, int H, int D, int stride);
void lpo_cpu_rope_backward(float *dx, const int32_t *pos, const float *cos, const float *sin,
                           int N, int H, int D, int stride);

size_t lpo_cpu_attention_scratch(int T, int D);
size_t lpo_cpu_attention_scratch_ref(int T, int D);
void lpo_cpu_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int Hq,
                               int Hkv, int D, float *scratch, int nslots);
void lpo_cpu_attention_backward(float *dqkv, const float *dout, const float *out,
                                const float *lse, const float *qkv, int B, int T, int Hq,
                                int Hkv, int D, float *scratch, int nslots);
void lpo_cpu_attention_forward_ref(float *out, float *lse, const float *qkv, int B, int T,
                                   int Hq, int Hkv, int D, float *scratch, int nslots);
void lpo_cpu_attention_backward_ref(float *dqkv, const float *dout, const float *out,
                                    const float *lse, const float *qkv, int B, int T, int Hq,
                                    int Hkv, int D, float *scratch, int nslots);
void lpo_cpu_attention_cached(float *out, const float *q, int qstride, const float *kcache,
                              const float *vcache, const int32_t *row, const int32_t *pos,
                              int N, int Hq, int Hkv, int D, int Tc, float *scratch, int nslots);
void lpo_cpu_kv_store(float *kcache, float *vcache, const float *qkv, const int32_t *row,
                      const int32_t *pos, int N, int Hq, int Hkv, int D, int Tc);

void lpo_cpu_swiglu_forward(float *h, const float *gu, int N, int F);
void lpo_cpu_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);
void lpo_cpu_swiglu_forward_ref(float *h, const float *gu, int N, int F);
void lpo_cpu_swiglu_backward_ref(float *dgu, const float *dh, const float *gu, int N, int F);

void lpo_cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C);
void lpo_cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N,
                                int C);
void lpo_cpu_gather_rows(float *dst, const float *src, const int32_t *idx, int M, int C);
void lpo_cpu_scatter_add_rows(float *dst, const float *src, const int32_t *idx, int M, int C);

int lpo_cpu_lmhead_forward(float *logp, float *lse, float *buf, const float *x, const float *w,
                           const int32_t *targets, int M, int C, int V, int cap_rows);
void lpo_cpu_lmhead_backward(float *dx, float *dw, float *buf, const float *dlogp,
                             const float *x, const float *w, const int32_t *targets,
                             const float *lse, int M, int C, int V, int cap_rows, int kept);
int lpo_cpu_lmhead_forward_ref(float *logp, float *lse, float *buf, const float *x,
                               const float *w, const int32_t *targets, int M, int C, int V,
                               int cap_rows);
void lpo_cpu_lmhead_backward_ref(float *dx, float *dw, float *buf, const float *dlogp,
                                 const float *x, const float *w, const int32_t *targets,
                                 const float *lse, int M, int C, int V, int cap_rows, int kept);
#endif
