/* arena.c — the big allocations of the model (parameters, gradients, activations, KV
 * cache). Large ones come straight from mmap with MADV_HUGEPAGE: the GEMMs stream through
 * hundreds of MiB, and 2 MiB pages keep that from being a storm of TLB misses (the machine
 * runs transparent huge pages in "madvise" mode, so nobody else asks for them). mmap
 * memory is zero and untouched until used, so huge pages are possible from the first
 * touch. Small ones use lpo_alloc. Both are counted in lpo_mem_live_bytes. */
#include "model/model.h"
#include <string.h>
#include <sys/mman.h>

#define HUGE_MIN ((size_t)4 << 20)

void *lpo_arena_alloc(size_t bytes) {
  if (bytes < HUGE_MIN) return lpo_alloc(bytes, 0);
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    lpo_set_error("out of memory mapping %zu bytes (live: %lld bytes)", bytes, (long long)lpo_mem_live_bytes(0));
    return NULL;
  }
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);   /* advice only: failure changes nothing */
#endif
  lpo_mem_account(0, (int64_t)bytes);
  return p;
}

void lpo_arena_free(void *p, size_t bytes) {
  if (!p) return;
  if (bytes < HUGE_MIN) { lpo_free(p, bytes, 0); return; }
  munmap(p, bytes);
  lpo_mem_account(0, -(int64_t)bytes);
}
