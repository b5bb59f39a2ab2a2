/* test_matmul_decode.c — the decode step's matmul from packed weights:
 *  - against the plain reference (double sums over the packed copy, so the packing is
 *    checked too) and against matmul_forward's reference on the original [OC, IC] weights,
 *    with and without accumulate and bias, on shapes with partial panels and N = 1..13;
 *  - batch invariance: each row's output bits are the same for N = 1 (alone) as inside
 *    any larger N, at any position in the step (the sampler's reproducibility rests on
 *    it);
 *  - the packed size and the zero padding of the last panel. */
#include "check.h"
#include "cpu/cpu.h"
#include "lpo.h"
#include "lpo_backend.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static lpo_philox rng;

static float *randv(size_t n) {
  float *x = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = (float)lpo_philox_normal(&rng);
  return x;
}


static void shape(int IC, int OC) {
  const int NMAX = 13;
  size_t psz = lpo_cpu_matmul_packed_size(IC, OC);
  CHECK(psz == (size_t)((OC + LPO_DECODE_PANEL - 1) / LPO_DECODE_PANEL) * LPO_DECODE_PANEL * IC);
  float *w = randv((size_t)OC * IC), *x = randv((size_t)NMAX * IC), *b = randv(OC);
  float *wp = malloc(psz * sizeof(float));
  memset(wp, 0xff, psz * sizeof(float));   /* NaN everywhere: padding must be written */
  lpo_cpu_matmul_pack(wp, w, IC, OC);
  int pad_bad = 0;
  for (size_t i = 0; i < psz; i++) pad_bad += wp[i] != wp[i];
  CHECK_MSG(pad_bad == 0, "IC %d OC %d: %d packed floats left unwritten", IC, OC, pad_bad);
  float *y = randv((size_t)NMAX * OC), *y0 = malloc((size_t)NMAX * OC * sizeof(float));
  float *yr = malloc((size_t)NMAX * OC * sizeof(float)), *yf = malloc((size_t)NMAX * OC * sizeof(float));
  memcpy(y0, y, (size_t)NMAX * OC * sizeof(float));
  for (int acc = 0; acc < 2; acc++)
    for (int bias = 0; bias < 2; bias++)
      for (int N = 1; N <= NMAX; N += (N < 9 ? 1 : 4)) {
        size_t n = (size_t)N * OC;
        memcpy(y, y0, n * sizeof(float)); memcpy(yr, y0, n * sizeof(float)); memcpy(yf, y0, n * sizeof(float));
        lpo_cpu_matmul_decode(y, x, wp, bias ? b : NULL, N, IC, OC, acc);
        lpo_cpu_matmul_decode_ref(yr, x, wp, bias ? b : NULL, N, IC, OC, acc);
        lpo_cpu_matmul_forward_ref(yf, x, w, bias ? b : NULL, N, IC, OC, acc);
        double e1 = check_rel_err(y, yr, n), e2 = check_rel_err(yr, yf, n);
        CHECK_MSG(e1 <= 2e-5, "IC %d OC %d N %d acc %d bias %d: decode vs reference rel err %.3g", IC, OC, N, acc, bias, e1);
        CHECK_MSG(e2 <= 2e-5, "IC %d OC %d N %d acc %d bias %d: packed reference vs forward reference %.3g", IC, OC, N, acc, bias, e2);
      }
  /* Row invariance: row r alone (N = 1, its own buffers) vs row r inside N = NMAX. */
  memcpy(y, y0, (size_t)NMAX * OC * sizeof(float));
  lpo_cpu_matmul_decode(y, x, wp, b, NMAX, IC, OC, 1);
  int differ = 0;
  for (int r = 0; r < NMAX; r++) {
    float *one = malloc((size_t)OC * sizeof(float)), *xr = malloc((size_t)IC * sizeof(float));
    memcpy(one, y0 + (size_t)r * OC, (size_t)OC * sizeof(float));
    memcpy(xr, x + (size_t)r * IC, (size_t)IC * sizeof(float));
    lpo_cpu_matmul_decode(one, xr, wp, b, 1, IC, OC, 1);
    differ += memcmp(one, y + (size_t)r * OC, (size_t)OC * sizeof(float)) != 0;
    free(one); free(xr);
  }
  CHECK_MSG(differ == 0, "IC %d OC %d: %d rows differ alone vs in a step of %d", IC, OC, differ, NMAX);
  free(w); free(x); free(b); free(wp); free(y); free(y0); free(yr); free(yf);
}

int main(void) {
  lpo_philox_init(&rng, lpo_philox_key(3, 0, 0, 0, 0), 0);
  lpo_cpu_set_threads(2);   /* tasks split over threads: the split must not matter either */
  shape(256, 512);
  shape(70, 45);      /* one partial panel, IC not a multiple of 16 */
  shape(33, 261);     /* 8 full panels + 5 outputs */
  shape(1, 64);
  return check_done("test_matmul_decode");
}
