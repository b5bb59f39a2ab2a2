/* check.h — a minimal C test harness: CHECK records failures and continues, so one run
 * reports every broken expectation; check_done prints the closing count line. */
#ifndef LPO_CHECK_H
#define LPO_CHECK_H
#include <math.h>
#include <stddef.h>
#include <stdio.h>
static int check_passed, check_failed;
#define CHECK(cond) do { if (cond) check_passed++; else { check_failed++; \
  fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { if (cond) check_passed++; else { check_failed++; \
  fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
  fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_CLOSE(a, b, rtol, atol) do { double _a = (a), _b = (b); \
  CHECK_MSG(fabs(_a - _b) <= (atol) + (rtol) * fabs(_b), "%s = %.9g vs %s = %.9g", #a, _a, #b, _b); } while (0)
/* max |a - b| over max |b| (the largest error relative to the reference's scale); a NaN in
 * a makes it NaN-proof large: e != e keeps the NaN, which then fails every <= bound. */
static inline double check_rel_err(const float *a, const float *b, size_t n) {
  double d = 0, s = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (e > d || e != e) d = e;
    if (fabs(b[i]) > s) s = fabs(b[i]);
  }
  return s > 0 ? d / s : d;
}
static inline int check_done(const char *name) {
  printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
  return check_failed ? 1 : 0;
}
#endif
