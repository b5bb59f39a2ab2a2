/* test_sandbox_verdict.c — facts to verdicts: the supervisor's result-stream parser, the
 * classification of a program that went away, the verdict order, names and CodeRL rewards. */
#include "sandbox/sb_internal.h"
#include "check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { sb_facts f; uint8_t outcome[8], reported[8]; int status[8]; char *detail, *layers, *warn; } facts_buf;

static void init(facts_buf *b, int n) {
  memset(b, 0, sizeof *b);
  b->f.n_tests = n;
  b->f.outcome = b->outcome;
  b->f.reported = b->reported;
  b->f.status = b->status;
  b->f.run_outcome = -1;
  b->f.respawn = -1;
  memset(b->outcome, LPO_SANDBOX_T_SKIPPED, sizeof b->outcome);
  for (int i = 0; i < 8; i++) b->status[i] = SB_STATUS_UNKNOWN;
}

static int feed(facts_buf *b, const char *lines) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", lines);
  int bad = 0;
  for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
    bad += sb_facts_apply_line(&b->f, l, &b->detail, &b->layers, &b->warn) != 0;
  return bad;
}

static void done(facts_buf *b) { free(b->detail); free(b->layers); free(b->warn); }

static int verdict_of(int n, const char *lines, int program_status, int killed_for) {
  facts_buf b;
  init(&b, n);
  feed(&b, lines);
  b.f.killed_for = killed_for;
  sb_facts_finalize(&b.f, program_status);
  int v = sb_verdict(&b.f);
  done(&b);
  return v;
}

int main(void) {
  /* names and rewards */
  for (int v = 0; v < LPO_SANDBOX_NVERDICTS; v++)
    CHECK(lpo_sandbox_verdict_from_name(lpo_sandbox_verdict_name(v)) == v);
  CHECK(lpo_sandbox_verdict_from_name("nope") == -1);
  CHECK(strcmp(lpo_sandbox_verdict_name(99), "?") == 0);
  CHECK(lpo_sandbox_reward(LPO_SANDBOX_PASSED) == 1.0);
  CHECK(lpo_sandbox_reward(LPO_SANDBOX_FAILED) == -0.3);
  CHECK(lpo_sandbox_reward(LPO_SANDBOX_RUNTIME_ERROR) == -0.6);
  CHECK(lpo_sandbox_reward(LPO_SANDBOX_TIMEOUT) == -0.6);
  CHECK(lpo_sandbox_reward(LPO_SANDBOX_KILLED) == -0.6);
  CHECK(lpo_sandbox_reward(LPO_SANDBOX_SYNTAX_ERROR) == -1.0);
  CHECK(isnan(lpo_sandbox_reward(LPO_SANDBOX_SANDBOX_ERROR)));

  /* the parser */
  facts_buf b;
  init(&b, 3);
  CHECK(feed(&b, "{\"layers\":[\"pid\",\"seccomp\"]}\n{\"t\":0,\"o\":\"pass\",\"x\":\"\"}\n"
                 "{\"t\":1,\"o\":\"fail\",\"x\":\"AssertionError: no\"}\n{\"done\":1,\"cpu_s\":0.25}") == 0);
  CHECK(b.f.reported[0] && b.f.outcome[0] == LPO_SANDBOX_T_PASS);
  CHECK(b.f.reported[1] && b.f.outcome[1] == LPO_SANDBOX_T_FAIL);
  CHECK(!b.f.reported[2] && b.f.done && b.f.server_cpu_s == 0.25);
  CHECK(b.layers && strcmp(b.layers, "pid,seccomp") == 0);
  CHECK(b.detail && strcmp(b.detail, "test 2: AssertionError: no") == 0);
  CHECK(sb_verdict(&b.f) == LPO_SANDBOX_FAILED);
  done(&b);
  init(&b, 2);   /* malformed or out-of-range lines are errors, never a pass */
  CHECK(feed(&b, "not json\n{\"t\":5,\"o\":\"pass\"}\n{\"t\":0,\"o\":\"great\"}\n{\"t\":-1,\"o\":\"pass\"}\n"
                 "{\"respawn\":0}\n{\"what\":1}\n[1,2]") == 7);
  CHECK(!b.f.reported[0] && !b.f.reported[1]);
  done(&b);

  /* verdicts */
  CHECK(verdict_of(2, "{\"t\":0,\"o\":\"pass\"}\n{\"t\":1,\"o\":\"pass\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_PASSED);
  CHECK(verdict_of(2, "{\"t\":0,\"o\":\"pass\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_FAILED);  /* one not run */
  CHECK(verdict_of(2, "{\"t\":0,\"o\":\"error\"}\n{\"t\":1,\"o\":\"fail\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_RUNTIME_ERROR);
  CHECK(verdict_of(2, "{\"t\":0,\"o\":\"timeout\"}\n{\"t\":1,\"o\":\"error\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_TIMEOUT);
  CHECK(verdict_of(2, "{\"t\":0,\"o\":\"memory\"}\n{\"t\":1,\"o\":\"timeout\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_MEMORY_LIMIT);
  CHECK(verdict_of(1, "{\"syntax\":\"SyntaxError: x\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_SYNTAX_ERROR);
  CHECK(verdict_of(1, "{\"t\":0,\"o\":\"pass\"}\n{\"done\":1}", 0, SB_KILL_OUTPUT) == LPO_SANDBOX_OUTPUT_LIMIT);
  /* the program went away: its exit status decides */
  CHECK(verdict_of(1, "{\"t\":0,\"o\":\"exited\"}\n{\"done\":1}", -31, SB_KILL_NONE) == LPO_SANDBOX_KILLED);
  CHECK(verdict_of(1, "{\"t\":0,\"o\":\"exited\"}\n{\"done\":1}", -24, SB_KILL_NONE) == LPO_SANDBOX_TIMEOUT);
  CHECK(verdict_of(1, "{\"t\":0,\"o\":\"exited\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_RUNTIME_ERROR);
  CHECK(verdict_of(1, "{\"t\":0,\"o\":\"exited\"}\n{\"done\":1}", SB_STATUS_UNKNOWN, SB_KILL_TIMEOUT) == LPO_SANDBOX_TIMEOUT);
  CHECK(verdict_of(2, "{\"t\":0,\"o\":\"exited\",\"st\":-31}\n{\"t\":1,\"o\":\"pass\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_KILLED);
  /* killed at the hard deadline with tests unreported: timeout; unreported without a kill
   * and without done: the sandbox failed -- never a pass */
  CHECK(verdict_of(2, "{\"t\":0,\"o\":\"pass\"}", SB_STATUS_UNKNOWN, SB_KILL_TIMEOUT) == LPO_SANDBOX_TIMEOUT);
  CHECK(verdict_of(2, "{\"t\":0,\"o\":\"pass\"}", SB_STATUS_UNKNOWN, SB_KILL_NONE) == LPO_SANDBOX_SANDBOX_ERROR);
  CHECK(verdict_of(1, "", SB_STATUS_UNKNOWN, SB_KILL_NONE) == LPO_SANDBOX_SANDBOX_ERROR);
  /* no tests: the run's outcome */
  CHECK(verdict_of(0, "{\"run\":\"pass\"}\n{\"done\":1}", 0, SB_KILL_NONE) == LPO_SANDBOX_PASSED);
  CHECK(verdict_of(0, "{\"run\":\"exited\"}\n{\"done\":1}", -31, SB_KILL_NONE) == LPO_SANDBOX_KILLED);
  CHECK(verdict_of(0, "{\"run\":\"error\"}\n{\"done\":1}", 3, SB_KILL_NONE) == LPO_SANDBOX_RUNTIME_ERROR);
  return check_done("test_sandbox_verdict");
}
