/* pool.c — the caller's side of the sandbox: N workers, a job queue, results as they finish.
 *
 * Workers are started with posix_spawn(/proc/self/exe --lpo-sandbox-worker PID), which is
 * safe from a process that already has threads (OpenBLAS starts its own in a constructor),
 * and gives each worker a clean, single-threaded image: the "fork server started before any
 * thread" of DESIGN.md is each worker, not a fork of this process. The pool talks to each
 * worker over a stream socket (frames of [u32 length][JSON]), keeps one job in flight per
 * worker, and replaces a worker that dies or stops answering (its job becomes sandbox_error). */
#include "sandbox/sb_internal.h"
#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct sb_slot {
  pid_t pid;
  int fd;                 /* -1: no worker */
  int busy;
  int64_t tag;
  double deadline;        /* backstop: the worker itself enforces the job's limit */
} sb_slot;

typedef struct sb_queued { int64_t tag; char *frame; size_t len; double timeout; } sb_queued;

struct lpo_sandbox_pool {
  lpo_sandbox_config cfg;
  char harness[PATH_MAX], python[256], exe[PATH_MAX], disable[256];
  int n;
  sb_slot *w;
  sb_queued *q;
  size_t qhead, qlen, qcap;
  lpo_sandbox_result **done;
  size_t dhead, dlen, dcap;
  int pending;
  char layers[256];
  char warnings[4096];
};

void lpo_sandbox_config_default(lpo_sandbox_config *c) {
  memset(c, 0, sizeof *c);
  c->timeout_s = 3.0;
  c->memory_mb = 512;
  c->output_limit = 1 << 20;
  c->nproc = 64;
  c->file_mb = 16;
  c->work_mb = 64;
  c->nofile = 256;
}

static void add_warning(lpo_sandbox_pool *p, const char *w) {
  if (!w || !*w || strstr(p->warnings, w)) return;
  size_t len = strlen(p->warnings);
  snprintf(p->warnings + len, sizeof p->warnings - len, "%s%s", len ? "; " : "", w);
  if (!p->cfg.quiet) fprintf(stderr, "lpo sandbox: WARNING: %s\n", w);
}

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

static void find_harness(char *out, size_t n) {
  const char *root = getenv("LPO_ROOT");
  const char *cands[] = { root, LPO_INSTALL_DATADIR, LPO_SOURCE_DIR };
  for (size_t i = 0; i < 3; i++) {
    if (!cands[i]) continue;
    snprintf(out, n, "%s/lua/lpo/sandbox/harness.py", cands[i]);
    if (file_exists(out)) return;
  }
  snprintf(out, n, "%s/lua/lpo/sandbox/harness.py", LPO_SOURCE_DIR);
}

/* ---- workers ---- */

static int spawn_worker(lpo_sandbox_pool *p, int i) {
  sb_slot *s = &p->w[i];
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return lpo_set_error("sandbox: socketpair: %s", strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char ppid[32];
  snprintf(ppid, sizeof ppid, "%d", (int)getpid());
  char *argv[] = { "lpo-sandbox-worker", "--lpo-sandbox-worker", ppid, NULL };
  /* A clean environment; only what the runtime and tests need passes through. */
  char *envp[8];
  int ne = 0;
  envp[ne++] = "OPENBLAS_NUM_THREADS=1";
  static const char *const keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "LPO_SANDBOX_UID",
                                      "LPO_SANDBOX_NO_PIDFD" };
  enum { NKEEP = sizeof keep / sizeof keep[0] };
  char *kept[NKEEP] = { 0 };
  for (size_t k = 0; k < NKEEP; k++) {
    const char *v = getenv(keep[k]);
    if (!v) continue;
    size_t len = strlen(keep[k]) + strlen(v) + 2;
    kept[k] = malloc(len);
    if (kept[k]) { snprintf(kept[k], len, "%s=%s", keep[k], v); envp[ne++] = kept[k]; }
  }
  envp[ne] = NULL;
  pid_t pid;
  int rc = posix_spawn(&pid, p->exe, &fa, &at, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  for (size_t k = 0; k < NKEEP; k++) free(kept[k]);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    return lpo_set_error("sandbox: cannot start a worker (%s): %s", p->exe, strerror(rc));
  }
  s->pid = pid;
  s->fd = sv[0];
  s->busy = 0;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "harness", p->harness);
  cJSON_AddStringToObject(o, "python", p->python);
  cJSON_AddStringToObject(o, "disable", p->disable);
  cJSON_AddNumberToObject(o, "index", i);
  cJSON_AddNumberToObject(o, "timeout", p->cfg.timeout_s);
  cJSON_AddNumberToObject(o, "memory_mb", p->cfg.memory_mb);
  cJSON_AddNumberToObject(o, "nproc", p->cfg.nproc);
  cJSON_AddNumberToObject(o, "file_mb", p->cfg.file_mb);
  cJSON_AddNumberToObject(o, "work_mb", p->cfg.work_mb);
  cJSON_AddNumberToObject(o, "nofile", p->cfg.nofile);
  cJSON_AddNumberToObject(o, "output_limit", (double)p->cfg.output_limit);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  rc = text ? sb_send_frame(s->fd, text, strlen(text)) : -1;
  free(text);
  if (rc != 0) return lpo_set_error("sandbox: worker %d did not take its configuration", i);
  return 0;
}

static void stop_worker(sb_slot *s, double grace_s) {
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  if (s->pid <= 0) return;
  double until = sb_now() + grace_s;
  for (;;) {
    pid_t r = waitpid(s->pid, NULL, WNOHANG);
    if (r == s->pid || (r < 0 && errno != EINTR)) break;
    if (sb_now() > until) {
      kill(s->pid, SIGKILL);
      while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {}
      break;
    }
    usleep(2000);
  }
  s->pid = 0;
}

/* Reads the worker's ready message; collects its layers and warnings. */
static int await_ready(lpo_sandbox_pool *p, int i) {
  sb_slot *s = &p->w[i];
  struct pollfd pf = { s->fd, POLLIN, 0 };
  char *text = poll(&pf, 1, 120000) == 1 ? sb_recv_frame(s->fd, NULL) : NULL;
  if (!text) return lpo_set_error("sandbox: worker %d did not start (see stderr)", i);
  cJSON *o = cJSON_Parse(text);
  free(text);
  int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ready"));
  const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
  const char *warn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "warnings"));
  if (warn && *warn) add_warning(p, warn);
  if (ok && i == 0) {
    size_t len = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "layers")) {
      const char *name = cJSON_GetStringValue(it);
      if (name) len += (size_t)snprintf(p->layers + len, sizeof p->layers - len, "%s%s", len ? "," : "", name);
    }
  }
  int rc = ok ? 0 : lpo_set_error("sandbox: worker %d failed to start: %s", i, err ? err : "unknown error");
  cJSON_Delete(o);
  return rc;
}

static int restart_worker(lpo_sandbox_pool *p, int i) {
  stop_worker(&p->w[i], 0);
  if (spawn_worker(p, i) != 0 || await_ready(p, i) != 0) {
    stop_worker(&p->w[i], 0);
    return -1;
  }
  return 0;
}

/* ---- results ---- */

static int push_done(lpo_sandbox_pool *p, lpo_sandbox_result *r) {
  if (p->dlen == p->dcap) {
    size_t cap = p->dcap ? p->dcap * 2 : 64;
    lpo_sandbox_result **nd = malloc(cap * sizeof *nd);
    if (!nd) return -1;
    for (size_t k = 0; k < p->dlen; k++) nd[k] = p->done[(p->dhead + k) % p->dcap];
    free(p->done);
    p->done = nd;
    p->dcap = cap;
    p->dhead = 0;
  }
  p->done[(p->dhead + p->dlen++) % p->dcap] = r;
  return 0;
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static lpo_sandbox_result *error_result(int64_t tag, int n_tests, const char *why) {
  lpo_sandbox_result *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->tag = tag;
  r->verdict = LPO_SANDBOX_SANDBOX_ERROR;
  r->n_tests = n_tests;
  r->outcomes = malloc((size_t)n_tests + 1);
  if (r->outcomes) memset(r->outcomes, LPO_SANDBOX_T_SKIPPED, (size_t)n_tests + 1);
  r->stdout_tail = dup_or_empty("");
  r->stderr_tail = dup_or_empty("");
  r->detail = dup_or_empty(why);
  r->layers = dup_or_empty("");
  return r;
}

static lpo_sandbox_result *parse_result(lpo_sandbox_pool *p, const char *text) {
  cJSON *o = cJSON_Parse(text);
  if (!o) return NULL;
  lpo_sandbox_result *r = calloc(1, sizeof *r);
  if (!r) { cJSON_Delete(o); return NULL; }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "tag");
  r->tag = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
  r->verdict = lpo_sandbox_verdict_from_name(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "verdict")));
  if (r->verdict < 0) r->verdict = LPO_SANDBOX_SANDBOX_ERROR;
  const cJSON *tests = cJSON_GetObjectItemCaseSensitive(o, "tests");
  r->n_tests = cJSON_GetArraySize(tests);
  r->outcomes = malloc((size_t)r->n_tests + 1);
  for (int i = 0; r->outcomes && i < r->n_tests; i++) {
    int oc = sb_outcome_from_name(cJSON_GetStringValue(cJSON_GetArrayItem(tests, i)));
    r->outcomes[i] = (uint8_t)(oc < 0 ? LPO_SANDBOX_T_ERROR : oc);
  }
  v = cJSON_GetObjectItemCaseSensitive(o, "time_ms");
  r->time_ms = cJSON_IsNumber(v) ? v->valuedouble : 0;
  v = cJSON_GetObjectItemCaseSensitive(o, "cpu_ms");
  r->cpu_ms = cJSON_IsNumber(v) ? v->valuedouble : 0;
  v = cJSON_GetObjectItemCaseSensitive(o, "peak_kb");
  r->peak_mb = cJSON_IsNumber(v) ? v->valuedouble / 1024.0 : 0;
  v = cJSON_GetObjectItemCaseSensitive(o, "exit");
  r->exit_status = cJSON_IsNumber(v) ? v->valueint : 0;
  r->stdout_tail = dup_or_empty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "stdout")));
  r->stderr_tail = dup_or_empty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "stderr")));
  r->detail = dup_or_empty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "detail")));
  char layers[256] = "";
  size_t len = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "layers")) {
    const char *name = cJSON_GetStringValue(it);
    if (name) len += (size_t)snprintf(layers + len, sizeof layers - len, "%s%s", len ? "," : "", name);
  }
  r->layers = strdup(layers);
  add_warning(p, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "warning")));
  cJSON_Delete(o);
  return r;
}

void lpo_sandbox_result_free(lpo_sandbox_result *r) {
  if (!r) return;
  free(r->outcomes);
  free(r->stdout_tail);
  free(r->stderr_tail);
  free(r->detail);
  free(r->layers);
  free(r);
}

/* ---- the pool ---- */

static void fail_slot(lpo_sandbox_pool *p, int i, const char *why) {
  sb_slot *s = &p->w[i];
  if (s->busy) {
    push_done(p, error_result(s->tag, 0, why));
    s->busy = 0;
  }
  if (restart_worker(p, i) != 0) add_warning(p, lpo_last_error());
}

static int dispatch(lpo_sandbox_pool *p) {
  for (int i = 0; i < p->n && p->qlen > 0; i++) {
    sb_slot *s = &p->w[i];
    if (s->busy || s->fd < 0) continue;
    sb_queued *j = &p->q[p->qhead];
    if (sb_send_frame(s->fd, j->frame, j->len) != 0) {
      fail_slot(p, i, NULL);
      i = -1;           /* the slot was restarted (or is gone): look again */
      if (p->w[0].fd < 0) {
        int any = 0;
        for (int k = 0; k < p->n; k++) any |= p->w[k].fd >= 0;
        if (!any) break;
      }
      continue;
    }
    s->busy = 1;
    s->tag = j->tag;
    s->deadline = sb_now() + j->timeout * 1.5 + 30.0;
    free(j->frame);
    p->qhead = (p->qhead + 1) % p->qcap;
    p->qlen--;
  }
  int alive = 0;
  for (int i = 0; i < p->n; i++) alive += p->w[i].fd >= 0;
  if (!alive) {           /* nothing can run: every queued job fails, loudly */
    while (p->qlen > 0) {
      sb_queued *j = &p->q[p->qhead];
      push_done(p, error_result(j->tag, 0, "no sandbox worker is running"));
      free(j->frame);
      p->qhead = (p->qhead + 1) % p->qcap;
      p->qlen--;
    }
  }
  return 0;
}

lpo_sandbox_pool *lpo_sandbox_pool_new(const lpo_sandbox_config *cfg) {
  lpo_sandbox_pool *p = calloc(1, sizeof *p);
  if (!p) { lpo_set_error("sandbox: out of memory"); return NULL; }
  if (cfg) p->cfg = *cfg; else lpo_sandbox_config_default(&p->cfg);
  lpo_sandbox_config d;
  lpo_sandbox_config_default(&d);
  if (p->cfg.timeout_s <= 0) p->cfg.timeout_s = d.timeout_s;
  if (p->cfg.memory_mb <= 0) p->cfg.memory_mb = d.memory_mb;
  if (p->cfg.output_limit <= 0) p->cfg.output_limit = d.output_limit;
  if (p->cfg.nproc <= 0) p->cfg.nproc = d.nproc;
  if (p->cfg.file_mb <= 0) p->cfg.file_mb = d.file_mb;
  if (p->cfg.work_mb <= 0) p->cfg.work_mb = d.work_mb;
  if (p->cfg.nofile <= 0) p->cfg.nofile = d.nofile;
  if (p->cfg.memory_mb < 64) { free(p); lpo_set_error("sandbox: memory_mb must be at least 64"); return NULL; }
  if (p->cfg.harness) snprintf(p->harness, sizeof p->harness, "%s", p->cfg.harness);
  else find_harness(p->harness, sizeof p->harness);
  if (!file_exists(p->harness)) {
    lpo_set_error("sandbox: harness %s not found (set LPO_ROOT)", p->harness);
    free(p);
    return NULL;
  }
  snprintf(p->python, sizeof p->python, "%s", p->cfg.python ? p->cfg.python : "/usr/bin/python3");
  snprintf(p->exe, sizeof p->exe, "%s", p->cfg.exe ? p->cfg.exe : "/proc/self/exe");
  snprintf(p->disable, sizeof p->disable, "%s", p->cfg.disable ? p->cfg.disable : "");
  p->cfg.harness = p->cfg.python = p->cfg.exe = p->cfg.disable = NULL;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  p->n = p->cfg.workers > 0 ? p->cfg.workers : (int)(ncpu > 0 ? ncpu : 1);
  p->w = calloc((size_t)p->n, sizeof *p->w);
  if (!p->w) { free(p); lpo_set_error("sandbox: out of memory"); return NULL; }
  for (int i = 0; i < p->n; i++) p->w[i].fd = -1;
  int rc = 0;
  for (int i = 0; rc == 0 && i < p->n; i++) rc = spawn_worker(p, i);   /* start in parallel ... */
  for (int i = 0; rc == 0 && i < p->n; i++) rc = await_ready(p, i);    /* ... then wait for each */
  if (rc != 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", lpo_last_error());
    lpo_sandbox_pool_free(p);
    lpo_set_error("%s", msg);
    return NULL;
  }
  /* A probe job: proves the whole path works and reports the per-job layers. */
  lpo_sandbox_job probe = { .language = "python", .code = "pass\n" };
  lpo_sandbox_result *r = NULL;
  if (lpo_sandbox_submit(p, &probe, -1) != 0 || lpo_sandbox_next(p, -1, &r) != 1 ||
      r->verdict != LPO_SANDBOX_PASSED) {
    char msg[1024];
    snprintf(msg, sizeof msg, "sandbox: the probe job failed: %s%s%s",
             r ? lpo_sandbox_verdict_name(r->verdict) : lpo_last_error(),
             r ? ": " : "", r ? (*r->detail ? r->detail : r->stderr_tail) : "");
    lpo_sandbox_result_free(r);
    lpo_sandbox_pool_free(p);
    lpo_set_error("%s", msg);
    return NULL;
  }
  snprintf(p->layers, sizeof p->layers, "%s", r->layers);
  lpo_sandbox_result_free(r);
  static const char *const needed[] = { "root", "pid", "tmpfs", "rlimits", "nnp", "seccomp" };
  char missing[256] = "";
  for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
    if (!sb_layer_disabled(p->layers, needed[i]))
      snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s", *missing ? "," : "", needed[i]);
  if (*missing) {
    char msg[1024];
    snprintf(msg, sizeof msg, "protecting layers unavailable: %.200s (active: %.255s)", missing, p->layers);
    if (!p->cfg.allow_insecure) {
      lpo_sandbox_pool_free(p);
      lpo_set_error("sandbox: %s; refusing to run untrusted code (allow_insecure overrides)", msg);
      return NULL;
    }
    add_warning(p, msg);
  }
  return p;
}

void lpo_sandbox_pool_free(lpo_sandbox_pool *p) {
  if (!p) return;
  for (int i = 0; p->w && i < p->n; i++) if (p->w[i].fd >= 0) { close(p->w[i].fd); p->w[i].fd = -2; }
  for (int i = 0; p->w && i < p->n; i++) if (p->w[i].pid > 0) stop_worker(&p->w[i], 2.0);
  free(p->w);
  for (size_t k = 0; k < p->qlen; k++) free(p->q[(p->qhead + k) % p->qcap].frame);
  free(p->q);
  for (size_t k = 0; k < p->dlen; k++) lpo_sandbox_result_free(p->done[(p->dhead + k) % p->dcap]);
  free(p->done);
  free(p);
}

int lpo_sandbox_pool_workers(const lpo_sandbox_pool *p) { return p ? p->n : 0; }
const char *lpo_sandbox_pool_layers(const lpo_sandbox_pool *p) { return p ? p->layers : ""; }
const char *lpo_sandbox_pool_warnings(const lpo_sandbox_pool *p) { return p ? p->warnings : ""; }
int lpo_sandbox_pending(const lpo_sandbox_pool *p) { return p ? p->pending : 0; }

int lpo_sandbox_submit(lpo_sandbox_pool *p, const lpo_sandbox_job *job, int64_t tag) {
  if (!p || !job) return lpo_set_error("sandbox: submit needs a pool and a job");
  const char *lang = job->language ? job->language : "python";
  if (strcmp(lang, "python") != 0 && strcmp(lang, "lua") != 0)
    return lpo_set_error("sandbox: job.language must be \"python\" or \"lua\", not \"%s\"", lang);
  if (!job->code) return lpo_set_error("sandbox: job.code is missing");
  if (job->n_tests < 0 || (job->n_tests > 0 && !job->tests))
    return lpo_set_error("sandbox: job.tests: %d tests but no array", job->n_tests);
  if (job->check && !job->entry_point)
    return lpo_set_error("sandbox: job.test (a check function) needs job.entry_point");
  if (job->check && job->n_tests > 0)
    return lpo_set_error("sandbox: give job.tests or job.test (check), not both");
  if (job->timeout_s < 0 || job->timeout_s > 3600) return lpo_set_error("sandbox: job.timeout out of range");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "op", "job");
  cJSON_AddNumberToObject(o, "tag", (double)tag);
  cJSON_AddStringToObject(o, "language", lang);
  /* JSON strings stop at NUL: a program with one is sent up to it and flagged, and the
   * worker reports the syntax error CPython (and Lua) would. */
  size_t code_len = job->code_len ? job->code_len : strlen(job->code);
  cJSON_AddStringToObject(o, "code", job->code);
  if (memchr(job->code, 0, code_len)) cJSON_AddBoolToObject(o, "nul", 1);
  cJSON *tests = cJSON_AddArrayToObject(o, "tests");
  for (int i = 0; i < job->n_tests; i++) {
    if (!job->tests[i]) { cJSON_Delete(o); return lpo_set_error("sandbox: job.tests[%d] is missing", i + 1); }
    cJSON_AddItemToArray(tests, cJSON_CreateString(job->tests[i]));
  }
  if (job->check) cJSON_AddStringToObject(o, "check", job->check);
  if (job->entry_point) cJSON_AddStringToObject(o, "entry", job->entry_point);
  if (job->setup) cJSON_AddStringToObject(o, "setup", job->setup);
  if (job->timeout_s > 0) cJSON_AddNumberToObject(o, "timeout", job->timeout_s);
  if (job->isolate_tests) cJSON_AddBoolToObject(o, "isolate", 1);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!text) return lpo_set_error("sandbox: out of memory");
  if (p->qlen == p->qcap) {
    size_t cap = p->qcap ? p->qcap * 2 : 64;
    sb_queued *nq = malloc(cap * sizeof *nq);
    if (!nq) { free(text); return lpo_set_error("sandbox: out of memory"); }
    for (size_t k = 0; k < p->qlen; k++) nq[k] = p->q[(p->qhead + k) % p->qcap];
    free(p->q);
    p->q = nq;
    p->qcap = cap;
    p->qhead = 0;
  }
  p->q[(p->qhead + p->qlen++) % p->qcap] =
    (sb_queued){ tag, text, strlen(text), job->timeout_s > 0 ? job->timeout_s : p->cfg.timeout_s };
  p->pending++;
  dispatch(p);
  return 0;
}

int lpo_sandbox_next(lpo_sandbox_pool *p, int timeout_ms, lpo_sandbox_result **out) {
  *out = NULL;
  if (!p) return lpo_set_error("sandbox: no pool");
  double until = timeout_ms < 0 ? INFINITY : sb_now() + timeout_ms / 1000.0;
  for (;;) {
    dispatch(p);
    if (p->dlen > 0) {
      *out = p->done[p->dhead];
      p->dhead = (p->dhead + 1) % p->dcap;
      p->dlen--;
      p->pending--;
      return 1;
    }
    if (p->pending == 0) return 0;
    struct pollfd pf[256];
    int idx[256], np = 0;
    double now = sb_now(), wake = until;
    for (int i = 0; i < p->n && np < 256; i++) {
      if (!p->w[i].busy || p->w[i].fd < 0) continue;
      pf[np] = (struct pollfd){ p->w[i].fd, POLLIN, 0 };
      idx[np++] = i;
      if (p->w[i].deadline < wake) wake = p->w[i].deadline;
    }
    int ms = wake == INFINITY ? -1 : (int)ceil((wake - now) * 1000.0);
    if (ms < -1) ms = 0;
    int k = poll(pf, (nfds_t)np, ms);
    if (k < 0 && errno != EINTR) return lpo_set_error("sandbox: poll: %s", strerror(errno));
    for (int j = 0; k > 0 && j < np; j++) {
      if (!pf[j].revents) continue;
      int i = idx[j];
      char *text = sb_recv_frame(p->w[i].fd, NULL);
      lpo_sandbox_result *r = text ? parse_result(p, text) : NULL;
      free(text);
      if (!r) { fail_slot(p, i, "the sandbox worker died"); continue; }
      p->w[i].busy = 0;
      r->tag = p->w[i].tag;
      push_done(p, r);
    }
    now = sb_now();
    for (int i = 0; i < p->n; i++)
      if (p->w[i].busy && now > p->w[i].deadline) fail_slot(p, i, "the sandbox worker stopped answering");
    if (p->dlen == 0 && now >= until) return 0;
  }
}
