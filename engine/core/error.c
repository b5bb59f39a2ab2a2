/* error.c — thread-local last-error string and the invariant abort. */
#include "lpo.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];

const char *lpo_version(void) { return LPO_VERSION_STRING; }
const char *lpo_last_error(void) { return last_error[0] ? last_error : "unknown error"; }
void lpo_clear_error(void) { last_error[0] = 0; }

int lpo_set_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return -1;
}

void lpo_abort(const char *file, int line, const char *msg) {
  fprintf(stderr, "lpo: internal error at %s:%d: assertion failed: %s\n", file, line, msg);
  abort();
}
