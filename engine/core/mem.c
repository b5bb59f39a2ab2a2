/* mem.c — allocation with live-byte accounting per device.
 * The counters are atomics because sandbox workers and BLAS threads may allocate too. */
#include "lpo.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LPO_MAX_DEVICES 9
static _Atomic int64_t live[LPO_MAX_DEVICES];
static _Atomic int64_t peak[LPO_MAX_DEVICES];

void lpo_mem_account(int device, int64_t delta) {
  LPO_ASSERT(device >= 0 && device < LPO_MAX_DEVICES);
  int64_t now = atomic_fetch_add(&live[device], delta) + delta;
  int64_t p = atomic_load(&peak[device]);
  while (now > p && !atomic_compare_exchange_weak(&peak[device], &p, now)) {}
}

int64_t lpo_mem_live_bytes(int device) {
  return (device >= 0 && device < LPO_MAX_DEVICES) ? atomic_load(&live[device]) : 0;
}
int64_t lpo_mem_peak_bytes(int device) {
  return (device >= 0 && device < LPO_MAX_DEVICES) ? atomic_load(&peak[device]) : 0;
}

void *lpo_alloc(size_t bytes, int device) {
  if (device != 0) { lpo_set_error("lpo_alloc: device %d memory must come from its backend", device); return NULL; }
  /* 64-byte alignment for SIMD and BLAS; at least one byte so empty tensors are valid. */
  size_t n = (bytes + 63) & ~(size_t)63;
  if (n == 0) n = 64;
  /* Big buffers (weights, activations, KV caches) on 2 MiB pages where the kernel offers
   * them on request (transparent_hugepage = madvise): zeroing a fresh 12.8 MB buffer
   * 4 KiB page by 4 KiB page cost 13-35 ms on our 2-core VM (page faults), 3-4 ms on
   * 2 MiB pages; every lpo_generate call allocates its KV cache, and a short sampling run
   * is only a few hundred ms. Huge pages also spare the TLB when a step streams all
   * weights. */
  const size_t huge = (size_t)2 << 20;
  void *p;
  if (n >= 2 * huge) {
    n = (n + huge - 1) & ~(huge - 1);
    p = aligned_alloc(huge, n);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, n, MADV_HUGEPAGE);   /* advice only: failure just means 4 KiB pages */
#endif
  } else {
    p = aligned_alloc(64, n);
  }
  if (!p) { lpo_set_error("out of memory allocating %zu bytes (live: %lld bytes)", bytes, (long long)lpo_mem_live_bytes(0)); return NULL; }
  memset(p, 0, n);
  lpo_mem_account(0, (int64_t)bytes);
  return p;
}

void lpo_free(void *ptr, size_t bytes, int device) {
  if (!ptr) return;
  LPO_ASSERT(device == 0);
  free(ptr);
  lpo_mem_account(0, -(int64_t)bytes);
}
