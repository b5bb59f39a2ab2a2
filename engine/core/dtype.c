/* dtype.c — element sizes and names, and bf16/f16 <-> f32 scalar conversion.
 * Rounding is to nearest even, NaN stays NaN, overflow to f16 gives inf: the same
 * results torch produces, so checkpoints round-trip bit for bit. */
#include "lpo.h"
#include <string.h>

int lpo_dtype_size(int dtype) {
  static const int size[LPO_NDTYPES] = { 4, 2, 2, 4, 8 };
  return dtype >= 0 && dtype < LPO_NDTYPES ? size[dtype] : 0;
}

const char *lpo_dtype_name(int dtype) {
  static const char *name[LPO_NDTYPES] = { "f32", "bf16", "f16", "i32", "i64" };
  return dtype >= 0 && dtype < LPO_NDTYPES ? name[dtype] : "?";
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float lpo_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t lpo_f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

float lpo_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13));          /* inf / NaN */
  if (exp == 0) {
    if (man == 0) return bits_f32(sign);                                       /* +-0 */
    float v = (float)man * (1.0f / 16777216.0f);                               /* subnormal: man * 2^-24 */
    return sign ? -v : v;
  }
  return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t lpo_f32_to_f16(float f) {
  uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);                        /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);                       /* >= 65520: inf */
  if (a < 0x38800000u) {                                                        /* below f16 normal range */
    /* Subnormal: value / 2^-24, rounded to nearest even via float addition. */
    float v = bits_f32(a) * 16777216.0f;
    uint32_t m = (uint32_t)v;
    float rem = v - (float)m;
    if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
    return (uint16_t)(sign | m);
  }
  uint32_t e = ((a >> 23) - 112) << 10, man = (a >> 13) & 0x3ff;
  uint32_t h = e | man, rest = a & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;                        /* may carry into exp: fine */
  return (uint16_t)(sign | h);
}
