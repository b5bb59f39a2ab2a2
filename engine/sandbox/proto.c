/* proto.c — the sandbox's wire: length-prefixed frames on the client <-> worker stream
 * socket, fds over SCM_RIGHTS on the worker <-> zygote seqpacket socket, and memfds that
 * carry a job's code and tests to the supervisor without the zygote ever reading them. */
#include "sandbox/sb_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double sb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int sb_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    /* send() with MSG_NOSIGNAL on sockets so a dead peer is EPIPE, not SIGPIPE. */
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK) w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int sb_read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = 0;
      return -1;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

int sb_send_frame(int fd, const char *data, size_t n) {
  if (n > SB_MAX_FRAME) { errno = EMSGSIZE; return -1; }
  uint8_t hdr[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
  if (sb_write_all(fd, hdr, 4) != 0) return -1;
  return sb_write_all(fd, data, n);
}

char *sb_recv_frame(int fd, size_t *n) {
  uint8_t hdr[4];
  if (sb_read_all(fd, hdr, 4) != 0) return NULL;
  size_t len = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
  if (len > SB_MAX_FRAME) { errno = EMSGSIZE; return NULL; }
  char *buf = malloc(len + 1);
  if (!buf) return NULL;
  if (sb_read_all(fd, buf, len) != 0) { free(buf); return NULL; }
  buf[len] = 0;
  if (n) *n = len;
  return buf;
}

int sb_send_fds(int sock, const void *buf, size_t n, const int *fds, int nfds) {
  struct iovec iov = { (void *)buf, n };
  union { char raw[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr align; } u;
  struct msghdr msg = { 0 };
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    if (nfds > 8) { errno = EINVAL; return -1; }
    memset(&u, 0, sizeof u);
    msg.msg_control = u.raw;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  for (;;) {
    ssize_t w = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    return w == (ssize_t)n ? 0 : -1;
  }
}

ssize_t sb_recv_fds(int sock, void *buf, size_t n, int *fds, int *nfds, int max_fds) {
  struct iovec iov = { buf, n };
  union { char raw[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr align; } u;
  struct msghdr msg = { 0 };
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.raw;
  msg.msg_controllen = sizeof u.raw;
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
  int got = 0;
  if (r >= 0) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + sizeof(int) * (size_t)i, sizeof fd);
        if (got < max_fds) fds[got++] = fd; else close(fd);
      }
    }
  }
  if (nfds) *nfds = got;
  return r;
}

int sb_memfd(const char *name, const void *data, size_t n) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return lpo_set_error("sandbox: memfd_create: %s", strerror(errno));
  if (n > 0 && sb_write_all(fd, data, n) != 0) {
    close(fd);
    return lpo_set_error("sandbox: writing a memfd: %s", strerror(errno));
  }
  /* Whoever reads it (the supervisor) cannot change what the next reader would see. */
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  lseek(fd, 0, SEEK_SET);
  return fd;
}
