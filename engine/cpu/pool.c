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
 * process that forks a sandbox server early is still single-threaded when it forks.
 *
 * Waking. A decode step is 20-40 short regions (a matmul of a few hundred microseconds or
 * less, a norm, the attention) with little serial work between them; waking a sleeping
 * worker through a condition variable costs several microseconds per region (a futex
 * round trip and a reschedule), comparable to the regions themselves. So a worker that
 * finishes a job first watches the job counter for a short while (SPIN_NS) and takes the
 * next job without sleeping; only then does it sleep on the condition variable. The
 * watch lasts 2 ms, not the few microseconds a futex round trip would suggest: on a
 * virtual machine a vCPU whose threads all sleep is halted and handed back to the host,
 * and waking it waits for the host's scheduler, often milliseconds on a busy host (it
 * shows as steal time). A training step has gaps between regions longer than 50 us, so
 * with a 50 us watch the worker slept in them: tiny `bench train` steps, alternating
 * runs, medians 357-455 ms at 50 us against 302-333 ms at 2 ms, the host's steal 59-413
 * jiffies per run against 11-130 (2 vCPUs, 20 steps). The
 * caller likewise watches for the workers' completion briefly before it sleeps. Watching
 * is bounded, so an idle pool costs nothing; it is bursts of plain loads (no pause
 * instruction, which a hypervisor may trap) with a sched_yield between bursts, so on a
 * machine with more runnable threads than cores a watcher gives its core away instead
 * of holding it from the thread it waits for. */
#include "cpu/cpu.h"
#include "lpo.h"
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { MAX_THREADS = 64 };
#define SPIN_NS 2000000   /* how long a waiter watches before sleeping */

static struct {
  pthread_mutex_t mu;            /* guards the sleeping side: start/done waits, sleepers */
  pthread_cond_t start, done;
  pthread_mutex_t region;        /* one parallel region at a time (callers from several threads) */
  int want;                      /* configured thread count, 0 = not yet decided */
  int started;                   /* workers running (want - 1 of them once started) */
  int sleepers;                  /* workers waiting on `start` */
  atomic_uint gen;               /* job generation: workers run once per increment; the
                                    job fields below are written before it (release) */
  atomic_int pending;            /* workers still busy with the current job */
  int nparts;                    /* ranges of the current job */
  lpo_task_fn fn;
  void *ctx;
  int ntasks;
  pthread_t th[MAX_THREADS];
  unsigned seen0[MAX_THREADS];   /* gen when worker i was created: jobs before are not its */
} P = { .mu = PTHREAD_MUTEX_INITIALIZER, .start = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER, .region = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local int in_region;   /* nested calls run serially */

static void run_part(lpo_task_fn fn, void *ctx, int ntasks, int nparts, int i) {
  int t0 = (int)((int64_t)ntasks * i / nparts), t1 = (int)((int64_t)ntasks * (i + 1) / nparts);
  if (t1 > t0) fn(ctx, t0, t1, i);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Watches the job counter until it differs from seen or SPIN_NS pass; returns it.
 * Between bursts of loads it yields the core: on a quiet machine sched_yield returns at
 * once (a microsecond), on a busy one it lets the caller's thread (or anyone) run
 * instead of the watcher burning a share of the CPU they need. */
static unsigned spin_gen(unsigned seen) {
  int64_t t0 = now_ns();
  for (;;) {
    for (int i = 0; i < 64; i++) {
      unsigned g = atomic_load_explicit(&P.gen, memory_order_acquire);
      if (g != seen) return g;
    }
    if (now_ns() - t0 > SPIN_NS) return seen;
    sched_yield();
  }
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned seen = P.seen0[id];   /* written before pthread_create */
  in_region = 1;
  for (;;) {
    unsigned g = spin_gen(seen);
    if (g == seen) {
      pthread_mutex_lock(&P.mu);
      P.sleepers++;
      while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen) pthread_cond_wait(&P.start, &P.mu);
      P.sleepers--;
      pthread_mutex_unlock(&P.mu);
    }
    seen = g;
    lpo_task_fn fn = P.fn;
    void *ctx = P.ctx;
    int ntasks = P.ntasks, nparts = P.nparts;
    if (id < nparts) run_part(fn, ctx, ntasks, nparts, id);
    if (atomic_fetch_sub_explicit(&P.pending, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&P.mu);      /* the caller checks pending under mu before sleeping */
      pthread_cond_signal(&P.done);
      pthread_mutex_unlock(&P.mu);
    }
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
  P.sleepers = 0;
  atomic_store(&P.pending, 0);
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

void lpo_parallel(lpo_task_fn fn, void *ctx, int ntasks) { lpo_cpu_parallel(fn, ctx, ntasks, 0); }
int lpo_parallel_threads(void) { return lpo_cpu_threads(); }

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
      P.seen0[id] = atomic_load(&P.gen);
      if (pthread_create(&P.th[id], NULL, worker, (void *)(intptr_t)id) != 0) break;
      pthread_detach(P.th[id]);
      P.started++;
    }
    if (n > P.started + 1) n = P.started + 1;
  }
  P.fn = fn; P.ctx = ctx; P.ntasks = ntasks; P.nparts = n;
  atomic_store_explicit(&P.pending, P.started, memory_order_relaxed);
  atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);   /* publishes the job */
  if (P.sleepers) pthread_cond_broadcast(&P.start);
  pthread_mutex_unlock(&P.mu);
  in_region = 1;
  run_part(fn, ctx, ntasks, n, 0);
  in_region = 0;
  int64_t t0 = now_ns();
  while (atomic_load_explicit(&P.pending, memory_order_acquire) > 0 && now_ns() - t0 < SPIN_NS) {
    for (int i = 0; i < 64 && atomic_load_explicit(&P.pending, memory_order_acquire) > 0; i++) {}
    if (atomic_load_explicit(&P.pending, memory_order_acquire) > 0) sched_yield();
  }
  if (atomic_load_explicit(&P.pending, memory_order_acquire) > 0) {
    pthread_mutex_lock(&P.mu);
    while (atomic_load_explicit(&P.pending, memory_order_acquire) > 0) pthread_cond_wait(&P.done, &P.mu);
    pthread_mutex_unlock(&P.mu);
  }
  pthread_mutex_unlock(&P.region);
}

/* ---- balanced: static parts, with stealing at the end ----
 * A fork-join waits for its slowest part, and on a shared machine a part is slow when its
 * vCPU is taken away for a while (steal time) or when the parts are unequal (a backward's
 * two products). Here each thread still starts on its own contiguous part, taking it in
 * shrinking chunks from the front; a thread whose part is empty takes half of what is left
 * at the back of the fullest part. Each part's remaining range [lo, hi) is one 64-bit
 * atomic, so an owner and a thief never take the same task. */
typedef struct balanced_job {
  lpo_task_fn fn;
  void *ctx;
  int nparts, grain;
  _Atomic uint64_t range[MAX_THREADS];   /* lo << 32 | hi */
} balanced_job;

static inline uint64_t pack_range(uint32_t lo, uint32_t hi) { return (uint64_t)lo << 32 | hi; }

/* Takes a chunk of part p, from the front (owner) or the back (thief); 0 when empty. */
static int take(balanced_job *b, int p, int owner, int *t0, int *t1) {
  uint64_t r = atomic_load_explicit(&b->range[p], memory_order_relaxed);
  for (;;) {
    uint32_t lo = (uint32_t)(r >> 32), hi = (uint32_t)r;
    if (lo >= hi) return 0;
    uint32_t left = hi - lo;
    /* owner: all but the last eighth (few calls while undisturbed: each call may repack
     * a matrix); thief: half, so two thieves would not starve each other */
    uint32_t c = owner ? left - left / 8 : left / 2;
    if (c < (uint32_t)b->grain) c = (uint32_t)b->grain;
    if (c > left) c = left;
    uint64_t want = owner ? pack_range(lo + c, hi) : pack_range(lo, hi - c);
    if (atomic_compare_exchange_weak_explicit(&b->range[p], &r, want, memory_order_relaxed,
                                              memory_order_relaxed)) {
      *t0 = (int)(owner ? lo : hi - c);
      *t1 = (int)(owner ? lo + c : hi);
      return 1;
    }
  }
}

static void balanced_task(void *ctx, int p0, int p1, int tid) {
  (void)p1;
  balanced_job *b = ctx;
  int t0, t1;
  while (take(b, p0, 1, &t0, &t1)) b->fn(b->ctx, t0, t1, tid);
  for (;;) {                                       /* steal from the fullest other part */
    int best = -1;
    uint32_t most = 0;
    for (int p = 0; p < b->nparts; p++) {
      uint64_t r = atomic_load_explicit(&b->range[p], memory_order_relaxed);
      uint32_t lo = (uint32_t)(r >> 32), hi = (uint32_t)r;
      if (hi > lo && hi - lo > most) { most = hi - lo; best = p; }
    }
    if (best < 0) return;
    if (take(b, best, 0, &t0, &t1)) b->fn(b->ctx, t0, t1, tid);
  }
}

void lpo_cpu_parallel_balanced(lpo_task_fn fn, void *ctx, int ntasks, int grain) {
  int n = lpo_cpu_threads();
  if (n > ntasks) n = ntasks;
  if (n <= 1 || in_region) {
    if (ntasks > 0) fn(ctx, 0, ntasks, 0);
    return;
  }
  balanced_job b = { .fn = fn, .ctx = ctx, .nparts = n, .grain = grain < 1 ? 1 : grain };
  for (int p = 0; p < n; p++)
    atomic_init(&b.range[p], pack_range((uint32_t)((int64_t)ntasks * p / n),
                                        (uint32_t)((int64_t)ntasks * (p + 1) / n)));
  lpo_cpu_parallel(balanced_task, &b, n, n);
}
