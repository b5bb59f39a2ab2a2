/* test_pool.c — the CPU pool's balanced loop (lpo_cpu_parallel_balanced) and the paired
 * backward products built on it (lpo_cpu_sgemm_pair).
 *   - every task runs exactly once, on a valid thread, for 1-4 threads, task counts that
 *     do and do not divide evenly, grains 1 and 3, and more threads than tasks;
 *   - a thread that is slow (here: sleeping in its own part) has the back of its part
 *     taken by the others, so the loop's time is not the slowest part's;
 *   - the pair of products equals the two products computed one by one, bit for bit, for
 *     shapes whose row units do not divide into the pair's 16 pieces, at 2 and 4 threads,
 *     three times each (the two products run at different speeds, so where pieces change
 *     hands varies from run to run; the bits must not). Under OpenBLAS (LPO_SGEMM=blas),
 *     whose rounding follows the call's shape, the pair keeps fixed cuts: equal to the
 *     serial products within rounding, and the same bits run after run. */
#include "check.h"
#include "cpu/cpu.h"
#include "lpo.h"
#include "lpo_backend.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAXT = 200 };
typedef struct count_job {
  _Atomic int runs[MAXT];
  _Atomic int bad_tid, calls;
  int threads, slow_tid, part0_end;
  _Atomic int slow_tasks_elsewhere;
} count_job;

static void count_task(void *ctx, int t0, int t1, int tid) {
  count_job *j = ctx;
  atomic_fetch_add(&j->calls, 1);
  if (tid < 0 || tid >= j->threads) atomic_fetch_add(&j->bad_tid, 1);
  for (int t = t0; t < t1; t++) {
    atomic_fetch_add(&j->runs[t], 1);
    if (tid == j->slow_tid) {
      struct timespec ts = { 0, 2000000 };   /* 2 ms per task on the slow thread */
      nanosleep(&ts, NULL);
    } else if (j->slow_tid >= 0 && t < j->part0_end) {
      atomic_fetch_add(&j->slow_tasks_elsewhere, 1);
    }
  }
}

static void test_coverage(void) {
  int sizes[] = { 1, 2, 3, 7, 16, 32, 33, 100, MAXT };
  for (int threads = 1; threads <= 4; threads++) {
    lpo_cpu_set_threads(threads);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
      for (int grain = 1; grain <= 3; grain += 2) {
        static count_job j;
        memset(&j, 0, sizeof j);
        j.threads = threads;
        j.slow_tid = -1;
        lpo_cpu_parallel_balanced(count_task, &j, sizes[s], grain);
        int once = 1;
        for (int t = 0; t < MAXT; t++) once &= atomic_load(&j.runs[t]) == (t < sizes[s]);
        CHECK_MSG(once, "threads %d, %d tasks, grain %d: a task ran other than once", threads, sizes[s], grain);
        CHECK(atomic_load(&j.bad_tid) == 0);
      }
  }
}

/* Two threads, 32 tasks: part 0 (tasks 0-15) belongs to the calling thread (tid 0), which
 * sleeps 2 ms per task; the worker finishes part 1 at once and must take tasks from the
 * back of part 0. */
static void test_stealing(void) {
  lpo_cpu_set_threads(2);
  static count_job j;
  memset(&j, 0, sizeof j);
  j.threads = 2;
  j.slow_tid = 0;
  j.part0_end = 16;
  lpo_cpu_parallel_balanced(count_task, &j, 32, 1);
  int once = 1;
  for (int t = 0; t < 32; t++) once &= atomic_load(&j.runs[t]) == 1;
  CHECK(once);
  CHECK_MSG(atomic_load(&j.slow_tasks_elsewhere) >= 1,
            "no task of the slow thread's part ran elsewhere (%d)", atomic_load(&j.slow_tasks_elsewhere));
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void) {
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static float *rnd(size_t n) {
  float *x = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = frand();
  return x;
}

/* A backward's pair: dinp[N,IC] = dout[N,OC] w[OC,IC] (NN, written) and
 * dw[OC,IC] += dout^T inp (TN, accumulated), against the same two products one by one. */
static void test_pair(int N, int IC, int OC, int threads) {
  lpo_cpu_set_threads(threads);
  float *dout = rnd((size_t)N * OC), *w = rnd((size_t)OC * IC), *inp = rnd((size_t)N * IC);
  float *dinp = rnd((size_t)N * IC), *dw = rnd((size_t)OC * IC);
  float *dinp0 = malloc((size_t)N * IC * sizeof(float)), *dw0 = malloc((size_t)OC * IC * sizeof(float));
  memcpy(dw0, dw, (size_t)OC * IC * sizeof(float));
  lpo_cpu_sgemm(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, dinp0, IC);
  lpo_cpu_sgemm(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw0, IC);
  for (int rep = 0; rep < 3; rep++) {
    float *dw1 = malloc((size_t)OC * IC * sizeof(float));
    memcpy(dw1, dw, (size_t)OC * IC * sizeof(float));
    gemm_job a = lpo_cpu_gemm_job(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, 0.0f, dinp, IC);
    gemm_job b = lpo_cpu_gemm_job(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dw1, IC);
    lpo_cpu_sgemm_pair(&a, &b);
    if (lpo_cpu_sgemm_split_invariant()) {   /* any cut: the serial bits */
      CHECK_MSG(memcmp(dinp, dinp0, (size_t)N * IC * sizeof(float)) == 0,
                "pair N=%d IC=%d OC=%d threads %d: dinp differs", N, IC, OC, threads);
      CHECK_MSG(memcmp(dw1, dw0, (size_t)OC * IC * sizeof(float)) == 0,
                "pair N=%d IC=%d OC=%d threads %d: dw differs", N, IC, OC, threads);
    } else {                                 /* OpenBLAS: fixed cuts, so run-to-run bits */
      CHECK(check_rel_err(dinp, dinp0, (size_t)N * IC) < 1e-5);
      CHECK(check_rel_err(dw1, dw0, (size_t)OC * IC) < 1e-5);
      if (rep == 0) {
        memcpy(dinp0, dinp, (size_t)N * IC * sizeof(float));
        memcpy(dw0, dw1, (size_t)OC * IC * sizeof(float));
      } else {
        CHECK(memcmp(dinp, dinp0, (size_t)N * IC * sizeof(float)) == 0);
        CHECK(memcmp(dw1, dw0, (size_t)OC * IC * sizeof(float)) == 0);
      }
    }
    free(dw1);
  }
  free(dout); free(w); free(inp); free(dinp); free(dw); free(dinp0); free(dw0);
}

int main(void) {
  int threads = lpo_cpu_threads();
  test_coverage();
  test_stealing();
  /* row units of 16: 300 rows = 19 units, 40 = 3 (most pieces empty) */
  int shapes[][3] = { { 300, 64, 96 }, { 40, 48, 200 }, { 256, 32, 512 }, { 1000, 24, 40 } };
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    test_pair(shapes[s][0], shapes[s][1], shapes[s][2], 2);
    test_pair(shapes[s][0], shapes[s][1], shapes[s][2], 4);
  }
  lpo_cpu_set_threads(threads);
  return check_done("test_pool");
}
