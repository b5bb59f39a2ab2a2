/* lpo.h — the core public C API: errors, memory accounting, Philox RNG, version.
 *
 * Every public header in engine/include keeps its declarations between the markers
 * LPO_CDEF_BEGIN / LPO_CDEF_END so that lua/lpo/ffi.lua can hand exactly that text to
 * LuaJIT's ffi.cdef: inside the markers only typedefs, enums, structs and prototypes,
 * no macros, no includes.
 *
 * Error convention (DESIGN.md): a function that a user can make fail returns int
 * (0 = ok, -1 = error) or NULL, after setting a thread-local message that names the
 * file, field or line; lpo_last_error() returns it. Broken invariants abort via
 * LPO_ASSERT with file:line. */
#ifndef LPO_H
#define LPO_H
#include <stddef.h>
#include <stdint.h>

/* LPO_CDEF_BEGIN */
/* Element types shared by tensors, safetensors and the model. */
typedef enum lpo_dtype { LPO_F32 = 0, LPO_BF16 = 1, LPO_F16 = 2, LPO_I32 = 3, LPO_I64 = 4, LPO_NDTYPES = 5 } lpo_dtype;
int lpo_dtype_size(int dtype);            /* bytes per element; 0 for an unknown dtype */
const char *lpo_dtype_name(int dtype);    /* "f32", "bf16", ...; "?" for unknown */
/* Scalar conversions, round-to-nearest-even on the way down (as torch does). */
float lpo_bf16_to_f32(uint16_t h);
uint16_t lpo_f32_to_bf16(float f);
float lpo_f16_to_f32(uint16_t h);
uint16_t lpo_f32_to_f16(float f);

const char *lpo_version(void);
const char *lpo_last_error(void);
void lpo_clear_error(void);

/* Live bytes allocated through lpo_alloc, per device (0 = CPU, 1.. = CUDA devices). The
 * Lua layer reads these to run the garbage collector before memory runs out, because
 * the collector cannot see C memory (torch7's lesson). */
int64_t lpo_mem_live_bytes(int device);
int64_t lpo_mem_peak_bytes(int device);

/* Philox4x32-10 counter-based RNG: a stream is a 64-bit key; values are a pure function
 * of (key, counter), so sample j of problem i never depends on batch size or order. */
typedef struct lpo_philox { uint64_t key; uint64_t counter; } lpo_philox;
/* Derives a stream key from a seed and up to four purpose indices (purpose, round,
 * problem, sample) by hashing, so distinct tuples give independent streams. */
uint64_t lpo_philox_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);
void lpo_philox_init(lpo_philox *rng, uint64_t key, uint64_t counter);
void lpo_philox_block(uint32_t out[4], uint64_t key, uint64_t counter);
uint32_t lpo_philox_u32(lpo_philox *rng);
double lpo_philox_uniform(lpo_philox *rng);   /* [0, 1) with 53 random bits */
float lpo_philox_uniform_f(lpo_philox *rng);  /* [0, 1) with 24 random bits */
double lpo_philox_normal(lpo_philox *rng);    /* standard normal, Box-Muller */

/* CUDA availability: number of usable devices (0 when built without CUDA or no GPU),
 * and a line saying why when 0. */
int lpo_cuda_device_count(void);
const char *lpo_cuda_status(void);
/* LPO_CDEF_END */

/* ---- C-only helpers (not visible to the FFI) ---- */
void *lpo_alloc(size_t bytes, int device);       /* zeroed; NULL + error on failure */
void lpo_free(void *ptr, size_t bytes, int device);
void lpo_mem_account(int device, int64_t delta); /* for memory obtained elsewhere (mmap) */
int lpo_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* returns -1 */
void lpo_abort(const char *file, int line, const char *msg) __attribute__((noreturn));
/* The host thread pool (engine/cpu/pool.c, shared with the CPU kernels): runs fn over
 * tasks [0, ntasks) split into contiguous ranges, range i on thread tid = i, and returns
 * when all are done. For host-side work outside the backends that is independent per
 * task (the sampler's per-row draws); lpo_parallel_threads() bounds tid, for scratch. */
typedef void (*lpo_task_fn)(void *ctx, int t0, int t1, int tid);
void lpo_parallel(lpo_task_fn fn, void *ctx, int ntasks);
int lpo_parallel_threads(void);
#define LPO_ASSERT(cond) do { if (!(cond)) lpo_abort(__FILE__, __LINE__, #cond); } while (0)
#endif
