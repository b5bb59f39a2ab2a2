/* isolate.c — the worker's namespaces and minimal root, and per-job isolation for C-side jobs.
 *
 * Once per worker (it is a fresh, single-threaded exec of lpo):
 *   user namespace   inner uid 0 -> an unused host uid (root caller, written by a helper that
 *                    stays in the host namespace) or -> the caller's own uid (unprivileged);
 *                    a non-root host uid matters: RLIMIT_NPROC is not enforced for host root.
 *   net, ipc, uts    a network namespace with only a downed loopback; hostname lpo-sandbox.
 *   mount + root     a private mount namespace whose root is a small read-only tmpfs holding
 *                    /usr (read-only bind), the merged-/usr symlinks, /dev/{null,zero,full,
 *                    random,urandom}, a synthetic /etc, and /work (each job mounts its own
 *                    tmpfs there; /tmp and /dev/shm are symlinks into it). No /proc, no /sys,
 *                    no /home, nothing else of the host.
 * Per job, for the Lua runner (sb_job_isolate, in the job's forked child): its tmpfs, rlimits,
 * no capabilities, no_new_privs, seccomp. Python jobs get theirs from the zygote (harness.py)
 * and from the worker, which remounts /work for every job (job.c).
 * Whatever the kernel refuses is recorded as a warning, never silently skipped. */
#include "sandbox/sb_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SB_ROOT "/tmp"               /* where the new root is assembled, inside our mount ns */
#define SB_DEFAULT_UID 1879048192u   /* host uid the sandbox's uid 0 maps to when lpo runs as root */

void sb_append_warning(sb_wstate *st, const char *fmt, ...) {
  size_t len = strlen(st->warnings);
  if (len + 4 >= sizeof st->warnings) return;
  if (len) { st->warnings[len++] = ';'; st->warnings[len++] = ' '; st->warnings[len] = 0; }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->warnings + len, sizeof st->warnings - len, fmt, ap);
  va_end(ap);
}

int sb_layer_disabled(const char *disable, const char *name) {
  if (!disable || !*disable) return 0;
  size_t n = strlen(name);
  for (const char *p = disable; (p = strstr(p, name)) != NULL; p += n) {
    int start = p == disable || p[-1] == ',';
    int end = p[n] == 0 || p[n] == ',';
    if (start && end) return 1;
  }
  return 0;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  int rc = sb_write_all(fd, text, strlen(text));
  close(fd);
  return rc;
}

static unsigned sandbox_uid(void) {
  const char *env = getenv("LPO_SANDBOX_UID");
  return env && *env ? (unsigned)strtoul(env, NULL, 10) : SB_DEFAULT_UID;
}

/* Root caller: a helper still in the host user namespace writes our maps (only a process
 * with CAP_SETUID in the parent namespace may map to a uid other than its own). */
static int enter_userns_as_root(sb_wstate *st) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t me = getpid();
  unsigned uid = sandbox_uid();
  pid_t helper = fork();
  if (helper < 0) { close(p[0]); close(p[1]); return -1; }
  if (helper == 0) {
    char c, path[64], map[64];
    close(p[1]);
    if (read(p[0], &c, 1) != 1) _exit(2);
    snprintf(map, sizeof map, "0 %u 1\n", uid);
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)me);
    if (write_file(path, map) != 0) _exit(3);
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)me);
    if (write_file(path, map) != 0) _exit(4);
    _exit(0);
  }
  close(p[0]);
  int rc = unshare(CLONE_NEWUSER);
  int err = errno;
  if (rc == 0 && write(p[1], "u", 1) != 1) rc = -1;
  close(p[1]);
  int status = 0;
  while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {}
  if (rc != 0) { errno = err; return -1; }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    /* Mapped to nothing yet: fall back to mapping our own uid (0). Works, but host root is
     * exempt from RLIMIT_NPROC, so the process limit is not enforced. */
    sb_append_warning(st, "could not map the sandbox to host uid %u; mapped to root, "
                      "RLIMIT_NPROC is not enforced", uid);
    if (write_file("/proc/self/setgroups", "deny") != 0 ||
        write_file("/proc/self/uid_map", "0 0 1\n") != 0 ||
        write_file("/proc/self/gid_map", "0 0 1\n") != 0) return -1;
    return 0;
  }
  if (setresgid(0, 0, 0) != 0 || setgroups(0, NULL) != 0 || setresuid(0, 0, 0) != 0) return -1;
  return 0;
}

static int enter_userns_unprivileged(void) {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER) != 0) return -1;
  char map[64];
  if (write_file("/proc/self/setgroups", "deny") != 0) return -1;
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
  if (write_file("/proc/self/uid_map", map) != 0) return -1;
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
  return write_file("/proc/self/gid_map", map);
}

/* Read-only bind mount that keeps the flags the kernel locks for a user namespace. */
static int bind_ro(const char *src, const char *dst) {
  if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
  struct statvfs sv;
  unsigned long keep = 0;
  if (statvfs(dst, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) keep |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) keep |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) keep |= MS_RELATIME;
  }
  return mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | keep, NULL);
}

static int copy_file(const char *src, const char *dst) {
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -1;
  int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  char buf[65536];
  ssize_t n;
  int rc = out < 0 ? -1 : 0;
  while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0) rc = sb_write_all(out, buf, (size_t)n);
  close(in);
  if (out >= 0) close(out);
  return rc;
}

static int build_root(sb_wstate *st) {
  char path[512], link[512];
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
  if (mount("tmpfs", SB_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,nr_inodes=4096,mode=0755") != 0)
    return -1;
  snprintf(path, sizeof path, "%s/usr", SB_ROOT);
  if (mkdir(path, 0755) != 0 || bind_ro("/usr", path) != 0) return -1;
  static const char *const top[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };
  for (size_t i = 0; i < sizeof top / sizeof *top; i++) {
    char host[64];
    struct stat sb;
    snprintf(host, sizeof host, "/%s", top[i]);
    snprintf(path, sizeof path, "%s/%s", SB_ROOT, top[i]);
    if (lstat(host, &sb) != 0) continue;
    if (S_ISLNK(sb.st_mode)) {
      ssize_t n = readlink(host, link, sizeof link - 1);
      if (n <= 0) return -1;
      link[n] = 0;
      if (symlink(link, path) != 0) return -1;
    } else if (S_ISDIR(sb.st_mode)) {
      if (mkdir(path, 0755) != 0 || bind_ro(host, path) != 0) return -1;
    }
  }
  snprintf(path, sizeof path, "%s/etc", SB_ROOT);
  if (mkdir(path, 0755) != 0) return -1;
  static const struct { const char *name, *text; } etc[] = {
    { "passwd", "root:x:0:0:sandbox:/work:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" },
    { "group", "root:x:0:\nnogroup:x:65534:\n" },
    { "hosts", "127.0.0.1 localhost lpo-sandbox\n" },
    { "hostname", "lpo-sandbox\n" },
  };
  for (size_t i = 0; i < sizeof etc / sizeof *etc; i++) {
    snprintf(path, sizeof path, "%s/etc/%s", SB_ROOT, etc[i].name);
    if (write_file(path, etc[i].text) != 0) return -1;
  }
  snprintf(path, sizeof path, "%s/etc/ld.so.cache", SB_ROOT);
  copy_file("/etc/ld.so.cache", path);            /* optional: ld.so searches without it */
  ssize_t n = readlink("/etc/localtime", link, sizeof link - 1);
  if (n > 0) {
    link[n] = 0;
    snprintf(path, sizeof path, "%s/etc/localtime", SB_ROOT);
    if (symlink(link, path) != 0) return -1;
  }
  snprintf(path, sizeof path, "%s/dev", SB_ROOT);
  if (mkdir(path, 0755) != 0) return -1;
  static const char *const devs[] = { "null", "zero", "full", "random", "urandom" };
  for (size_t i = 0; i < sizeof devs / sizeof *devs; i++) {
    char host[64];
    snprintf(host, sizeof host, "/dev/%s", devs[i]);
    snprintf(path, sizeof path, "%s/dev/%s", SB_ROOT, devs[i]);
    if (write_file(path, "") != 0 || mount(host, path, NULL, MS_BIND, NULL) != 0) return -1;
  }
  static const struct { const char *name, *target; } devlinks[] = {
    { "shm", "/work/tmp" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
    { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
  };
  for (size_t i = 0; i < sizeof devlinks / sizeof *devlinks; i++) {
    snprintf(path, sizeof path, "%s/dev/%s", SB_ROOT, devlinks[i].name);
    if (symlink(devlinks[i].target, path) != 0) return -1;
  }
  snprintf(path, sizeof path, "%s/work", SB_ROOT);
  if (mkdir(path, 0755) != 0) return -1;
  snprintf(path, sizeof path, "%s/tmp", SB_ROOT);
  if (symlink("work/tmp", path) != 0) return -1;
  snprintf(path, sizeof path, "%s/.old", SB_ROOT);
  if (mkdir(path, 0700) != 0 || chdir(SB_ROOT) != 0) return -1;
  if (syscall(SYS_pivot_root, ".", ".old") != 0) return -1;
  if (chdir("/") != 0 || umount2("/.old", MNT_DETACH) != 0 || rmdir("/.old") != 0) return -1;
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0) return -1;
  snprintf(st->workdir, sizeof st->workdir, "/work");
  return 0;
}

int sb_worker_isolate(const sb_wcfg *cfg, sb_wstate *st) {
  memset(st, 0, sizeof *st);
  int root = geteuid() == 0;
  if (sb_layer_disabled(cfg->disable, "user")) {
    sb_append_warning(st, "user namespace disabled by configuration");
  } else if ((root ? enter_userns_as_root(st) : enter_userns_unprivileged()) == 0) {
    st->user = 1;
  } else {
    sb_append_warning(st, "user namespace unavailable: %s", strerror(errno));
  }
  int privileged = st->user || root;   /* may create the other namespaces */
  if (!st->user && root) {
    st->setuid_nobody = 1;
    sb_append_warning(st, "jobs run as host uid 65534 instead of a user namespace");
  }
  static const struct { const char *name; int flag; size_t off; } ns[] = {
    { "mount", CLONE_NEWNS, offsetof(sb_wstate, mount) },
    { "net", CLONE_NEWNET, offsetof(sb_wstate, net) },
    { "ipc", CLONE_NEWIPC, offsetof(sb_wstate, ipc) },
    { "uts", CLONE_NEWUTS, offsetof(sb_wstate, uts) },
  };
  for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
    if (sb_layer_disabled(cfg->disable, ns[i].name)) {
      sb_append_warning(st, "%s namespace disabled by configuration", ns[i].name);
      continue;
    }
    if (!privileged || unshare(ns[i].flag) != 0) {
      sb_append_warning(st, "%s namespace unavailable: %s", ns[i].name,
                        privileged ? strerror(errno) : "no user namespace and not root");
      continue;
    }
    *(int *)((char *)st + ns[i].off) = 1;
  }
  if (st->uts) sethostname("lpo-sandbox", 11);
  if (st->mount && !sb_layer_disabled(cfg->disable, "root")) {
    if (build_root(st) == 0) st->root = 1;
    else {
      sb_append_warning(st, "minimal root failed: %s", strerror(errno));
      return lpo_set_error("sandbox: building the minimal root failed: %s", strerror(errno));
    }
  }
  if (!st->root) {
    /* Degraded: the job's directory lives in the host's /tmp (removed after each job). */
    snprintf(st->workdir, sizeof st->workdir, "/tmp/lpo-sandbox-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(st->workdir)) return lpo_set_error("sandbox: mkdtemp: %s", strerror(errno));
    if (st->setuid_nobody) chmod(st->workdir, 0711);   /* jobs (uid 65534) pass through to theirs */
    sb_append_warning(st, "no private root: jobs can read the host's files");
  }
  st->job_ns = 0;
  if (privileged) {
    if (!sb_layer_disabled(cfg->disable, "pid")) st->job_ns |= CLONE_NEWPID;
    if (st->root) st->job_ns |= CLONE_NEWNS;
    if (st->ipc) st->job_ns |= CLONE_NEWIPC;
    if (st->uts) st->job_ns |= CLONE_NEWUTS;
  }
  return 0;
}

static void drop_caps(void) {
  prctl(PR_SET_SECUREBITS, 0x2f, 0, 0, 0);   /* NOROOT, NO_SETUID_FIXUP, KEEP_CAPS: locked */
  for (int cap = 0; prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0; cap++) {}
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

int sb_job_isolate(const sb_wstate *st, const sb_jlimits *lim, int use_seccomp, char *layers, size_t n) {
  size_t len = 0;
  layers[0] = 0;
#define LAYER(name) len += (size_t)snprintf(layers + len, len < n ? n - len : 0, "%s%s", len ? "," : "", name)
  if (st->job_ns & CLONE_NEWPID) LAYER("pid");
  if (st->job_ns & CLONE_NEWNS) LAYER("mount");
  if (st->job_ns & CLONE_NEWIPC) LAYER("ipc");
  if (st->job_ns & CLONE_NEWUTS) LAYER("uts");
  if (st->job_ns & CLONE_NEWNS) {
    char opts[96];
    snprintf(opts, sizeof opts, "size=%dk,nr_inodes=4096,mode=0755", lim->work_mb * 1024);
    if (mount("tmpfs", st->workdir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0) LAYER("tmpfs");
  }
  if (chdir(st->workdir) != 0) return lpo_set_error("sandbox: chdir %s: %s", st->workdir, strerror(errno));
  mkdir("tmp", 01777);
  rlim_t cpu = (rlim_t)ceil(lim->timeout_s) + 1;
  struct { int res; rlim_t soft, hard; } rl[] = {
    { RLIMIT_CPU, cpu, cpu + 1 },
    { RLIMIT_AS, (rlim_t)lim->memory_mb << 20, (rlim_t)lim->memory_mb << 20 },
    { RLIMIT_NPROC, (rlim_t)lim->nproc, (rlim_t)lim->nproc },
    { RLIMIT_FSIZE, (rlim_t)lim->file_mb << 20, (rlim_t)lim->file_mb << 20 },
    { RLIMIT_NOFILE, (rlim_t)lim->nofile, (rlim_t)lim->nofile },
    { RLIMIT_CORE, 0, 0 }, { RLIMIT_MEMLOCK, 0, 0 }, { RLIMIT_MSGQUEUE, 0, 0 },
  };
  int ok = 1;
  for (size_t i = 0; i < sizeof rl / sizeof *rl; i++) {
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's shadow memory is terabytes of address space: with RLIMIT_AS its
     * next mmap fails. The Lua runner's allocator budget still limits the program. */
    if (rl[i].res == RLIMIT_AS) continue;
#endif
    struct rlimit r = { rl[i].soft, rl[i].hard };
    if (setrlimit(rl[i].res, &r) != 0) ok = 0;
  }
  if (ok) LAYER("rlimits");
  if (st->setuid_nobody) {
    if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
      return lpo_set_error("sandbox: setuid(65534): %s", strerror(errno));
  }
  drop_caps();
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) == 0) LAYER("caps");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) LAYER("nnp");
  if (use_seccomp) {
    if (sb_policy_load() != 0) return -1;
    LAYER("seccomp");
  }
#undef LAYER
  return 0;
}
