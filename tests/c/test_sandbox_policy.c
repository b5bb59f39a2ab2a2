/* test_sandbox_policy.c — the seccomp allowlist, loaded in forked children: what a job may
 * do works, what it may not kills it (SIGSYS) or fails with the documented errno. */
#include "sandbox/sb_internal.h"
#include "check.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { EXIT_OK = 0 };

/* Runs fn under the filter in a child; returns its wait status. */
static int under_filter(int (*fn)(void)) {
  pid_t pid = fork();
  if (pid == 0) {
    if (sb_policy_load() != 0) _exit(100);
    _exit(fn());
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

static int killed(int st) { return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS; }
static int exited(int st, int code) { return WIFEXITED(st) && WEXITSTATUS(st) == code; }

static int allowed_basics(void) {
  int p[2];
  char c = 'x';
  if (pipe(p) != 0 || write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1) return 1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 2;
  pid_t child = fork();
  if (child == 0) _exit(7);
  int st;
  if (waitpid(child, &st, 0) != child || !exited(st, 7)) return 3;
  int fd = open("/dev/null", O_RDONLY);
  if (fd < 0) return 4;
  struct winsize ws;
  errno = 0;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 || errno != ENOTTY) return 5;   /* allowed request */
  if (getpid() <= 0 || prctl(PR_SET_NAME, "sbtest", 0, 0, 0) != 0) return 6;
  return EXIT_OK;
}
static int do_socket(void) { return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 1 : 2; }
static int do_socketpair_inet(void) { int sv[2]; return socketpair(AF_INET, SOCK_STREAM, 0, sv); }
static int do_ptrace(void) { return (int)syscall(SYS_ptrace, 16, 1, 0, 0); }
static int do_unshare(void) { return (int)syscall(SYS_unshare, CLONE_NEWUSER); }
static int do_mount(void) { return (int)syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0); }
static int do_bpf(void) { return (int)syscall(SYS_bpf, 0, 0, 0); }
static int do_keyctl(void) { return (int)syscall(SYS_keyctl, 0, -3, 0, 0, 0); }
static int do_io_uring(void) { char params[120] = { 0 }; return (int)syscall(425, 1, params); }
static int do_tiocsti_high(void) {
  char c = 'x';
  return (int)syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1UL << 32), &c);
}
static int do_tiocsti(void) { char c = 'x'; return (int)syscall(SYS_ioctl, 0, TIOCSTI, &c); }
static int do_clone_newuser(void) { return (int)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0); }
static int do_clone3(void) { errno = 0; long r = syscall(SYS_clone3, NULL, 0); return r == -1 && errno == ENOSYS ? 0 : 1; }
static int do_prctl_other(void) { errno = 0; return prctl(PR_SET_MM, 0, 0, 0, 0) == -1 && errno == EINVAL ? 0 : 1; }
static int do_memfd(void) { errno = 0; return syscall(SYS_memfd_create, "x", 0) == -1 && errno == EPERM ? 0 : 1; }
static int do_sethostname(void) { return (int)syscall(SYS_sethostname, "x", 1); }
static int do_shmget(void) { return (int)syscall(SYS_shmget, 1234, 4096, 01000); }
static int do_setns(void) { return (int)syscall(SYS_setns, 0, 0); }
static int do_process_vm_readv(void) { return (int)syscall(SYS_process_vm_readv, 1, 0, 0, 0, 0, 0); }
static int do_prlimit_other(void) { struct { long a, b; } r; return (int)syscall(SYS_prlimit64, 1, 0, NULL, &r); }

int main(void) {
  uint8_t *bpf = NULL;
  size_t len = 0;
  CHECK(sb_policy_bpf(&bpf, &len) == 0);
  CHECK(len > 0 && len % 8 == 0 && len / 8 < 4096);   /* struct sock_filter, within BPF_MAXINSNS */
  free(bpf);
  int st = under_filter(allowed_basics);
  CHECK_MSG(exited(st, 0), "basics: status %#x", st);
  CHECK(exited(under_filter(do_clone3), 0));        /* ENOSYS: glibc falls back to clone */
  CHECK(exited(under_filter(do_prctl_other), 0));   /* EINVAL */
  CHECK(exited(under_filter(do_memfd), 0));         /* EPERM */
  int (*const kills[])(void) = { do_socket, do_socketpair_inet, do_ptrace, do_unshare, do_mount,
                                 do_bpf, do_keyctl, do_io_uring, do_tiocsti_high, do_tiocsti,
                                 do_clone_newuser, do_sethostname, do_shmget, do_setns,
                                 do_process_vm_readv, do_prlimit_other };
  for (size_t i = 0; i < sizeof kills / sizeof *kills; i++) {
    st = under_filter(kills[i]);
    CHECK_MSG(killed(st), "case %zu: status %#x", i, st);
  }
  return check_done("test_sandbox_policy");
}
