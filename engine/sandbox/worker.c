/* worker.c — one sandbox worker: a fresh exec of lpo (`lpo --lpo-sandbox-worker PPID`,
 * socket to the pool on fd 3), so it has exactly one thread whatever the parent had: the
 * fork server of DESIGN.md starts before any thread because it starts in a new image.
 *
 * It enters its namespaces and minimal root once (isolate.c), starts the Python zygote as
 * pid 1 of a new pid namespace (clone(CLONE_NEWPID) each time, so a zygote can be replaced)
 * with the seccomp filter as hex and the shared rlimits, and then serves jobs one at a time
 * (job.c). A zygote that dies is replaced before the next job. */
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

#define SB_ZYGOTE_BOOT "import sys;exec(compile(sys.argv.pop(),'lpo_harness.py','exec'))"

pid_t sb_clone(int flags) {
  /* fork() with namespace flags; the worker is single-threaded, so the raw syscall is safe. */
  return (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), 0UL, 0UL, 0UL, 0UL);
}

/* LPO_SANDBOX_NO_PIDFD=1 makes it fail as on a kernel before 5.3 (ENOSYS), so the tests can
 * run the paths that work without pidfds. */
int sb_pidfd_open(pid_t pid) {
  const char *e = getenv("LPO_SANDBOX_NO_PIDFD");
  if (e && *e == '1') {
    errno = ENOSYS;
    return -1;
  }
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- the zygote ---- */

void sb_zygote_stop(sb_worker *w) {
  if (w->zpid > 0) {
    kill(w->zpid, SIGKILL);     /* pid 1 of its namespace: everything under it dies too */
    while (waitpid(w->zpid, NULL, 0) < 0 && errno == EINTR) {}
  }
  if (w->zsock >= 0) close(w->zsock);
  if (w->zpidfd >= 0) close(w->zpidfd);
  if (w->ssock >= 0) close(w->ssock);
  w->zpid = 0;
  w->zsock = w->zpidfd = w->ssock = -1;
}

static int seqpacket_pair(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return lpo_set_error("sandbox: socketpair: %s", strerror(errno));
  int big = 4 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  return 0;
}

/* The test server is stuck in a test or died: the zygote replaces it with a fresh fork. */
int sb_server_restart(sb_worker *w) {
  int sv[2];
  if (w->zpid <= 0 || seqpacket_pair(sv) != 0) return -1;
  int rc = sb_send_fds(w->zsock, "s", 1, &sv[1], 1);
  close(sv[1]);
  if (rc != 0) { close(sv[0]); return -1; }
  close(w->ssock);
  w->ssock = sv[0];
  return 0;
}

int sb_zygote_start(sb_worker *w) {
  int sv[2], ss[2];
  if (seqpacket_pair(sv) != 0) return -1;
  if (seqpacket_pair(ss) != 0) { close(sv[0]); close(sv[1]); return -1; }
  pid_t pid = w->st.job_ns & CLONE_NEWPID ? sb_clone(CLONE_NEWPID) : -1;
  if (pid < 0) {
    if (w->st.job_ns & CLONE_NEWPID)
      sb_append_warning(&w->st, "zygote pid namespace unavailable: %s", strerror(errno));
    w->st.job_ns &= ~CLONE_NEWPID;
    pid = fork();
  }
  if (pid < 0) {
    close(sv[0]); close(sv[1]); close(ss[0]); close(ss[1]);
    return lpo_set_error("sandbox: fork: %s", strerror(errno));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(sv[1], 3) != 3 || dup2(ss[1], 4) != 4) _exit(127);
    syscall(SYS_close_range, 5U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    char *argv[] = { w->python, "-s", "-P", "-B", "-c", SB_ZYGOTE_BOOT, "--zygote", w->harness_src, NULL };
    char *envp[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "PYTHONHASHSEED=0",
                     "PYTHONDONTWRITEBYTECODE=1", "MALLOC_ARENA_MAX=2", "HOME=/work", "TMPDIR=/tmp",
                     "OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1", NULL };
    execve(w->python, argv, envp);
    _exit(127);
  }
  close(sv[1]);
  close(ss[1]);
  w->zpid = pid;
  w->zsock = sv[0];
  w->ssock = ss[0];
  w->zpidfd = sb_pidfd_open(pid);
  /* Limits every process of the worker shares; RLIMIT_CPU is set per job in the program. */
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "bpf", w->bpf_hex ? w->bpf_hex : "");
  cJSON *rl = cJSON_AddObjectToObject(o, "rlimits");
  cJSON_AddNumberToObject(rl, "AS", (double)w->memory_mb * 1048576.0);
  cJSON_AddNumberToObject(rl, "NPROC", w->nproc);
  cJSON_AddNumberToObject(rl, "FSIZE", (double)w->file_mb * 1048576.0);
  cJSON_AddNumberToObject(rl, "NOFILE", w->nofile);
  cJSON_AddNumberToObject(rl, "CORE", 0);
  cJSON_AddNumberToObject(rl, "MEMLOCK", 0);
  cJSON_AddNumberToObject(rl, "MSGQUEUE", 0);
  if (w->st.setuid_nobody) cJSON_AddNumberToObject(o, "setuid", 65534);
  cJSON_AddBoolToObject(o, "pidns", (w->st.job_ns & CLONE_NEWPID) != 0);
  char *init = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!init) { sb_zygote_stop(w); return lpo_set_error("sandbox: out of memory"); }
  int rc = sb_send_fds(w->zsock, init, strlen(init), NULL, 0);
  free(init);
  struct pollfd pf = { w->zsock, POLLIN, 0 };
  char buf[512];
  ssize_t n = -1;
  if (rc == 0 && poll(&pf, 1, 60000) == 1) n = recv(w->zsock, buf, sizeof buf - 1, 0);
  if (n <= 0) {
    sb_zygote_stop(w);
    return lpo_set_error("sandbox: the Python zygote (%s) did not start", w->python);
  }
  buf[n] = 0;
  o = cJSON_Parse(buf);
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "python"));
  snprintf(w->py_version, sizeof w->py_version, "%s", v ? v : "?");
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "warnings"))
    if (cJSON_GetStringValue(it)) sb_append_warning(&w->st, "zygote: %s", cJSON_GetStringValue(it));
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "pid1")))
    sb_append_warning(&w->st, "the zygote is not pid 1 of its own namespace");
  w->nnp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "nnp"));
  w->seccomp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "seccomp"));
  cJSON_Delete(o);
  return 0;
}

static char *read_text_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
  if (s) s[n] = 0;
  fclose(f);
  return s;
}

/* The Python source the zygote runs: rpc.py (beside the harness) and then harness.py. It
 * goes to the interpreter as one argument, so it must stay under the 128 KiB an argument
 * may have. */
static char *read_harness(const char *path) {
  char rpc_path[4096];
  const char *slash = strrchr(path, '/');
  snprintf(rpc_path, sizeof rpc_path, "%.*srpc.py", slash ? (int)(slash - path + 1) : 0, path);
  char *rpc = read_text_file(rpc_path), *main_src = read_text_file(path);
  char *both = NULL;
  if (rpc && main_src) {
    size_t n = strlen(rpc) + strlen(main_src) + 2;
    if (n < 120 * 1024 && (both = malloc(n))) {
      size_t a = strlen(rpc);
      memcpy(both, rpc, a);
      both[a] = '\n';
      memcpy(both + a + 1, main_src, strlen(main_src) + 1);
    } else {
      errno = E2BIG;
    }
  }
  free(rpc);
  free(main_src);
  return both;
}

static int thread_count(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  if (f) fclose(f);
  return n;
}

static int reply_init(int sock, int ok, const sb_worker *w, const char *error) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "ready", ok);
  if (error) cJSON_AddStringToObject(o, "error", error);
  if (ok) {
    cJSON *layers = cJSON_AddArrayToObject(o, "layers");
    sb_add_layers(layers, sb_worker_layers(w, 1));
    cJSON_AddStringToObject(o, "python", w->py_version);
  }
  cJSON_AddStringToObject(o, "warnings", w->st.warnings);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  int rc = text ? sb_send_frame(sock, text, strlen(text)) : -1;
  free(text);
  return rc;
}

static double num(const cJSON *o, const char *k, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int rm_tree_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb; (void)ftw;
  if (type == FTW_DP) rmdir(path); else unlink(path);
  return 0;
}

int sb_worker_main(int sock, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 1;
  setsid();
  signal(SIGPIPE, SIG_IGN);
  sb_worker w;
  memset(&w, 0, sizeof w);
  w.sock = sock;
  w.zsock = w.zpidfd = w.ssock = -1;
  char *frame = sb_recv_frame(sock, NULL);
  cJSON *init = frame ? cJSON_Parse(frame) : NULL;
  free(frame);
  if (!init) return 1;
  const char *harness = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(init, "harness"));
  const char *python = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(init, "python"));
  const char *disable = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(init, "disable"));
  snprintf(w.python, sizeof w.python, "%s", python ? python : "/usr/bin/python3");
  w.timeout_s = num(init, "timeout", 3);
  w.memory_mb = (int)num(init, "memory_mb", 512);
  w.nproc = (int)num(init, "nproc", 64);
  w.file_mb = (int)num(init, "file_mb", 16);
  w.work_mb = (int)num(init, "work_mb", 64);
  w.nofile = (int)num(init, "nofile", 256);
  w.output_limit = (int64_t)num(init, "output_limit", 1 << 20);
  w.use_seccomp = !sb_layer_disabled(disable, "seccomp");
  char err[512] = "";
  int threads = thread_count();
  if (threads != 1) snprintf(err, sizeof err, "sandbox worker has %d threads, not 1", threads);
  if (!*err && !(w.harness_src = read_harness(harness ? harness : "")))
    snprintf(err, sizeof err, "cannot read the harness %s (and rpc.py beside it): %s",
             harness ? harness : "(none)", strerror(errno));
  sb_wcfg wcfg = { disable, (int)num(init, "index", 0) };
  if (!*err && sb_worker_isolate(&wcfg, &w.st) != 0) snprintf(err, sizeof err, "%s", lpo_last_error());
  if (!*err && w.use_seccomp) {
    uint8_t *bpf;
    size_t n;
    if (sb_policy_bpf(&bpf, &n) != 0) snprintf(err, sizeof err, "%s", lpo_last_error());
    else {
      w.bpf_hex = malloc(2 * n + 1);
      for (size_t i = 0; w.bpf_hex && i < n; i++) sprintf(w.bpf_hex + 2 * i, "%02x", bpf[i]);
      free(bpf);
    }
  } else if (!w.use_seccomp) {
    sb_append_warning(&w.st, "seccomp disabled by configuration");
  }
  if (!*err && sb_zygote_start(&w) != 0) snprintf(err, sizeof err, "%s", lpo_last_error());
  if (!*err) {
    /* A probe job: learns the layers every job of this worker runs under, so that a job
     * whose program dies before reporting them still gets them listed. */
    cJSON *probe = cJSON_Parse("{\"language\":\"python\",\"code\":\"pass\\n\"}");
    char *res = probe ? sb_handle_job(&w, probe) : NULL;
    cJSON_Delete(probe);
    if (!res || !w.job_layers[0]) sb_append_warning(&w.st, "the worker's probe job did not report its layers");
    free(res);
  }
  cJSON_Delete(init);
  if (reply_init(sock, !*err, &w, *err ? err : NULL) != 0 || *err) {
    sb_zygote_stop(&w);
    return 1;
  }
  for (;;) {
    struct pollfd pf[2] = { { sock, POLLIN, 0 }, { w.zpidfd, POLLIN, 0 } };
    int np = w.zpidfd >= 0 ? 2 : 1;
    if (poll(pf, (nfds_t)np, -1) < 0) { if (errno == EINTR) continue; break; }
    if (np == 2 && pf[1].revents) sb_zygote_stop(&w);    /* died while idle: restarted lazily */
    if (!pf[0].revents) continue;
    char *text = sb_recv_frame(sock, NULL);
    if (!text) break;
    cJSON *job = cJSON_Parse(text);
    free(text);
    char *reply = job ? sb_handle_job(&w, job) : NULL;
    cJSON_Delete(job);
    if (!reply || sb_send_frame(sock, reply, strlen(reply)) != 0) { free(reply); break; }
    free(reply);
  }
  sb_zygote_stop(&w);
  if (!w.st.root && w.st.workdir[0]) nftw(w.st.workdir, rm_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(w.harness_src);
  free(w.bpf_hex);
  return 0;
}

int lpo_sandbox_worker_hook(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--lpo-sandbox-worker") != 0) return 0;
  _exit(sb_worker_main(3, (pid_t)atoi(argv[2])));
}
