/* philox.c — Philox4x32-10 (Salmon et al., SC'11), the counter-based generator also used
 * by cuRAND and PyTorch on GPU. Counter-based means any value is a pure function of
 * (key, counter): reproducible independent of thread count, batch size or order. */
#include "lpo.h"
#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void lpo_philox_block(uint32_t out[4], uint64_t key, uint64_t counter) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += PHILOX_W0; k1 += PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* splitmix64 finalizer: a bijective mixer, so distinct tuples give distinct keys. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t lpo_philox_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t h = mix64(seed + 0x9E3779B97F4A7C15ull);
  h = mix64(h ^ (a + 0x632BE59BD9B4E019ull));
  h = mix64(h ^ (b + 0x8CB92BA72F3D8DD7ull));
  h = mix64(h ^ (c + 0xD6E8FEB86659FD93ull));
  h = mix64(h ^ (d + 0xA0761D6478BD642Full));
  return h;
}

/* The stream walks counters in blocks of four 32-bit words; `counter` counts words. */
void lpo_philox_init(lpo_philox *rng, uint64_t key, uint64_t counter) {
  rng->key = key;
  rng->counter = counter;
}

uint32_t lpo_philox_u32(lpo_philox *rng) {
  uint32_t block[4];
  lpo_philox_block(block, rng->key, rng->counter >> 2);
  uint32_t v = block[rng->counter & 3];
  rng->counter++;
  return v;
}

double lpo_philox_uniform(lpo_philox *rng) {
  uint64_t hi = lpo_philox_u32(rng) >> 5, lo = lpo_philox_u32(rng) >> 6;  /* 27 + 26 bits */
  return (double)(hi * 67108864.0 + lo) / 9007199254740992.0;
}

float lpo_philox_uniform_f(lpo_philox *rng) {
  return (float)(lpo_philox_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

double lpo_philox_normal(lpo_philox *rng) {
  /* Box-Muller on (0,1]: u1 never 0 so log is finite. One value per call keeps the
   * counter stride fixed (4 words), so value k of a stream is independent of history. */
  double u1 = 1.0 - lpo_philox_uniform(rng), u2 = lpo_philox_uniform(rng);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
