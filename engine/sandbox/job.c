/* job.c — one job in a worker: starting it, supervising it, its result.
 *   python  the program process is cloned by the zygote (one end of a fresh socket); the test
 *           server gets the other end with the code and tests (sealed memfds) and the job's
 *           stdout, stderr and result pipes over SCM_RIGHTS. The test server reports on the
 *           result stream; then (or at the limit) the zygote ends the program and answers
 *           with its exit status. A fresh program process on request ("respawn").
 *   lua     the worker itself forks the job into new pid/mount/ipc/uts namespaces, isolates it
 *           (isolate.c) and runs luarun.c in it.
 * Both are supervised alike: stdout/stderr are read (tails kept, total capped), the result
 * stream is parsed into facts (verdict.c), the wall clock is enforced, /work is a fresh tmpfs
 * for every job. */
#include "sandbox/sb_internal.h"
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SB_TAIL 4096

typedef struct sb_tail { char buf[SB_TAIL]; size_t len; } sb_tail;

typedef struct sb_run {
  int fds[3];                 /* stdout, stderr, result stream (read ends); -1 when closed */
  sb_tail tail[2];
  int64_t total;
  char *line;
  size_t line_len, line_cap;
  sb_facts f;
  char *detail, *layers, *warn;
  int finished;
  long maxrss_kb;
  double cpu_s;
  int program_status;         /* the zygote's view of the program's exit (SB_STATUS_UNKNOWN) */
  int fresh_work;             /* /work was remounted for this job */
  /* Kept for the whole job so a fresh program process can be started: the write ends of
   * stdout/stderr (closed when the job ends), the program's config "CPU UID|- WORKDIR". */
  int code_fd, out_w, err_w;
  char pcfg[512];
  int respawning;             /* waiting for the zygote to end the old program */
  int python;                 /* a Python job (else Lua) */
} sb_run;

static void tail_add(sb_tail *t, const char *p, size_t n) {
  if (n >= SB_TAIL) { memcpy(t->buf, p + n - SB_TAIL, SB_TAIL); t->len = SB_TAIL; return; }
  if (t->len + n > SB_TAIL) {
    size_t drop = t->len + n - SB_TAIL;
    memmove(t->buf, t->buf + drop, t->len - drop);
    t->len -= drop;
  }
  memcpy(t->buf + t->len, p, n);
  t->len += n;
}

/* A tail may start inside a UTF-8 sequence and hold binary: keep valid UTF-8, '?' otherwise,
 * so the result survives any JSON encoder downstream. */
static char *tail_text(const sb_tail *t) {
  char *s = malloc(t->len + 1);
  if (!s) return NULL;
  size_t i = 0, o = 0;
  while (i < t->len) {
    unsigned char c = (unsigned char)t->buf[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    int ok = n > 0 && i + (size_t)n <= t->len;
    for (int k = 1; ok && k < n; k++) ok = ((unsigned char)t->buf[i + (size_t)k] >> 6) == 2;
    if (ok && c != 0) { memcpy(s + o, t->buf + i, (size_t)n); o += (size_t)n; i += (size_t)n; }
    else { s[o++] = '?'; i++; }
  }
  s[o] = 0;
  return s;
}

/* ---- supervision, shared by Python and Lua jobs ---- */

static void release_job_fds(sb_run *r) {
  if (r->code_fd >= 0) close(r->code_fd);
  if (r->out_w >= 0) close(r->out_w);
  if (r->err_w >= 0) close(r->err_w);
  r->code_fd = r->out_w = r->err_w = -1;
}

static void run_free(sb_run *r) {
  release_job_fds(r);
  for (int i = 0; i < 3; i++) if (r->fds[i] >= 0) close(r->fds[i]);
  free(r->line); free(r->detail); free(r->layers); free(r->warn);
  free(r->f.outcome); free(r->f.reported); free(r->f.status);
}

static int run_init(sb_run *r, int n_tests) {
  memset(r, 0, sizeof *r);
  r->fds[0] = r->fds[1] = r->fds[2] = -1;
  r->f.n_tests = n_tests;
  r->f.run_outcome = -1;
  r->f.outcome = malloc((size_t)n_tests + 1);
  r->f.reported = calloc((size_t)n_tests + 1, 1);
  r->f.status = malloc(((size_t)n_tests + 1) * sizeof(int));
  if (!r->f.outcome || !r->f.reported || !r->f.status) return -1;
  memset(r->f.outcome, LPO_SANDBOX_T_SKIPPED, (size_t)n_tests + 1);
  for (int i = 0; i <= n_tests; i++) r->f.status[i] = SB_STATUS_UNKNOWN;
  r->program_status = SB_STATUS_UNKNOWN;
  r->f.respawn = -1;
  r->code_fd = r->out_w = r->err_w = -1;
  return 0;
}

static void result_lines(sb_run *r, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      if (r->line_len < r->line_cap) {
        r->line[r->line_len] = 0;
        if (sb_facts_apply_line(&r->f, r->line, &r->detail, &r->layers, &r->warn) != 0)
          r->f.internal_error = 1;
      }
      r->line_len = 0;
      continue;
    }
    if (r->line_len + 1 >= r->line_cap) {
      if (r->line_cap >= (1u << 20)) { r->f.internal_error = 1; continue; }
      size_t cap = r->line_cap ? r->line_cap * 2 : 4096;
      char *nl = realloc(r->line, cap);
      if (!nl) { r->f.internal_error = 1; continue; }
      r->line = nl;
      r->line_cap = cap;
    }
    r->line[r->line_len++] = p[i];
  }
}

/* Starts a program process for the job: the zygote clones it with one end of a new socket,
 * the test server gets the other ({"op":"sock"} for a replacement, with the job otherwise). */
static int start_program(sb_worker *w, sb_run *r, const char *server_msg, int tests_fd, int res_w) {
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
    return lpo_set_error("sandbox: socketpair: %s", strerror(errno));
  int zfds[3] = { sp[1], r->out_w, r->err_w };
  int rc = sb_send_fds(w->zsock, r->pcfg, strlen(r->pcfg), zfds, 3);
  if (rc == 0) {
    int sfds[6] = { sp[0], r->code_fd, tests_fd, r->out_w, r->err_w, res_w };
    rc = sb_send_fds(w->ssock, server_msg, strlen(server_msg), sfds, tests_fd >= 0 ? 6 : 1);
  }
  close(sp[0]);
  close(sp[1]);
  return rc == 0 ? 0 : lpo_set_error("sandbox: starting a program process: %s", strerror(errno));
}

/* Tells the zygote to end the job's program: "ex" when the test server saw the program go
 * away by itself, so the zygote waits for its exit status instead of killing it. */
static void zygote_end(sb_worker *w, sb_run *r, int *end_sent) {
  if (*end_sent) return;
  *end_sent = 1;
  int exited = r->f.gone || r->f.run_outcome == SB_T_EXITED;
  for (int i = 0; i < r->f.n_tests; i++) exited |= r->f.reported[i] && r->f.outcome[i] == SB_T_EXITED;
  if (sb_send_fds(w->zsock, exited ? "ex" : "e", exited ? 2 : 1, NULL, 0) != 0) sb_zygote_stop(w);
}

/* Without a pidfd (pidfd_open needs Linux 5.3; a seccomp filter may refuse it) a Lua job's
 * end cannot be polled for: the supervisor then wakes every LUA_REAP_MS to ask. (Polling fd
 * -1 instead never woke, and every Lua job ran to its time limit.) */
enum { LUA_REAP_MS = 10 };

/* Collects the Lua child if it has ended: its status, peak RSS and CPU time. Returns 1 then. */
static int reap_lua(sb_run *r, pid_t lua_pid, int kill_sent) {
  int status;
  struct rusage ru;
  if (wait4(lua_pid, &status, WNOHANG, &ru) != lua_pid) return 0;
  r->finished = 1;
  if (!kill_sent) r->program_status = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
  r->maxrss_kb = ru.ru_maxrss;
  r->cpu_s = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
             (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
  return 1;
}

/* Reads the job's output and result stream until it is over, enforcing the wall clock and the
 * output cap. lua_pid > 0: a Lua job, our own child, killed directly. Otherwise a Python job:
 * the test server reports "done" on the result stream; then (or at the limit) the zygote is
 * told to end the program, which it answers with the program's exit status. */
static void supervise(sb_worker *w, sb_run *r, double timeout_s, pid_t lua_pid) {
  double start = sb_now();
  double hard = start + timeout_s + 0.5 + 0.25 * timeout_s;
  double kill_at = 0, finished_at = 0;
  int kill_sent = 0, end_sent = 0;
  int lua_pidfd = lua_pid > 0 ? sb_pidfd_open(lua_pid) : -1;
  int ask_lua = lua_pid > 0 && lua_pidfd < 0;   /* no pidfd to poll: ask every LUA_REAP_MS */
  char buf[65536];
  for (;;) {
    if (r->finished) release_job_fds(r);
    int open_fds = (r->fds[0] >= 0) + (r->fds[1] >= 0) + (r->fds[2] >= 0);
    if (r->finished && open_fds == 0) break;
    double now = sb_now();
    if (!r->finished && lua_pid <= 0 && w->zsock < 0) {
      /* The zygote was stopped under the job (a message to it failed: it had died), so no
       * exit status will come: a sandbox error now. (Polling the closed socket, fd -1, waited
       * for the time limit and reported "timeout": test_sandbox's killed-zygote case.) */
      r->f.internal_error = 1;
      r->finished = 1;
      finished_at = now;
      continue;
    }
    double until = r->finished ? finished_at + 2.0 : kill_sent ? kill_at + 1.0 : hard;
    if (r->finished && now > until) break;   /* a straggler holds a pipe: stop reading */
    struct pollfd pf[4];
    int map[4], np = 0;
    for (int i = 0; i < 3; i++)
      if (r->fds[i] >= 0) { pf[np] = (struct pollfd){ r->fds[i], POLLIN, 0 }; map[np++] = i; }
    if (!r->finished) {
      int fd = lua_pid > 0 ? lua_pidfd : w->zsock;
      pf[np] = (struct pollfd){ fd, POLLIN, 0 };
      map[np++] = 3;
    }
    int ms = (int)ceil((until - now) * 1000.0);
    if (ask_lua && !r->finished && ms > LUA_REAP_MS) ms = LUA_REAP_MS;
    int k = poll(pf, (nfds_t)np, ms < 0 ? 0 : ms);
    if (k < 0 && errno != EINTR) break;
    if (ask_lua && !r->finished && reap_lua(r, lua_pid, kill_sent)) finished_at = sb_now();
    for (int i = 0; k > 0 && i < np; i++) {
      if (!pf[i].revents) continue;
      int which = map[i];
      if (which < 3) {
        ssize_t n = read(r->fds[which], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          close(r->fds[which]);
          r->fds[which] = -1;
          if (which == 2 && !r->f.done && lua_pid <= 0 && !r->finished) {
            /* The test server died without finishing: replace it, end the program. */
            if (r->f.killed_for == SB_KILL_NONE) r->f.internal_error = 1;
            sb_server_restart(w);
            zygote_end(w, r, &end_sent);
          }
          continue;
        }
        if (which == 2) {
          result_lines(r, buf, (size_t)n);
          if (lua_pid <= 0 && r->f.respawn >= 0 && !r->respawning && !kill_sent) {
            r->respawning = 1;         /* end the old program first: its status matters */
            zygote_end(w, r, &end_sent);
          }
          if (r->f.done && lua_pid <= 0) zygote_end(w, r, &end_sent);
          continue;
        }
        tail_add(&r->tail[which], buf, (size_t)n);
        r->total += n;
        if (r->total > w->output_limit && r->f.killed_for == SB_KILL_NONE) {
          r->f.killed_for = SB_KILL_OUTPUT;
          if (!kill_sent) { kill_sent = 1; kill_at = sb_now(); }
          if (lua_pid > 0) kill(lua_pid, SIGKILL);
          else zygote_end(w, r, &end_sent);
        }
      } else if (lua_pid > 0) {
        if (reap_lua(r, lua_pid, kill_sent)) finished_at = sb_now();
      } else {
        char msg[256];
        ssize_t n = recv(w->zsock, msg, sizeof msg - 1, 0);
        if (n <= 0) {                    /* the zygote died: replace it before the next job */
          r->f.internal_error = 1;
          sb_zygote_stop(w);
          r->finished = 1;
          finished_at = sb_now();
          continue;
        }
        msg[n] = 0;
        /* "d STATUS|k MAXRSS_KB CPU_S": the program's exit code, or k when it was killed. */
        char st[32];
        long rss = 0;
        double cpu = 0;
        if (msg[0] == 'd' && sscanf(msg, "d %31s %ld %lf", st, &rss, &cpu) == 3) {
          int status = st[0] != 'k' ? atoi(st) : SB_STATUS_UNKNOWN;
          if (rss > r->maxrss_kb) r->maxrss_kb = rss;
          r->cpu_s += cpu;
          if (r->respawning && !r->f.done && !kill_sent) {
            int j = r->f.respawn;      /* the test that ended the old program gets its status */
            if (j >= 1 && r->f.reported[j - 1] && r->f.status[j - 1] == SB_STATUS_UNKNOWN)
              r->f.status[j - 1] = status;
            r->f.respawn = -1;
            r->f.gone = 0;
            r->respawning = 0;
            end_sent = 0;
            if (start_program(w, r, "{\"op\":\"sock\"}", -1, -1) != 0) {
              r->f.internal_error = 1;
              sb_zygote_stop(w);
              r->finished = 1;
              finished_at = sb_now();
            }
          } else {
            r->finished = 1;
            finished_at = sb_now();
            r->program_status = status;
            release_job_fds(r);      /* now the pipes can reach EOF */
          }
        }
      }
    }
    now = sb_now();
    if (!r->finished && !kill_sent && now >= hard) {
      kill_sent = 1;
      kill_at = now;
      if (r->f.killed_for == SB_KILL_NONE) r->f.killed_for = SB_KILL_TIMEOUT;
      if (lua_pid > 0) kill(lua_pid, SIGKILL);
      else zygote_end(w, r, &end_sent);
    }
    if (!r->finished && kill_sent && now >= kill_at + 1.0 && lua_pid <= 0) {
      if (!r->f.done && r->fds[2] >= 0) {
        /* The program is gone but the test server has not finished: it is stuck in test
         * code. Replace it; if the zygote does not answer either, replace everything. */
        sb_server_restart(w);
        close(r->fds[2]);
        r->fds[2] = -1;
        kill_at = now;
      } else {
        sb_zygote_stop(w);
        r->finished = 1;
        finished_at = now;
      }
    }
  }
  if (lua_pidfd >= 0) close(lua_pidfd);
  /* The test server never finished this job (stuck in test code, or too slow): it must not
   * carry on into the next one. */
  if (lua_pid <= 0 && !r->f.done && w->zpid > 0) sb_server_restart(w);
  if (lua_pid > 0 && !r->finished) {
    kill(lua_pid, SIGKILL);
    while (waitpid(lua_pid, NULL, 0) < 0 && errno == EINTR) {}
  }
}

/* ---- jobs ---- */

static int make_pipes(int out[3][2]) {
  for (int i = 0; i < 3; i++)
    if (pipe2(out[i], O_CLOEXEC) != 0) {
      for (int j = 0; j < i; j++) { close(out[j][0]); close(out[j][1]); }
      return lpo_set_error("sandbox: pipe: %s", strerror(errno));
    }
  return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb; (void)ftw;
  if (type == FTW_DP) rmdir(path); else unlink(path);
  return 0;
}

static void job_dir(sb_worker *w, char *dir, size_t n, int create) {
  if (w->st.root) { snprintf(dir, n, "%s", w->st.workdir); return; }
  snprintf(dir, n, "%.300s/job-%ld", w->st.workdir, w->jobs);
  if (!create) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  } else if (mkdir(dir, 0700) == 0 && w->st.setuid_nobody && chown(dir, 65534, 65534) != 0) {
    sb_append_warning(&w->st, "chown of the job dir: %s", strerror(errno));
  }
}

/* A fresh tmpfs on /work (and so /tmp, /dev/shm) for every job: nothing a job wrote, and
 * no trace of it such as inode numbers, is there for the next. All of the previous job's
 * processes are dead by now, so nothing holds the old one. */
static int fresh_work(sb_worker *w) {
  if (!w->st.root) return 0;
  char opts[96];
  snprintf(opts, sizeof opts, "size=%dk,nr_inodes=4096,mode=0755", w->work_mb * 1024);
  umount2("/work", MNT_DETACH);
  if (mount("tmpfs", "/work", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) != 0) return 0;
  if (mkdir("/work/tmp", 01777) != 0 || chmod("/work/tmp", 01777) != 0) return 0;
  return 1;
}

static int run_python(sb_worker *w, const cJSON *job, double timeout_s, int isolate, sb_run *r) {
  if (w->zpid <= 0 && sb_zygote_start(w) != 0) return -1;
  cJSON *spec = cJSON_CreateObject();
  static const char *const keys[] = { "tests", "check", "entry", "setup" };
  for (size_t i = 0; i < 4; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(job, keys[i]);
    if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(spec, keys[i], cJSON_Duplicate(v, 1));
  }
  char *spec_text = cJSON_PrintUnformatted(spec);
  cJSON_Delete(spec);
  const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "code"));
  int code_fd = sb_memfd("lpo-code", code, strlen(code));
  int tests_fd = spec_text ? sb_memfd("lpo-tests", spec_text, strlen(spec_text)) : -1;
  free(spec_text);
  int p[3][2];
  if (code_fd < 0 || tests_fd < 0 || make_pipes(p) != 0) {
    if (code_fd >= 0) close(code_fd);
    if (tests_fd >= 0) close(tests_fd);
    return -1;
  }
  char dir[sizeof ((sb_wstate *)0)->workdir];
  job_dir(w, dir, sizeof dir, 1);
  r->fresh_work = fresh_work(w);
  /* The zygote passes "r CPU UID WORKDIR" to the program process unparsed. */
  snprintf(r->pcfg, sizeof r->pcfg, "r%d %s %s", (int)ceil(timeout_s) + 1,
           w->st.setuid_nobody ? "65534" : "-", dir);
  char smsg[128];
  snprintf(smsg, sizeof smsg, "{\"op\":\"job\",\"cfg\":{\"timeout\":%.6f,\"isolate\":%s}}",
           timeout_s, isolate ? "true" : "false");
  r->code_fd = code_fd;
  r->out_w = p[0][1];
  r->err_w = p[1][1];
  for (int i = 0; i < 3; i++) r->fds[i] = p[i][0];
  int rc = start_program(w, r, smsg, tests_fd, p[2][1]);
  if (rc != 0) {
    /* The zygote or its test server died between jobs (nothing watches the test server while
     * the worker is idle): start both afresh and try once more. */
    sb_zygote_stop(w);
    if (sb_zygote_start(w) == 0) rc = start_program(w, r, smsg, tests_fd, p[2][1]);
  }
  close(r->code_fd);
  r->code_fd = -1;
  close(tests_fd);
  close(p[2][1]);
  if (rc != 0) {
    sb_zygote_stop(w);
    job_dir(w, dir, sizeof dir, 0);
    return -1;
  }
  supervise(w, r, timeout_s, 0);
  job_dir(w, dir, sizeof dir, 0);
  return 0;
}

static int run_lua(sb_worker *w, const cJSON *job, int n_tests, double timeout_s, sb_run *r) {
  int p[3][2];
  if (make_pipes(p) != 0) return -1;
  char dir[sizeof ((sb_wstate *)0)->workdir];
  job_dir(w, dir, sizeof dir, 1);
  int flags = w->st.job_ns;
  pid_t pid = flags ? sb_clone(flags) : fork();
  if (pid < 0 && flags) pid = fork();
  if (pid < 0) {
    for (int i = 0; i < 3; i++) { close(p[i][0]); close(p[i][1]); }
    return lpo_set_error("sandbox: fork: %s", strerror(errno));
  }
  if (pid == 0) {
    setsid();
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(p[0][1], 1);
    dup2(p[1][1], 2);
    int res = dup2(p[2][1], 3);
    syscall(SYS_close_range, 4U, ~0U, 0U);
    if (res != 3) _exit(70);
    sb_wstate st = w->st;
    snprintf(st.workdir, sizeof st.workdir, "%s", dir);
    sb_jlimits lim = { timeout_s, w->memory_mb, w->nproc, w->file_mb, w->nofile, w->work_mb };
    char layers[256], line[400];
    if (sb_job_isolate(&st, &lim, w->use_seccomp, layers, sizeof layers) != 0) {
      snprintf(line, sizeof line, "{\"warn\":\"job isolation failed\"}\n");
      sb_write_all(3, line, strlen(line));
      _exit(71);
    }
    cJSON *l = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(l, "layers");
    for (char *tok = strtok(layers, ","); tok; tok = strtok(NULL, ","))
      cJSON_AddItemToArray(arr, cJSON_CreateString(tok));
    char *text = cJSON_PrintUnformatted(l);
    if (text) { sb_write_all(3, text, strlen(text)); sb_write_all(3, "\n", 1); }
    const cJSON *tests = cJSON_GetObjectItemCaseSensitive(job, "tests");
    int nt = cJSON_GetArraySize(tests);
    const char **tv = calloc((size_t)nt + 1, sizeof *tv);
    for (int i = 0; tv && i < nt; i++) tv[i] = cJSON_GetStringValue(cJSON_GetArrayItem(tests, i));
    sb_lua_run(3, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "code")), tv, tv ? nt : 0,
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "check")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "entry")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "setup")), timeout_s,
               (size_t)w->memory_mb << 20);
    _exit(0);
  }
  for (int i = 0; i < 3; i++) { close(p[i][1]); r->fds[i] = p[i][0]; }
  (void)n_tests;
  supervise(w, r, timeout_s, pid);
  job_dir(w, dir, sizeof dir, 0);
  return 0;
}

/* Worker-wide layers; nnp and seccomp come from the Python zygote, which Lua jobs do not use
 * (the Lua job process reports its own). */
const char *sb_worker_layers(const sb_worker *w, int python) {
  static char s[128];
  snprintf(s, sizeof s, "%s%s%s%s%s%s%s%s", w->st.user ? "user," : "", w->st.net ? "net," : "",
           w->st.ipc ? "ipc," : "", w->st.uts ? "uts," : "", w->st.mount ? "mount," : "",
           w->st.root ? "root," : "", python && w->nnp ? "nnp," : "", python && w->seccomp ? "seccomp," : "");
  size_t n = strlen(s);
  if (n) s[n - 1] = 0;
  return s;
}

/* Worker layers first, then the job's, each name once. */
void sb_add_layers(void *arr_, const char *list) {
  cJSON *arr = arr_;
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s", list ? list : "");
  for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int seen = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) if (strcmp(cJSON_GetStringValue(it), tok) == 0) seen = 1;
    if (!seen) cJSON_AddItemToArray(arr, cJSON_CreateString(tok));
  }
}

static char *result_json(sb_worker *w, double tag, sb_run *r, double time_ms, const char *error) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "tag", tag);
  sb_facts_finalize(&r->f, r->program_status);
  if (r->program_status != SB_STATUS_UNKNOWN && r->f.n_tests <= 1 && r->f.exit_status == 0)
    r->f.exit_status = r->program_status;
  int verdict = error ? LPO_SANDBOX_SANDBOX_ERROR : sb_verdict(&r->f);
  cJSON_AddStringToObject(o, "verdict", lpo_sandbox_verdict_name(verdict));
  cJSON *tests = cJSON_AddArrayToObject(o, "tests");
  for (int i = 0; i < r->f.n_tests; i++) {
    int oc = r->f.reported[i] ? r->f.outcome[i] : LPO_SANDBOX_T_SKIPPED;
    if (!r->f.reported[i] && r->f.killed_for == SB_KILL_TIMEOUT &&
        (i == 0 || r->f.reported[i - 1])) oc = LPO_SANDBOX_T_TIMEOUT;
    cJSON_AddItemToArray(tests, cJSON_CreateString(lpo_sandbox_outcome_name(oc)));
  }
  cJSON_AddNumberToObject(o, "time_ms", time_ms);
  cJSON_AddNumberToObject(o, "cpu_ms", (r->cpu_s + r->f.server_cpu_s) * 1000.0);
  cJSON_AddNumberToObject(o, "peak_kb", (double)r->maxrss_kb);
  cJSON_AddNumberToObject(o, "exit", r->f.exit_status);
  char *out = tail_text(&r->tail[0]), *err = tail_text(&r->tail[1]);
  cJSON_AddStringToObject(o, "stdout", out ? out : "");
  cJSON_AddStringToObject(o, "stderr", err ? err : "");
  free(out); free(err);
  const char *detail = error ? error : r->detail;
  if (!detail && r->f.killed_for == SB_KILL_TIMEOUT) detail = "killed at the time limit";
  if (!detail && r->f.killed_for == SB_KILL_OUTPUT) detail = "output limit exceeded";
  if (!detail && r->f.internal_error) detail = "the sandbox failed (zygote died or bad result stream)";
  cJSON_AddStringToObject(o, "detail", detail ? detail : "");
  cJSON *layers = cJSON_AddArrayToObject(o, "layers");
  sb_add_layers(layers, sb_worker_layers(w, r->python));
  /* A program that died (or hung) before its first message did not report its layers; they
   * are the same for every job of this worker, so the last report stands in. */
  if (r->python && r->layers) snprintf(w->job_layers, sizeof w->job_layers, "%s", r->layers);
  sb_add_layers(layers, r->layers ? r->layers : r->python ? w->job_layers : NULL);
  if (r->fresh_work) sb_add_layers(layers, "tmpfs");
  if (r->warn) cJSON_AddStringToObject(o, "warning", r->warn);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

char *sb_handle_job(sb_worker *w, const cJSON *job) {
  double t0 = sb_now();
  const cJSON *tagv = cJSON_GetObjectItemCaseSensitive(job, "tag");
  double tag = cJSON_IsNumber(tagv) ? tagv->valuedouble : 0;
  const char *lang = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "language"));
  const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "code"));
  const cJSON *tests = cJSON_GetObjectItemCaseSensitive(job, "tests");
  const char *check = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "check"));
  const cJSON *tv = cJSON_GetObjectItemCaseSensitive(job, "timeout");
  double timeout_s = cJSON_IsNumber(tv) && tv->valuedouble > 0 ? tv->valuedouble : w->timeout_s;
  int isolate = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job, "isolate"));
  int n_tests = check ? 1 : cJSON_IsArray(tests) ? cJSON_GetArraySize(tests) : 0;
  sb_run r;
  const char *error = NULL;
  if (run_init(&r, n_tests) != 0) error = "out of memory";
  else if (!code) error = "job has no code";
  else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job, "nul"))) {
    r.f.syntax_error = 1;                 /* as compile() and luaL_loadbuffer would say */
    r.f.done = 1;
    r.detail = strdup("SyntaxError: source code cannot contain null bytes");
  }
  else if (!lang || strcmp(lang, "python") == 0) {
    r.python = 1;
    if (run_python(w, job, timeout_s, isolate, &r) != 0) error = lpo_last_error();
  } else if (strcmp(lang, "lua") == 0) {
    if (run_lua(w, job, n_tests, timeout_s, &r) != 0) error = lpo_last_error();
  } else {
    error = "unknown language";
  }
  w->jobs++;
  char *text = result_json(w, tag, &r, (sb_now() - t0) * 1000.0, error);
  run_free(&r);
  return text;
}
