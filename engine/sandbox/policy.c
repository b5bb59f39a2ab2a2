/* policy.c — the seccomp allowlist every job runs under (libseccomp).
 *
 * Default action: kill the whole process (SIGSYS, verdict "killed"). Allowed: what CPython,
 * glibc and the Lua runner need to compute, allocate, use files in the job's tmpfs, make
 * pipes and socketpairs, fork and start threads, and wait. Not allowed, among others: socket()
 * (no network, no abstract unix sockets), mount/unshare/setns/pivot_root/chroot, ptrace,
 * process_vm_readv/writev, bpf, keyctl, io_uring, perf_event_open, userfaultfd, SysV IPC
 * and POSIX mqueues (cross-job channels), sethostname, kernel modules, reboot.
 *
 * Argument rules, all on values (never on pointers):
 *  - clone: no CLONE_NEW* flag but CLONE_NEWPID (needs a capability jobs do not have);
 *    capset/setresuid & co. only ever lower privileges without CAP_SETPCAP/SETUID; clone3 fails with ENOSYS (its flags live in memory the
 *    filter cannot read) so glibc falls back to clone and threads still start;
 *  - ioctl: a short list of terminal/fd queries, matched on the low 32 bits of the request
 *    because the kernel ignores the high bits (TIOCSTI | 1<<32 is still TIOCSTI);
 *  - socketpair: AF_UNIX only; prlimit64: own process only; prctl: a few harmless options,
 *    the rest fail with EINVAL. */
#include "sandbox/sb_internal.h"
#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const ALLOW[] = {
  /* files and descriptors */
  "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
  "pwritev2", "lseek", "close", "close_range", "open", "openat", "openat2", "creat", "stat",
  "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat",
  "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "getcwd", "chdir",
  "fchdir", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
  "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat",
  "truncate", "ftruncate", "utime", "utimes", "utimensat", "futimesat", "umask", "fcntl",
  "flock", "fsync", "fdatasync", "fadvise64", "dup", "dup2", "dup3", "pipe", "pipe2",
  "sendfile", "copy_file_range", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
  "llistxattr", "flistxattr", "poll", "ppoll", "select", "pselect6", "epoll_create",
  "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
  "eventfd2",
  /* memory */
  "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "msync", "mincore",
  /* signals */
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
  "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "kill", "tkill",
  "tgkill", "pause", "restart_syscall", "alarm", "setitimer", "getitimer", "timer_create",
  "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
  /* processes and threads (clone is below, with its flag rule) */
  "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
  "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "futex", "arch_prctl",
  "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
  "getresgid", "getgroups", "getpgid", "getpgrp", "getsid", "setsid", "setpgid", "capget",
  "capset", "setresuid", "setresgid", "setgroups",
  "getrlimit", "setrlimit", "getrusage", "times", "uname", "sysinfo", "getcpu",
  "sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler",
  "sched_get_priority_max", "sched_get_priority_min", "getpriority", "pidfd_open",
  /* time and randomness */
  "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
  "getrandom",
  /* socketpairs only (socket() itself is not allowed) */
  "sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown", "getsockopt", "setsockopt",
  "getsockname", "getpeername",
};

/* Refused with an errno instead of a kill: probes that libraries make and handle. */
static const struct { const char *name; int err; } REFUSE[] = {
  { "clone3", ENOSYS }, { "memfd_create", EPERM }, { "setxattr", EPERM },
  { "lsetxattr", EPERM }, { "fsetxattr", EPERM }, { "removexattr", EPERM },
  { "chown", EPERM }, { "fchown", EPERM }, { "lchown", EPERM }, { "fchownat", EPERM },
  { "mlock", EPERM }, { "mlock2", EPERM }, { "mlockall", EPERM }, { "munlock", EPERM },
  { "munlockall", EPERM },
};

static const unsigned long IOCTLS[] = {
  0x5401 /* TCGETS */, 0x5413 /* TIOCGWINSZ */, 0x540F /* TIOCGPGRP */, 0x541B /* FIONREAD */,
  0x5421 /* FIONBIO */, 0x5450 /* FIONCLEX */, 0x5451 /* FIOCLEX */,
};

static const int PRCTLS[] = {
  PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_SET_PDEATHSIG, PR_GET_PDEATHSIG,
  PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_GET_KEEPCAPS, PR_GET_TIMERSLACK,
  PR_GET_CHILD_SUBREAPER,
};

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
                  CLONE_NEWPID | CLONE_NEWNET)

static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
               const struct scmp_arg_cmp *args) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return 0;   /* not on this architecture / libseccomp: skip */
  int rc = seccomp_rule_add_array(ctx, action, nr, n, args);
  if (rc < 0) return lpo_set_error("sandbox: seccomp rule for %s: %s", name, strerror(-rc));
  return 0;
}

static scmp_filter_ctx build(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) { lpo_set_error("sandbox: seccomp_init failed"); return NULL; }
  /* A binary tree over syscall numbers instead of a linear list: every syscall of every job
   * runs this filter, and a job's RPCs make thousands. */
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof ALLOW / sizeof *ALLOW; i++)
    rc = add(ctx, SCMP_ACT_ALLOW, ALLOW[i], 0, NULL);
  for (size_t i = 0; rc == 0 && i < sizeof REFUSE / sizeof *REFUSE; i++)
    rc = add(ctx, SCMP_ACT_ERRNO((uint32_t)REFUSE[i].err), REFUSE[i].name, 0, NULL);
  struct scmp_arg_cmp a;
  /* CLONE_NEWPID is let through the filter: the zygote clones each job into a new pid
   * namespace with the one capability it keeps; jobs have none, so for them it is EPERM. */
  a = SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS & ~(scmp_datum_t)CLONE_NEWPID, 0);
  if (rc == 0) rc = add(ctx, SCMP_ACT_ALLOW, "clone", 1, &a);
  for (size_t i = 0; rc == 0 && i < sizeof IOCTLS / sizeof *IOCTLS; i++) {
    a = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, IOCTLS[i]);
    rc = add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &a);
  }
  a = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
  if (rc == 0) rc = add(ctx, SCMP_ACT_ALLOW, "socketpair", 1, &a);
  a = SCMP_A0(SCMP_CMP_EQ, 0);
  if (rc == 0) rc = add(ctx, SCMP_ACT_ALLOW, "prlimit64", 1, &a);
  for (size_t i = 0; rc == 0 && i < sizeof PRCTLS / sizeof *PRCTLS; i++) {
    a = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)PRCTLS[i]);
    rc = add(ctx, SCMP_ACT_ALLOW, "prctl", 1, &a);
  }
  /* Every other prctl option: EINVAL. One rule per excluded range keeps the filter exact. */
  int lo = 0;
  int sorted[sizeof PRCTLS / sizeof *PRCTLS];
  memcpy(sorted, PRCTLS, sizeof sorted);
  for (size_t i = 1; i < sizeof sorted / sizeof *sorted; i++)
    for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
      int t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t;
    }
  for (size_t i = 0; rc == 0 && i <= sizeof sorted / sizeof *sorted; i++) {
    int hi = i < sizeof sorted / sizeof *sorted ? sorted[i] : -1;
    if (hi < 0) {
      struct scmp_arg_cmp g = SCMP_A0(SCMP_CMP_GE, (scmp_datum_t)lo);
      rc = add(ctx, SCMP_ACT_ERRNO(EINVAL), "prctl", 1, &g);
    } else {
      for (int opt = lo; rc == 0 && opt < hi; opt++) {
        struct scmp_arg_cmp e = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)opt);
        rc = add(ctx, SCMP_ACT_ERRNO(EINVAL), "prctl", 1, &e);
      }
      lo = hi + 1;
    }
  }
  if (rc != 0) { seccomp_release(ctx); return NULL; }
  return ctx;
}

int sb_policy_bpf(uint8_t **bpf, size_t *len) {
  scmp_filter_ctx ctx = build();
  if (!ctx) return -1;
  int fd = memfd_create("lpo-seccomp", MFD_CLOEXEC);
  if (fd < 0) { seccomp_release(ctx); return lpo_set_error("sandbox: memfd_create: %s", strerror(errno)); }
  int rc = seccomp_export_bpf(ctx, fd);
  seccomp_release(ctx);
  if (rc < 0) { close(fd); return lpo_set_error("sandbox: seccomp_export_bpf: %s", strerror(-rc)); }
  off_t n = lseek(fd, 0, SEEK_END);
  if (n <= 0 || n % 8 != 0) { close(fd); return lpo_set_error("sandbox: seccomp filter of %ld bytes", (long)n); }
  *bpf = malloc((size_t)n);
  if (!*bpf || pread(fd, *bpf, (size_t)n, 0) != n) {
    free(*bpf); *bpf = NULL; close(fd);
    return lpo_set_error("sandbox: reading the seccomp filter");
  }
  close(fd);
  *len = (size_t)n;
  return 0;
}

int sb_policy_load(void) {
  scmp_filter_ctx ctx = build();
  if (!ctx) return -1;
  int rc = seccomp_load(ctx);   /* sets no_new_privs first (SCMP_FLTATR_CTL_NNP) */
  seccomp_release(ctx);
  if (rc < 0) return lpo_set_error("sandbox: seccomp_load: %s", strerror(-rc));
  return 0;
}
