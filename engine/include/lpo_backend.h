/* lpo_backend.h — the op table the transformer calls: one instance per backend (CPU now,
 * CUDA later), so engine/model never contains #ifdef CUDA.
 *
 * Every op follows llm.c's convention: outputs first, then inputs, then dimensions;
 * a *_backward op ACCUMULATES (+=) into every gradient it writes, so a caller zeroes
 * scratch gradients and lets parameter gradients sum over micro-batches.
 * All pointers are device memory of the backend (host memory for CPU). Shapes use
 * N = rows (tokens, B*T), C = channels, V = vocabulary, H heads of D dims, F = MLP width. */
#ifndef LPO_BACKEND_H
#define LPO_BACKEND_H
#include <stddef.h>
#include <stdint.h>

/* LPO_CDEF_BEGIN */
typedef struct lpo_backend {
  const char *name;
  int device;                    /* lpo_alloc device number of the buffers it works on */
  /* How many scratch slots the attention ops can use at once (CPU: its threads). */
  int (*parallelism)(void);
  /* out[N,OC] (+)= inp[N,IC] . w[OC,IC]^T + bias[OC]; bias may be NULL; accumulate=0
   * overwrites out. */
  void (*matmul_forward)(float *out, const float *inp, const float *w, const float *bias,
                         int N, int IC, int OC, int accumulate);
  /* dinp[N,IC] = dout . w;  dw[OC,IC] += dout^T . inp;  dbias[OC] += sum_n dout.
   * Any of dinp, dw, dbias may be NULL (not wanted). The backward kernels write the
   * gradients of activations (no zeroing pass before them) and add into the gradients
   * of parameters (accumulation over micro-batches). */
  void (*matmul_backward)(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int IC, int OC);
  /* out[N,C] = w * inp / sqrt(mean(inp^2) + eps); rstd[N] saved for backward. */
  void (*rmsnorm_forward)(float *out, float *rstd, const float *inp, const float *w,
                          int N, int C, float eps);
  void (*rmsnorm_backward)(float *dinp, float *dw, const float *dout, const float *inp,
                           const float *w, const float *rstd, int N, int C);
  /* Rotary embedding, in place, HF "rotate_half" layout: for token n and head h, x starts at
   * x + n*stride + h*D; the pair (i, i+D/2) turns by angle pos[n]*inv_freq[i], read from
   * tables cos/sin [P, D/2]. Backward turns the gradient back (the op is a rotation, so it
   * needs no saved input); it overwrites rather than accumulates. */
  void (*rope_forward)(float *x, const int32_t *pos, const float *cos, const float *sin,
                       int N, int H, int D, int stride);
  void (*rope_backward)(float *dx, const int32_t *pos, const float *cos, const float *sin,
                        int N, int H, int D, int stride);
  /* Causal grouped-query attention of qkv [B,T,(Hq+2Hkv)*D] (q heads, then k, then v):
   * out [B,T,Hq*D], lse [B,Hq,T] (log-sum-exp of each score row, kept so backward can
   * rebuild the probabilities instead of storing [B,Hq,T,T]). scratch: nslots slots of
   * attention_scratch(T, D) floats, one per thread (at most nslots threads use it). */
  void (*attention_forward)(float *out, float *lse, const float *qkv, int B, int T, int Hq,
                            int Hkv, int D, float *scratch, int nslots);
  size_t (*attention_scratch)(int T, int D);
  /* dqkv += d(out)/d(qkv) . dout. */
  void (*attention_backward)(float *dqkv, const float *dout, const float *out, const float *lse,
                             const float *qkv, int B, int T, int Hq, int Hkv, int D,
                             float *scratch, int nslots);
  /* Attention of N new tokens over a KV cache: token n belongs to cache row row[n] and
   * sits at position pos[n]; it sees cache positions 0..pos[n] of its row. q rows start
   * at q + n*qstride; kcache is [rows, Hkv, D, Tc] (transposed), vcache [rows, Hkv, Tc, D],
   * Tc a multiple of 16. out [N,Hq*D]; scratch: nslots x (Hq/Hkv) x Tc floats. */
  void (*attention_cached)(float *out, const float *q, int qstride, const float *kcache,
                           const float *vcache, const int32_t *row, const int32_t *pos,
                           int N, int Hq, int Hkv, int D, int Tc, float *scratch, int nslots);
  /* Stores the k and v heads of qkv [N,QKV] rows into the caches (layouts as for
   * attention_cached) at (row[n], pos[n]). */
  void (*kv_store)(float *kcache, float *vcache, const float *qkv, const int32_t *row,
                   const int32_t *pos, int N, int Hq, int Hkv, int D, int Tc);
  /* h[N,F] = silu(gu[:, :F]) * gu[:, F:]  (gate rows first, then up, as one matmul). */
  void (*swiglu_forward)(float *h, const float *gu, int N, int F);
  void (*swiglu_backward)(float *dgu, const float *dh, const float *gu, int N, int F);   /* dgu = .. */
  /* out[N,C] = wte[tokens[n]]; backward scatters dout rows into dwte. */
  void (*embedding_forward)(float *out, const int32_t *tokens, const float *wte, int N, int C);
  void (*embedding_backward)(float *dwte, const float *dout, const int32_t *tokens, int N, int C);
  /* Fused LM head + log-softmax + gather, never holding more than cap_rows x V logits:
   * logp[M] = log softmax(x[M,C] . w[V,C]^T)[targets], lse[M] saved. When M <= cap_rows
   * the softmax probabilities stay in buf [cap_rows,V] and backward reuses them
   * (returns 1); otherwise backward recomputes chunk by chunk (returns 0). */
  int (*lmhead_forward)(float *logp, float *lse, float *buf, const float *x, const float *w,
                        const int32_t *targets, int M, int C, int V, int cap_rows);
  /* dx[M,C] = .., dw[V,C] += .. from dlogp[M]; kept = lmhead_forward's return value. */
  void (*lmhead_backward)(float *dx, float *dw, float *buf, const float *dlogp, const float *x,
                          const float *w, const int32_t *targets, const float *lse, int M,
                          int C, int V, int cap_rows, int kept);
  /* x[0..n) = 0;  dst[0..n) = src[0..n) (device buffers). */
  void (*zero)(float *x, size_t n);
  void (*copy)(float *dst, const float *src, size_t n);
  /* dst[m,:] = src[idx[m],:]  /  dst[idx[m],:] += src[m,:]. */
  void (*gather_rows)(float *dst, const float *src, const int32_t *idx, int M, int C);
  void (*scatter_add_rows)(float *dst, const float *src, const int32_t *idx, int M, int C);
  /* Decoding's linear layer from a packed copy of w (optional: NULL = decode steps use
   * matmul_forward). matmul_pack writes w [OC,IC] into wp (matmul_packed_size(IC, OC)
   * floats) in the backend's decode layout; matmul_decode then computes what
   * matmul_forward computes, and row n's bits do not depend on N or on the other rows. */
  size_t (*matmul_packed_size)(int IC, int OC);
  void (*matmul_pack)(float *wp, const float *w, int IC, int OC);
  void (*matmul_decode)(float *out, const float *inp, const float *wp, const float *bias,
                        int N, int IC, int OC, int accumulate);
} lpo_backend;

/* The CPU backend: OpenBLAS sgemm and vectorised loops. */
const lpo_backend *lpo_backend_cpu(void);
/* The plain-C reference every faster path is tested against (slow: tests only). */
const lpo_backend *lpo_backend_cpu_ref(void);
/* Threads of the CPU backend's pool (default: env LPO_THREADS, else OPENBLAS_NUM_THREADS,
 * else the online CPUs). OpenBLAS itself runs single-threaded inside the pool's tasks.
 * Returns the count in force. */
int lpo_cpu_set_threads(int n);
int lpo_cpu_get_threads(void);
/* Measured sgemm rate in GFLOP/s (C[M,N] = A[M,K] B[N,K]^T, the model's forward shape),
 * best of repeated runs for at least min_seconds: the denominator of MFU. */
double lpo_cpu_sgemm_gflops(int M, int N, int K, double min_seconds);
/* LPO_CDEF_END */
#endif
