/* lpo_sandbox.h — run untrusted programs against unit tests, many at a time.
 *
 * A pool owns N worker processes. Each worker is a fresh exec of the running executable
 * (/proc/self/exe --lpo-sandbox-worker), so it starts with one thread whatever OpenBLAS or
 * the host did. Once per worker: user, net, ipc, uts and mount namespaces, a minimal
 * read-only root, and a warmed Python zygote (Debian's /usr/bin/python3) under rlimits,
 * no_new_privs and a seccomp allowlist, with a long-lived test server forked from it. Per
 * job: a fresh tmpfs on /work, the program in a process cloned into a new pid namespace
 * (capabilities gone, RLIMIT_CPU set), the tests in the test server, which sees the
 * program's functions as remote objects; a wall clock, an output cap, and everything the
 * job started killed at its end. Lua programs run in fresh restricted LuaJIT states in a
 * forked, isolated child of the worker. See lua/lpo/sandbox/harness.py and engine/sandbox/.
 * The verdict comes from facts the program cannot forge.
 *
 * Usage from C:
 *   lpo_sandbox_config cfg; lpo_sandbox_config_default(&cfg);
 *   lpo_sandbox_pool *p = lpo_sandbox_pool_new(&cfg);       // NULL + lpo_last_error()
 *   lpo_sandbox_job job = { .language = "python", .code = src, .tests = tests, .n_tests = 3 };
 *   lpo_sandbox_submit(p, &job, 42);
 *   lpo_sandbox_result *r; lpo_sandbox_next(p, -1, &r);    // r->tag == 42
 *   ... lpo_sandbox_result_free(r); lpo_sandbox_pool_free(p);
 * An executable that creates pools must call lpo_sandbox_worker_hook(argc, argv) first thing
 * in main() (engine/main.c and the C tests do). */
#ifndef LPO_SANDBOX_H
#define LPO_SANDBOX_H
#include "lpo.h"
#include <stddef.h>
#include <stdint.h>

/* LPO_CDEF_BEGIN */
/* Job verdicts, most to least severe below passed. CodeRL's reward: passed +1, failed -0.3,
 * syntax_error -1, every other failure -0.6 (a runtime error); sandbox_error has no reward. */
typedef enum lpo_sandbox_verdict {
  LPO_SANDBOX_PASSED = 0, LPO_SANDBOX_FAILED = 1, LPO_SANDBOX_RUNTIME_ERROR = 2,
  LPO_SANDBOX_SYNTAX_ERROR = 3, LPO_SANDBOX_TIMEOUT = 4, LPO_SANDBOX_MEMORY_LIMIT = 5,
  LPO_SANDBOX_OUTPUT_LIMIT = 6, LPO_SANDBOX_KILLED = 7, LPO_SANDBOX_SANDBOX_ERROR = 8,
  LPO_SANDBOX_NVERDICTS = 9
} lpo_sandbox_verdict;

/* Per-test outcomes. skipped = not run (the time budget ran out, or the program did not
 * compile). */
typedef enum lpo_sandbox_outcome {
  LPO_SANDBOX_T_PASS = 0, LPO_SANDBOX_T_FAIL = 1, LPO_SANDBOX_T_ERROR = 2,
  LPO_SANDBOX_T_TIMEOUT = 3, LPO_SANDBOX_T_MEMORY = 4, LPO_SANDBOX_T_KILLED = 5,
  LPO_SANDBOX_T_SKIPPED = 6, LPO_SANDBOX_NOUTCOMES = 7
} lpo_sandbox_outcome;

typedef struct lpo_sandbox_config {
  int workers;            /* worker processes; 0 = number of online CPUs */
  double timeout_s;       /* wall-clock limit per job (default 3) */
  int memory_mb;          /* address-space limit per process (default 512) */
  int64_t output_limit;   /* stdout + stderr bytes before the job is killed (default 1 MiB) */
  int nproc;              /* processes + threads per worker (default 64) */
  int file_mb;            /* largest file a job may write (default 16) */
  int work_mb;            /* size of the job's tmpfs /work, /tmp included (default 64) */
  int nofile;             /* open files per process (default 256) */
  const char *harness;    /* path of harness.py; NULL = $LPO_ROOT or the source tree's */
  const char *python;     /* interpreter inside the sandbox (default /usr/bin/python3) */
  const char *exe;        /* executable to re-exec as a worker (default /proc/self/exe) */
  const char *disable;    /* comma list of layers to leave out, for tests: user,net,seccomp,... */
  int allow_insecure;     /* run even when a protecting layer is unavailable (loudly) */
  int quiet;              /* do not print degradation warnings to stderr */
} lpo_sandbox_config;

typedef struct lpo_sandbox_job {
  const char *language;   /* "python" (default) or "lua" */
  const char *code;       /* the program */
  size_t code_len;        /* its length; 0 = strlen(code). A NUL inside is a syntax error. */
  const char *const *tests; /* assert statements, one test each (MBPP style) */
  int n_tests;
  const char *check;      /* HumanEval style: source defining check(candidate) ... */
  const char *entry_point;/* ... called with the program's function of this name */
  const char *setup;      /* code run before each test, test side (MBPP test_setup_code) */
  double timeout_s;       /* 0 = the pool's */
  int isolate_tests;      /* run each test in its own process: for model-written tests */
} lpo_sandbox_job;

typedef struct lpo_sandbox_result {
  int64_t tag;
  int verdict;            /* lpo_sandbox_verdict */
  int n_tests;
  uint8_t *outcomes;      /* n_tests lpo_sandbox_outcome values */
  double time_ms;         /* wall clock of the job */
  double cpu_ms;          /* user + system CPU of every process of the job */
  double peak_mb;         /* largest resident set of any process of the job */
  int exit_status;        /* the program's exit code, or -signal */
  char *stdout_tail;      /* last bytes of stdout / stderr (NUL-terminated) */
  char *stderr_tail;
  char *detail;           /* why: the syntax error, the first failing test's exception ... */
  char *layers;           /* comma list of the isolation layers that were active */
} lpo_sandbox_result;

typedef struct lpo_sandbox_pool lpo_sandbox_pool;

void lpo_sandbox_config_default(lpo_sandbox_config *cfg);
lpo_sandbox_pool *lpo_sandbox_pool_new(const lpo_sandbox_config *cfg);
void lpo_sandbox_pool_free(lpo_sandbox_pool *pool);
int lpo_sandbox_pool_workers(const lpo_sandbox_pool *pool);
const char *lpo_sandbox_pool_layers(const lpo_sandbox_pool *pool);   /* comma list */
const char *lpo_sandbox_pool_warnings(const lpo_sandbox_pool *pool); /* "" when none */
/* Queues a job (copied); returns 0 or -1 with an error naming the bad field. */
int lpo_sandbox_submit(lpo_sandbox_pool *pool, const lpo_sandbox_job *job, int64_t tag);
/* Jobs submitted and not yet returned by lpo_sandbox_next. */
int lpo_sandbox_pending(const lpo_sandbox_pool *pool);
/* Waits up to timeout_ms (-1 = forever) for a finished job, in completion order.
 * Returns 1 with *out set (free it with lpo_sandbox_result_free), 0 on timeout or when
 * nothing is pending, -1 on error. */
int lpo_sandbox_next(lpo_sandbox_pool *pool, int timeout_ms, lpo_sandbox_result **out);
void lpo_sandbox_result_free(lpo_sandbox_result *res);

const char *lpo_sandbox_verdict_name(int verdict);     /* "passed", ...; "?" if unknown */
int lpo_sandbox_verdict_from_name(const char *name);   /* -1 if unknown */
const char *lpo_sandbox_outcome_name(int outcome);
double lpo_sandbox_reward(int verdict);                /* CodeRL reward; NaN for sandbox_error */
/* LPO_CDEF_END */

/* Called first thing in main(): when argv asks for a sandbox worker, runs it and exits;
 * otherwise returns 0. */
int lpo_sandbox_worker_hook(int argc, char **argv);
#endif
