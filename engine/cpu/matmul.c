/* matmul.c — the linear layer, y = x W^T + b, forward and backward.
 *
 * Weights are stored as Hugging Face stores them, [OC, IC] row-major ("out features" by
 * "in features"), so a checkpoint tensor maps onto our buffer without a transpose.
 *   forward:  out[N,OC]  = inp[N,IC] . w[OC,IC]^T (+ bias)       sgemm NT
 *   backward: dinp[N,IC] += dout[N,OC] . w[OC,IC]                  sgemm NN
 *             dw[OC,IC]  += dout[N,OC]^T . inp[N,IC]               sgemm TN
 *             dbias[OC]  += sum over n of dout[n,:]
 * The fast path hands all three to OpenBLAS (its own thread pool); the reference is the
 * textbook triple loop with a double accumulator. */
#include "cpu/cpu.h"
#include <cblas.h>

void lpo_cpu_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {   /* BLAS would still scale C by beta; keep that meaning */
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

LPO_HOT static void add_bias(float *out, const float *bias, int N, int OC) {
  for (int n = 0; n < N; n++) {
    float *o = out + (size_t)n * OC;
    for (int j = 0; j < OC; j++) o[j] += bias[j];
  }
}

LPO_HOT static void sum_rows(float *dbias, const float *dout, int N, int OC) {
  /* Rows in order: a fixed reduction order, vectorised across columns. */
  for (int n = 0; n < N; n++) {
    const float *d = dout + (size_t)n * OC;
    for (int j = 0; j < OC; j++) dbias[j] += d[j];
  }
}

void lpo_cpu_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                            int N, int IC, int OC, int accumulate) {
  lpo_cpu_sgemm(0, 1, N, OC, IC, 1.0f, inp, IC, w, IC, accumulate ? 1.0f : 0.0f, out, OC);
  if (bias) add_bias(out, bias, N, OC);
}

void lpo_cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                             const float *inp, const float *w, int N, int IC, int OC) {
  if (dinp) lpo_cpu_sgemm(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, 1.0f, dinp, IC);
  if (dw) lpo_cpu_sgemm(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw, IC);
  if (dbias) sum_rows(dbias, dout, N, OC);
}

void lpo_cpu_matmul_forward_ref(float *out, const float *inp, const float *w, const float *bias,
                                int N, int IC, int OC, int accumulate) {
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = bias ? bias[o] : 0.0;
      for (int i = 0; i < IC; i++) s += (double)inp[(size_t)n * IC + i] * w[(size_t)o * IC + i];
      float *y = &out[(size_t)n * OC + o];
      *y = accumulate ? *y + (float)s : (float)s;
    }
}

void lpo_cpu_matmul_backward_ref(float *dinp, float *dw, float *dbias, const float *dout,
                                 const float *inp, const float *w, int N, int IC, int OC) {
  if (dinp)
    for (int n = 0; n < N; n++)
      for (int i = 0; i < IC; i++) {
        double s = 0;
        for (int o = 0; o < OC; o++) s += (double)dout[(size_t)n * OC + o] * w[(size_t)o * IC + i];
        dinp[(size_t)n * IC + i] += (float)s;
      }
  if (dw)
    for (int o = 0; o < OC; o++)
      for (int i = 0; i < IC; i++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += (double)dout[(size_t)n * OC + o] * inp[(size_t)n * IC + i];
        dw[(size_t)o * IC + i] += (float)s;
      }
  if (dbias)
    for (int o = 0; o < OC; o++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
      dbias[o] += (float)s;
    }
}
