/* test_philox.c — Philox4x32-10 against the Random123 known-answer vectors, plus the
 * properties the sampler relies on (pure function of key+counter, distinct keys). */
#include "lpo.h"
#include "check.h"

int main(void) {
  uint32_t out[4];
  /* Random123 kat_vectors: philox4x32 10 rounds, counter 0, key 0. */
  lpo_philox_block(out, 0, 0);
  CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u);
  lpo_philox rng, rng2;
  lpo_philox_init(&rng, 42, 0);
  for (int i = 0; i < 10; i++) lpo_philox_u32(&rng);
  uint32_t tenth = lpo_philox_u32(&rng);
  lpo_philox_init(&rng2, 42, 10);
  CHECK(lpo_philox_u32(&rng2) == tenth);
  CHECK(lpo_philox_key(1, 2, 3, 4, 5) != lpo_philox_key(1, 2, 3, 5, 4));
  CHECK(lpo_philox_key(1, 2, 3, 4, 5) == lpo_philox_key(1, 2, 3, 4, 5));
  /* Moments of the normal generator over 200k draws. */
  double s = 0, s2 = 0; int n = 200000;
  lpo_philox_init(&rng, lpo_philox_key(7, 0, 0, 0, 0), 0);
  for (int i = 0; i < n; i++) { double x = lpo_philox_normal(&rng); s += x; s2 += x * x; }
  CHECK_CLOSE(s / n, 0.0, 0, 0.01);
  CHECK_CLOSE(s2 / n, 1.0, 0, 0.02);
  double u = 0;
  for (int i = 0; i < n; i++) { double x = lpo_philox_uniform(&rng); CHECK(x >= 0 && x < 1); u += x; }
  CHECK_CLOSE(u / n, 0.5, 0, 0.005);
  return check_done("test_philox");
}
