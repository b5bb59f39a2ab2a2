/* test_sandbox_pool.c — the C API end to end: a pool, Python and Lua jobs, results in
 * completion order with their tags, per-test outcomes, bad jobs rejected with a message. */
#include "lpo_sandbox.h"
#include "check.h"
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  lpo_sandbox_worker_hook(argc, argv);   /* the pool re-executes this binary as its workers */
  lpo_sandbox_config cfg;
  lpo_sandbox_config_default(&cfg);
  CHECK(cfg.timeout_s == 3.0 && cfg.memory_mb == 512 && cfg.output_limit == 1 << 20);
  cfg.workers = 2;
  cfg.timeout_s = 2;
  cfg.quiet = 1;
  lpo_sandbox_pool *p = lpo_sandbox_pool_new(&cfg);
  CHECK_MSG(p != NULL, "%s", lpo_last_error());
  if (!p) return check_done("test_sandbox_pool");
  CHECK(lpo_sandbox_pool_workers(p) == 2);
  CHECK(strstr(lpo_sandbox_pool_layers(p), "seccomp") != NULL);

  const char *tests[] = { "assert f(2) == 4", "assert f(3) == 7" };
  lpo_sandbox_job py = { .language = "python", .code = "def f(x):\n    return x * 2\n", .tests = tests, .n_tests = 2 };
  lpo_sandbox_job lua = { .language = "lua", .code = "function f(x) return x * 2 end", .check =
                          "function check(c)\n  assert(c(2) == 4)\nend", .entry_point = "f" };
  lpo_sandbox_job bad = { .language = "python", .code = "def f(:\n" };
  CHECK(lpo_sandbox_submit(p, &py, 10) == 0);
  CHECK(lpo_sandbox_submit(p, &lua, 11) == 0);
  CHECK(lpo_sandbox_submit(p, &bad, 12) == 0);
  CHECK(lpo_sandbox_pending(p) == 3);
  int seen = 0;
  for (int k = 0; k < 3; k++) {
    lpo_sandbox_result *r = NULL;
    CHECK(lpo_sandbox_next(p, 30000, &r) == 1);
    if (!r) continue;
    seen |= 1 << (r->tag - 10);
    if (r->tag == 10) {
      CHECK(r->verdict == LPO_SANDBOX_FAILED && r->n_tests == 2);
      CHECK(r->outcomes[0] == LPO_SANDBOX_T_PASS && r->outcomes[1] == LPO_SANDBOX_T_FAIL);
      CHECK(strstr(r->detail, "test 2") != NULL);
      CHECK(r->time_ms > 0 && r->peak_mb > 1);
    } else if (r->tag == 11) {
      CHECK_MSG(r->verdict == LPO_SANDBOX_PASSED, "%s %s", lpo_sandbox_verdict_name(r->verdict), r->detail);
      CHECK(r->n_tests == 1 && r->outcomes[0] == LPO_SANDBOX_T_PASS);
    } else {
      CHECK(r->verdict == LPO_SANDBOX_SYNTAX_ERROR);
      CHECK(strstr(r->detail, "SyntaxError") != NULL);
    }
    lpo_sandbox_result_free(r);
  }
  CHECK(seen == 7);
  CHECK(lpo_sandbox_pending(p) == 0);
  lpo_sandbox_result *none = NULL;
  CHECK(lpo_sandbox_next(p, 10, &none) == 0 && none == NULL);

  lpo_sandbox_job nocode = { .language = "python" };
  CHECK(lpo_sandbox_submit(p, &nocode, 1) == -1 && strstr(lpo_last_error(), "job.code") != NULL);
  lpo_sandbox_job badlang = { .language = "cobol", .code = "x" };
  CHECK(lpo_sandbox_submit(p, &badlang, 1) == -1 && strstr(lpo_last_error(), "language") != NULL);
  lpo_sandbox_job nocheck = { .code = "x", .check = "def check(c): pass" };
  CHECK(lpo_sandbox_submit(p, &nocheck, 1) == -1 && strstr(lpo_last_error(), "entry_point") != NULL);
  lpo_sandbox_pool_free(p);

  lpo_sandbox_config bad_cfg;
  lpo_sandbox_config_default(&bad_cfg);
  bad_cfg.harness = "/nonexistent/harness.py";
  CHECK(lpo_sandbox_pool_new(&bad_cfg) == NULL && strstr(lpo_last_error(), "/nonexistent/harness.py") != NULL);
  return check_done("test_sandbox_pool");
}
