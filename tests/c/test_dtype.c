/* test_dtype.c — bf16/f16 conversion: exact values, rounding to nearest even, specials. */
#include "lpo.h"
#include "check.h"
#include <string.h>

int main(void) {
  CHECK(lpo_dtype_size(LPO_F32) == 4 && lpo_dtype_size(LPO_I64) == 8 && lpo_dtype_size(99) == 0);
  CHECK(strcmp(lpo_dtype_name(LPO_BF16), "bf16") == 0);
  /* Known encodings (numpy / torch): 1.0, -2.0, 65504 max, smallest subnormal 2^-24. */
  CHECK(lpo_f32_to_f16(1.0f) == 0x3c00 && lpo_f32_to_f16(-2.0f) == 0xc000);
  CHECK(lpo_f32_to_f16(65504.0f) == 0x7bff && lpo_f32_to_f16(65520.0f) == 0x7c00);
  CHECK(lpo_f32_to_f16(5.960464477539063e-08f) == 0x0001);
  CHECK(lpo_f16_to_f32(0x0001) == 5.960464477539063e-08f);
  CHECK(lpo_f32_to_bf16(1.0f) == 0x3f80 && lpo_bf16_to_f32(0x3f80) == 1.0f);
  /* Ties to even: 1 + 2^-8 sits halfway between bf16 1.0 and 1.0078125 -> 1.0. */
  CHECK(lpo_f32_to_bf16(1.00390625f) == 0x3f80);
  CHECK(lpo_f32_to_bf16(1.01171875f) == 0x3f82);  /* halfway, odd below -> rounds up */
  /* Round trip every f16 bit pattern that is not NaN. */
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
    if (lpo_f32_to_f16(lpo_f16_to_f32((uint16_t)h)) != h) bad++;
  }
  CHECK_MSG(bad == 0, "%d f16 patterns do not round-trip", bad);
  bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;
    if (lpo_f32_to_bf16(lpo_bf16_to_f32((uint16_t)h)) != h) bad++;
  }
  CHECK_MSG(bad == 0, "%d bf16 patterns do not round-trip", bad);
  return check_done("test_dtype");
}
