/* pool.c — the CPU backend's thread pool: fork-join over a range of independent tasks.
 *
 * Why our own threads rather than OpenBLAS's: the transformer's matmuls are small (a few
 * hundred columns deep) and come between elementwise passes; OpenBLAS's threading splits
 * each small sgemm poorly and its workers keep spinning after every call, competing with
 * whatever runs next. So OpenBLAS runs single-threaded inside our tasks, and every kernel
 * (sgemm included) splits its own work over this pool.
 *
 * Determinism: tasks [0, n) are split into contiguous ranges, range i always to thread i,
 * and kernels only split work whose result does not depend on the split (rows of an
 * output, columns of a weight gradient); reductions are never shared between threads.
 * So a fixed thread count gives the same bits run after run.
 *
 * Threads start at the first parallel call that needs them (not at load time), so a
 * process that forks a sandbox server early is still single-threaded when it forks. */
#include "cpu/cpu.h"
#include "lpo.h"
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { MAX_THREADS = 64 };

static struct {
  pthread_mutex_t mu;            /* guards everything below */
  pthread_cond_t start, done;
  pthread_mutex_t region;        /* one parallel region at a time (callers from several threads) */
  int want;                      /* configured thread count, 0 = not yet decided */
  int started;                   /* workers running (want - 1 of them once started) */
  unsigned gen;                  /* job generation: workers run once per increment */
  int pending;                   /* workers still busy with the current job */
  int nparts;                    /* ranges of the current job */
  lpo_task_fn fn;
  void *ctx;
  int ntasks;
  pthread_t th[MAX_THREADS];
} P = { .mu = PTHREAD_MUTEX_INITIALIZER, .start = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER, .region = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local int in_region;   /* nested calls run serially */

static void run_part(lpo_task_fn fn, void *ctx, int ntasks, int nparts, int i) {
  int t0 = (int)((int64_t)ntasks * i / nparts), t1 = (int)((int64_t)ntasks * (i + 1) / nparts);
  if (t1 > t0) fn(ctx, t0, t1, i);
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned seen = 0;
  in_region = 1;
  pthread_mutex_lock(&P.mu);
  for (;;) {
    while (P.gen == seen) pthread_cond_wait(&P.start, &P.mu);
    seen = P.gen;
    lpo_task_fn fn = P.fn;
    void *ctx = P.ctx;
    int ntasks = P.ntasks, nparts = P.nparts;
    pthread_mutex_unlock(&P.mu);
    if (id < nparts) run_part(fn, ctx, ntasks, nparts, id);
    pthread_mutex_lock(&P.mu);
    if (--P.pending == 0) pthread_cond_signal(&P.done);
  }
  return NULL;
}

/* A forked child has none of the parent's workers: start afresh there (only the forking
 * thread exists in the child; the locks are re-made rather than trusted). */
static void after_fork_child(void) {
  pthread_mutex_init(&P.mu, NULL);
  pthread_mutex_init(&P.region, NULL);
  pthread_cond_init(&P.start, NULL);
  pthread_cond_init(&P.done, NULL);
  P.started = 0;
  P.pending = 0;
}

static int default_threads(void) {
  const char *e = getenv("LPO_THREADS");
  if (!e || !*e) e = getenv("OPENBLAS_NUM_THREADS");
  int n = e ? atoi(e) : 0;
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

int lpo_cpu_threads(void) {
  pthread_mutex_lock(&P.mu);
  if (!P.want) {
    P.want = default_threads();
    openblas_set_num_threads(1);       /* BLAS runs inside our tasks, single-threaded */
    pthread_atfork(NULL, NULL, after_fork_child);
  }
  int n = P.want;
  pthread_mutex_unlock(&P.mu);
  return n;
}

int lpo_cpu_set_threads(int n) {
  if (n >= 1) {
    pthread_mutex_lock(&P.mu);
    /* Workers already started stay; a smaller count just leaves some idle. */
    P.want = n > MAX_THREADS ? MAX_THREADS : n;
    pthread_mutex_unlock(&P.mu);
  }
  openblas_set_num_threads(1);
  return lpo_cpu_threads();
}

int lpo_cpu_get_threads(void) { return lpo_cpu_threads(); }

void lpo_cpu_parallel(lpo_task_fn fn, void *ctx, int ntasks, int max_parts) {
  int n = lpo_cpu_threads();
  if (max_parts > 0 && n > max_parts) n = max_parts;
  if (n > ntasks) n = ntasks;
  if (n <= 1 || in_region) {
    if (ntasks > 0) fn(ctx, 0, ntasks, 0);
    return;
  }
  pthread_mutex_lock(&P.region);
  pthread_mutex_lock(&P.mu);
  if (P.started < n - 1) {
    while (P.started < n - 1) {
      int id = P.started + 1;
      if (pthread_create(&P.th[id], NULL, worker, (void *)(intptr_t)id) != 0) break;
      pthread_detach(P.th[id]);
      P.started++;
    }
    if (n > P.started + 1) n = P.started + 1;
  }
  P.fn = fn; P.ctx = ctx; P.ntasks = ntasks; P.nparts = n;
  P.pending = P.started;
  P.gen++;
  pthread_cond_broadcast(&P.start);
  pthread_mutex_unlock(&P.mu);
  in_region = 1;
  run_part(fn, ctx, ntasks, n, 0);
  in_region = 0;
  pthread_mutex_lock(&P.mu);
  while (P.pending > 0) pthread_cond_wait(&P.done, &P.mu);
  pthread_mutex_unlock(&P.mu);
  pthread_mutex_unlock(&P.region);
}
