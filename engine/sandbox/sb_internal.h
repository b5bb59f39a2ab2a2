/* sb_internal.h — what the sandbox's C files share: framing, facts and verdicts, the seccomp
 * policy, worker isolation and the Lua runner. Not part of the public API. */
#ifndef LPO_SB_INTERNAL_H
#define LPO_SB_INTERNAL_H
#include "lpo.h"
#include "lpo_sandbox.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- framing (proto.c) ----
 * Client <-> worker: stream socket, frames of [u32 little-endian length][JSON].
 * Worker <-> zygote: SOCK_SEQPACKET, one JSON object per message, fds as SCM_RIGHTS. */
#define SB_MAX_FRAME (256u << 20)
int sb_write_all(int fd, const void *buf, size_t n);          /* 0 or -1 (errno) */
int sb_read_all(int fd, void *buf, size_t n);                 /* 0, or -1 (EOF: errno 0) */
int sb_send_frame(int fd, const char *data, size_t n);
char *sb_recv_frame(int fd, size_t *n);                       /* malloc'd, NUL-terminated; NULL on EOF/error */
int sb_send_fds(int sock, const void *buf, size_t n, const int *fds, int nfds);
ssize_t sb_recv_fds(int sock, void *buf, size_t n, int *fds, int *nfds, int max_fds);
int sb_memfd(const char *name, const void *data, size_t n);   /* sealed-size memfd holding data */
double sb_now(void);                                          /* monotonic seconds */

/* ---- facts and verdicts (verdict.c) ----
 * What the supervisor reported plus what the worker saw; the verdict is a function of it. */
enum { SB_KILL_NONE = 0, SB_KILL_TIMEOUT = 1, SB_KILL_OUTPUT = 2 };
/* "exited": the program's process went away during a test; sb_facts_finalize turns it into
 * killed / timeout / error from the program's exit status. */
#define SB_T_EXITED 7
#define SB_STATUS_UNKNOWN (-1000)
typedef struct sb_facts {
  int n_tests;            /* tests the job has (0 = just run the program) */
  uint8_t *outcome;       /* n_tests + 1 entries; LPO_SANDBOX_T_SKIPPED until reported */
  uint8_t *reported;      /* n_tests + 1 flags */
  int *status;            /* n_tests + 1: the program's exit code (-signal) for "exited" */
  int run_outcome;        /* n_tests == 0: outcome of running the program; -1 = unreported */
  int syntax_error;       /* the program did not compile */
  int killed_for;         /* SB_KILL_* : the worker killed the job */
  int done;               /* the supervisor said it finished */
  int internal_error;     /* the sandbox itself failed */
  int exit_status;
  double server_cpu_s;    /* CPU the test server spent on the job */
  int respawn;            /* the test server asks for a fresh program process for test j (-1) */
  int gone;               /* the test server saw the program's process end by itself */
} sb_facts;
int sb_outcome_from_name(const char *name);                   /* -1 if unknown; "exited" too */
/* Resolves "exited" outcomes; program_status is the program's exit code as the zygote saw it
 * (SB_STATUS_UNKNOWN when it was still running and the sandbox killed it). */
void sb_facts_finalize(sb_facts *f, int program_status);
int sb_verdict(const sb_facts *f);
/* Applies one line of the supervisor's result stream to f; detail/layers get copies of
 * the texts they carry (caller frees). Returns 0, or -1 for a malformed line. */
int sb_facts_apply_line(sb_facts *f, const char *line, char **detail, char **layers, char **warn);

/* ---- seccomp policy (policy.c) ---- */
/* The allowlist as a classic BPF program (struct sock_filter[]) for the Python side. */
int sb_policy_bpf(uint8_t **bpf, size_t *len);
/* Loads the allowlist into the calling process (sets no_new_privs). */
int sb_policy_load(void);

/* ---- worker isolation (isolate.c) ---- */
typedef struct sb_wcfg {
  const char *disable;    /* comma list of layers to skip */
  int index;              /* worker number, for names */
} sb_wcfg;
typedef struct sb_wstate {
  int user, net, ipc, uts, mount, root;   /* worker-level layers that are active */
  int pidns_ok;           /* clone(CLONE_NEWPID) works here */
  int job_ns;             /* CLONE_NEW* flags a job may unshare */
  int setuid_nobody;      /* no user namespace but root: jobs drop to uid 65534 */
  char workdir[400];      /* /work inside the root, or a host temp dir when degraded */
  char warnings[2048];
} sb_wstate;
int sb_layer_disabled(const char *disable, const char *name);
/* Enters the worker's namespaces and minimal root. Everything it could not do is recorded
 * in st->warnings; returns -1 only when the worker cannot run at all. */
int sb_worker_isolate(const sb_wcfg *cfg, sb_wstate *st);
/* Per-job isolation for C-side jobs (the Lua runner), in the forked job process. */
typedef struct sb_jlimits {
  double timeout_s;
  int memory_mb, nproc, file_mb, nofile, work_mb;
} sb_jlimits;
int sb_job_isolate(const sb_wstate *st, const sb_jlimits *lim, int use_seccomp, char *layers, size_t n);
void sb_append_warning(sb_wstate *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Lua runner (luarun.c) ----
 * Runs in the forked job process: fresh restricted state per test, writes result lines
 * (the same stream the Python supervisor writes) to res_fd. */
void sb_lua_run(int res_fd, const char *code, const char *const *tests, int n_tests,
                const char *check, const char *entry, const char *setup, double timeout_s,
                size_t memory_bytes);

/* ---- the worker (worker.c, job.c) ---- */
typedef struct sb_worker {
  int sock;                   /* to the pool */
  sb_wstate st;
  char *harness_src;
  char python[256];
  double timeout_s;
  int memory_mb, nproc, file_mb, work_mb, nofile, use_seccomp;
  int64_t output_limit;
  char *bpf_hex;
  pid_t zpid;
  int zsock, zpidfd;          /* the zygote: its socket and a pidfd to notice its death */
  int ssock;                  /* the test server (the zygote's child) */
  int nnp, seccomp;           /* what the zygote (and so every job) runs under */
  char py_version[32];
  long jobs;
  char job_layers[128];       /* what the last job's program reported; every job gets the same */
} sb_worker;
pid_t sb_clone(int flags);                /* fork() into new namespaces (single-threaded caller) */
int sb_pidfd_open(pid_t pid);
int sb_zygote_start(sb_worker *w);
void sb_zygote_stop(sb_worker *w);        /* kills it and everything under it */
int sb_server_restart(sb_worker *w);      /* the zygote forks a fresh test server */
/* Runs one job (JSON from the pool) and returns the result JSON (malloc'd). */
struct cJSON;
char *sb_handle_job(sb_worker *w, const struct cJSON *job);
/* Worker-wide layer names (comma list); python: include nnp/seccomp of the zygote. */
const char *sb_worker_layers(const sb_worker *w, int python);
void sb_add_layers(void *cjson_array, const char *list);
int sb_worker_main(int sock, pid_t parent);
#endif
