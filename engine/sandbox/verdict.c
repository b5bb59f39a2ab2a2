/* verdict.c — from facts to a verdict, and the CodeRL reward of a verdict.
 *
 * The supervisor (harness.py, or the Lua runner) writes one JSON object per line to a pipe
 * only it holds; the worker adds what it saw itself (it killed the job for time or output).
 * "passed" needs every test reported as pass by that stream, and nothing else can write it. */
#include "sandbox/sb_internal.h"
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const VERDICTS[LPO_SANDBOX_NVERDICTS] = {
  "passed", "failed", "runtime_error", "syntax_error", "timeout", "memory_limit",
  "output_limit", "killed", "sandbox_error" };
static const char *const OUTCOMES[LPO_SANDBOX_NOUTCOMES] = {
  "pass", "fail", "error", "timeout", "memory", "killed", "skipped" };

const char *lpo_sandbox_verdict_name(int v) {
  return v >= 0 && v < LPO_SANDBOX_NVERDICTS ? VERDICTS[v] : "?";
}

int lpo_sandbox_verdict_from_name(const char *name) {
  for (int i = 0; name && i < LPO_SANDBOX_NVERDICTS; i++)
    if (strcmp(name, VERDICTS[i]) == 0) return i;
  return -1;
}

const char *lpo_sandbox_outcome_name(int o) {
  return o >= 0 && o < LPO_SANDBOX_NOUTCOMES ? OUTCOMES[o] : "?";
}

int sb_outcome_from_name(const char *name) {
  for (int i = 0; name && i < LPO_SANDBOX_NOUTCOMES; i++)
    if (strcmp(name, OUTCOMES[i]) == 0) return i;
  if (name && strcmp(name, "exited") == 0) return SB_T_EXITED;
  return -1;
}

/* Why the program's process went away: a seccomp kill is SIGSYS, the CPU limit SIGXCPU or
 * (hard limit) SIGKILL; killed by the sandbox itself, it ran out of time or output. */
static int classify_exit(int status, int killed_for) {
  if (status == SB_STATUS_UNKNOWN)
    return killed_for == SB_KILL_TIMEOUT ? LPO_SANDBOX_T_TIMEOUT : LPO_SANDBOX_T_ERROR;
  if (status == -31) return LPO_SANDBOX_T_KILLED;                  /* SIGSYS */
  if (status == -24 || status == -9) return LPO_SANDBOX_T_TIMEOUT; /* SIGXCPU, SIGKILL */
  return LPO_SANDBOX_T_ERROR;
}

void sb_facts_finalize(sb_facts *f, int program_status) {
  for (int i = 0; i < f->n_tests; i++)
    if (f->reported[i] && f->outcome[i] == SB_T_EXITED)
      f->outcome[i] = (uint8_t)classify_exit(f->status[i] != SB_STATUS_UNKNOWN ? f->status[i] : program_status,
                                             f->killed_for);
  if (f->run_outcome == SB_T_EXITED) f->run_outcome = classify_exit(program_status, f->killed_for);
}

/* CodeRL (Le et al. 2022): +1 pass, -0.3 a failed test, -0.6 a runtime error, -1 a compile
 * error. Timeouts, memory and output limits and policy kills are runtime errors there. */
double lpo_sandbox_reward(int v) {
  switch (v) {
    case LPO_SANDBOX_PASSED: return 1.0;
    case LPO_SANDBOX_FAILED: return -0.3;
    case LPO_SANDBOX_SYNTAX_ERROR: return -1.0;
    case LPO_SANDBOX_RUNTIME_ERROR: case LPO_SANDBOX_TIMEOUT: case LPO_SANDBOX_MEMORY_LIMIT:
    case LPO_SANDBOX_OUTPUT_LIMIT: case LPO_SANDBOX_KILLED: return -0.6;
    default: return NAN;
  }
}

int sb_verdict(const sb_facts *f) {
  if (f->syntax_error) return LPO_SANDBOX_SYNTAX_ERROR;
  if (f->killed_for == SB_KILL_OUTPUT) return LPO_SANDBOX_OUTPUT_LIMIT;
  int counts[LPO_SANDBOX_NOUTCOMES] = { 0 };
  int unreported = 0;
  if (f->n_tests == 0) {
    if (f->run_outcome < 0) unreported = 1; else counts[f->run_outcome]++;
  } else {
    for (int i = 0; i < f->n_tests; i++) {
      if (!f->reported[i]) unreported++;
      else counts[f->outcome[i]]++;
    }
  }
  /* Killed at the hard deadline: the test that was running timed out. */
  if (f->killed_for == SB_KILL_TIMEOUT && unreported) counts[LPO_SANDBOX_T_TIMEOUT]++;
  else if (unreported && !f->done) return LPO_SANDBOX_SANDBOX_ERROR;
  else if (f->internal_error && !f->done) return LPO_SANDBOX_SANDBOX_ERROR;
  int total = f->n_tests == 0 ? 1 : f->n_tests;
  if (counts[LPO_SANDBOX_T_PASS] == total) return LPO_SANDBOX_PASSED;
  if (counts[LPO_SANDBOX_T_KILLED]) return LPO_SANDBOX_KILLED;
  if (counts[LPO_SANDBOX_T_MEMORY]) return LPO_SANDBOX_MEMORY_LIMIT;
  if (counts[LPO_SANDBOX_T_TIMEOUT]) return LPO_SANDBOX_TIMEOUT;
  if (counts[LPO_SANDBOX_T_ERROR]) return LPO_SANDBOX_RUNTIME_ERROR;
  return LPO_SANDBOX_FAILED;
}

static char *dup_str(const cJSON *s) {
  return cJSON_IsString(s) && s->valuestring ? strdup(s->valuestring) : NULL;
}

static void set_once(char **dst, char *src) {
  if (*dst == NULL) *dst = src; else free(src);
}

int sb_facts_apply_line(sb_facts *f, const char *line, char **detail, char **layers, char **warn) {
  cJSON *o = cJSON_Parse(line);
  if (!cJSON_IsObject(o)) { cJSON_Delete(o); return -1; }
  int rc = 0;
  cJSON *v;
  if ((v = cJSON_GetObjectItemCaseSensitive(o, "t"))) {
    int j = cJSON_IsNumber(v) ? v->valueint : -1;
    int oc = sb_outcome_from_name(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "o")));
    if (j < 0 || j >= f->n_tests || oc < 0) rc = -1;
    else {
      f->outcome[j] = (uint8_t)oc;
      f->reported[j] = 1;
      cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "st");
      f->status[j] = cJSON_IsNumber(st) ? st->valueint : SB_STATUS_UNKNOWN;
      const char *x = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "x"));
      if (oc != LPO_SANDBOX_T_PASS && x && *x && detail) {
        char *d = malloc(strlen(x) + 32);
        if (d) { snprintf(d, strlen(x) + 32, "test %d: %s", j + 1, x); set_once(detail, d); }
      }
    }
  } else if ((v = cJSON_GetObjectItemCaseSensitive(o, "run"))) {
    int oc = sb_outcome_from_name(cJSON_GetStringValue(v));
    if (oc < 0) rc = -1; else f->run_outcome = oc;
  } else if ((v = cJSON_GetObjectItemCaseSensitive(o, "syntax"))) {
    f->syntax_error = 1;
    if (detail) { free(*detail); *detail = dup_str(v); }
  } else if ((v = cJSON_GetObjectItemCaseSensitive(o, "exit"))) {
    if (cJSON_IsNumber(v)) f->exit_status = v->valueint;
  } else if ((v = cJSON_GetObjectItemCaseSensitive(o, "layers"))) {
    if (layers && cJSON_IsArray(v)) {
      size_t cap = 256, len = 0;
      char *s = calloc(cap, 1);
      cJSON *it;
      cJSON_ArrayForEach(it, v) {
        const char *name = cJSON_GetStringValue(it);
        if (!name || !s || len + strlen(name) + 2 >= cap) continue;
        len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? "," : "", name);
      }
      free(*layers);
      *layers = s;
    }
  } else if (cJSON_GetObjectItemCaseSensitive(o, "gone")) {
    f->gone = 1;
  } else if ((v = cJSON_GetObjectItemCaseSensitive(o, "respawn"))) {
    if (!cJSON_IsNumber(v) || v->valueint < 1 || v->valueint >= f->n_tests) rc = -1;
    else f->respawn = v->valueint;
  } else if ((v = cJSON_GetObjectItemCaseSensitive(o, "warn"))) {
    if (warn) set_once(warn, dup_str(v));
  } else if ((v = cJSON_GetObjectItemCaseSensitive(o, "done"))) {
    f->done = 1;
    cJSON *cpu = cJSON_GetObjectItemCaseSensitive(o, "cpu_s");
    if (cJSON_IsNumber(cpu)) f->server_cpu_s = cpu->valuedouble;
  } else {
    rc = -1;
  }
  cJSON_Delete(o);
  return rc;
}
