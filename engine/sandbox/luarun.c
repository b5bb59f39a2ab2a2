/* luarun.c — Lua programs: each test in a fresh restricted LuaJIT state, inside the job's
 * forked, isolated process (worker.c forks it; isolate.c isolates it).
 *
 * The program and the tests are loaded as text only (no bytecode: binary chunks are a known
 * way out of a Lua sandbox) and run with the JIT off, so an instruction-count hook enforces
 * the time limit. The program's environment holds copies of the safe base functions and of
 * string/table/math/bit/coroutine plus os.time/clock/date; no io, os.execute, require, load,
 * debug, ffi or jit. The tests get an environment of their own: names they do not define
 * come from the program's, but the builtins (assert above all) are the test's own, so a
 * program cannot make an assertion pass by replacing it. Outcomes go to the result stream as
 * the Python supervisor writes them, so the worker treats both languages alike. */
#include "sandbox/sb_internal.h"
#include <cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double g_deadline;
static int g_timed_out;

/* Each state allocates through a byte budget (the job's memory limit): "not enough memory"
 * is then a clean Lua error, counted as the memory limit, and it works where RLIMIT_AS
 * cannot be used (under AddressSanitizer). */
typedef struct { size_t used, limit; } lua_budget;
static void *budget_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  lua_budget *b = ud;
  if (nsize == 0) {
    b->used -= osize;
    free(p);
    return NULL;
  }
  if (nsize > osize && b->used - osize + nsize > b->limit) return NULL;
  void *q = realloc(p, nsize);
  if (q) b->used = b->used - osize + nsize;
  return q;
}
static size_t g_memory_limit;

/* The trusted part, run in each fresh state before anything untrusted. Returns the runner. */
static const char BOOT[] =
  "local real_assert, error, pcall, type, tostring, setfenv = assert, error, pcall, type, tostring, setfenv\n"
  "local pairs, ipairs, setmetatable, rawget = pairs, ipairs, setmetatable, rawget\n"
  "local TIMEOUT, PRINT = ...\n"
  "getmetatable('').__metatable = false\n"
  "local function copy(t) local c = {} for k, v in pairs(t) do c[k] = v end return c end\n"
  "local base = { 'assert', 'error', 'ipairs', 'next', 'pairs', 'pcall', 'select', 'tonumber',\n"
  "  'tostring', 'type', 'unpack', 'xpcall', 'rawequal', 'rawget', 'rawset', 'setmetatable', 'getmetatable' }\n"
  "local lib = { string = copy(string), table = copy(table), math = copy(math), bit = copy(bit),\n"
  "  coroutine = copy(coroutine), os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime } }\n"
  "lib.string.dump = nil\n"
  "local G = _G\n"
  "local function make_env()\n"
  "  local e = {}\n"
  "  for _, k in ipairs(base) do e[k] = G[k] end\n"
  "  for k, v in pairs(lib) do e[k] = copy(v) end\n"
  "  e.print, e._VERSION = PRINT, _VERSION\n"
  "  e._G = e\n"
  "  return e\n"
  "end\n"
  "local FAIL = {}\n"
  "local function test_assert(v, msg, ...)\n"
  "  if not v then error(setmetatable({ msg = msg }, FAIL), 2) end\n"
  "  return v, msg, ...\n"
  "end\n"
  "local function classify(err, prefix)\n"
  "  if err == TIMEOUT then return 'timeout', 'time limit' end\n"
  "  if type(err) == 'table' and getmetatable(err) == FAIL then\n"
  "    return 'fail', 'assertion failed' .. (err.msg and (': ' .. tostring(err.msg)) or '')\n"
  "  end\n"
  "  local s = type(err) == 'string' and err or ('error object: ' .. type(err))\n"
  "  if s:find('not enough memory', 1, true) then return 'memory', prefix .. s end\n"
  "  return 'error', prefix .. s\n"
  "end\n"
  "return function(user, setup, test, check, entry)\n"
  "  local uenv = make_env()\n"
  "  setfenv(user, uenv)\n"
  "  local ok, err = pcall(user)\n"
  "  if not ok then return classify(err, 'program failed: ') end\n"
  "  if not (setup or test or check) then return 'pass', '' end\n"
  "  local tenv = make_env()\n"
  "  tenv.assert = test_assert\n"
  "  setmetatable(tenv, { __index = function(_, k) return uenv[k] end })\n"
  "  for _, f in ipairs({ setup or false, test or false, check or false }) do\n"
  "    if f then\n"
  "      setfenv(f, tenv)\n"
  "      ok, err = pcall(f)\n"
  "      if not ok then return classify(err, '') end\n"
  "    end\n"
  "  end\n"
  "  if check then\n"
  "    local c = rawget(tenv, 'check')\n"
  "    if type(c) ~= 'function' then return 'error', 'the test defines no check(candidate)' end\n"
  "    ok, err = pcall(c, uenv[entry])\n"
  "    if not ok then return classify(err, '') end\n"
  "  end\n"
  "  return 'pass', ''\n"
  "end\n";

static int l_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    lua_getglobal(L, "tostring");
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  sb_write_all(1, s, len);
  return 0;
}

static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (sb_now() > g_deadline) {
    g_timed_out = 1;
    lua_pushlightuserdata(L, (void *)&g_deadline);  /* the TIMEOUT marker the runner knows */
    lua_error(L);
  }
}

static void emit(int fd, cJSON *o) {
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!text) return;
  sb_write_all(fd, text, strlen(text));
  sb_write_all(fd, "\n", 1);
  free(text);
}

static void emit_outcome(int fd, int j, const char *outcome, const char *detail) {
  cJSON *o = cJSON_CreateObject();
  if (j >= 0) {
    cJSON_AddNumberToObject(o, "t", j);
    cJSON_AddStringToObject(o, "o", outcome);
    cJSON_AddStringToObject(o, "x", detail ? detail : "");
  } else {
    cJSON_AddStringToObject(o, "run", outcome);
  }
  emit(fd, o);
}

static int load_text(lua_State *L, const char *src, const char *name) {
  return luaL_loadbufferx(L, src, strlen(src), name, "t");
}

/* Runs one test (test/check may be NULL: just the program) in a fresh state; outcome into
 * out/detail (detail malloc'd or NULL). */
static void run_one(const char *code, const char *setup, const char *test, const char *check,
                    const char *entry, char *out, size_t out_n, char **detail) {
  *detail = NULL;
  lua_budget budget = { 0, g_memory_limit };
  lua_State *L = lua_newstate(budget_alloc, &budget);
  if (!L) L = luaL_newstate();            /* a LuaJIT without custom allocators: RLIMIT_AS only */
  if (!L) { snprintf(out, out_n, "memory"); return; }
  luaL_openlibs(L);
  luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  if (luaL_loadbuffer(L, BOOT, sizeof BOOT - 1, "=sandbox") != 0) {
    snprintf(out, out_n, "error");
    *detail = strdup(lua_tostring(L, -1));
    lua_close(L);
    return;
  }
  lua_pushlightuserdata(L, (void *)&g_deadline);
  lua_pushcfunction(L, l_print);
  if (lua_pcall(L, 2, 1, 0) != 0) {
    snprintf(out, out_n, "error");
    *detail = strdup(lua_tostring(L, -1));
    lua_close(L);
    return;
  }
  const char *srcs[4] = { code, setup, test, check };
  const char *names[4] = { "=program", "=setup", "=test", "=test" };
  for (int i = 0; i < 4; i++) {
    if (!srcs[i]) { lua_pushnil(L); continue; }
    if (load_text(L, srcs[i], names[i]) != 0) {
      snprintf(out, out_n, "error");
      const char *m = lua_tostring(L, -1);
      size_t n = strlen(m ? m : "") + 40;
      *detail = malloc(n);
      if (*detail) snprintf(*detail, n, "test does not compile: %s", m ? m : "");
      lua_close(L);
      return;
    }
  }
  if (entry) lua_pushstring(L, entry); else lua_pushnil(L);
  g_timed_out = 0;
  lua_sethook(L, hook, LUA_MASKCOUNT, 1000);
  int rc = lua_pcall(L, 5, 2, 0);
  lua_sethook(L, NULL, 0, 0);
  if (rc != 0) {
    const char *m = lua_tostring(L, -1);
    snprintf(out, out_n, g_timed_out ? "timeout" : m && strstr(m, "not enough memory") ? "memory" : "error");
    *detail = m ? strdup(m) : NULL;
  } else {
    snprintf(out, out_n, "%s", lua_tostring(L, -2) ? lua_tostring(L, -2) : "error");
    const char *d = lua_tostring(L, -1);
    *detail = d && *d ? strdup(d) : NULL;
  }
  /* A program that caught the timeout and returned anyway still ran out of time. */
  if (sb_now() > g_deadline) snprintf(out, out_n, "timeout");
  lua_close(L);
}

void sb_lua_run(int res_fd, const char *code, const char *const *tests, int n_tests,
                const char *check, const char *entry, const char *setup, double timeout_s,
                size_t memory_bytes) {
  g_deadline = sb_now() + timeout_s;
  g_memory_limit = memory_bytes;
  if (!code) code = "";
  /* Syntax first, in a scratch state: a program that does not compile is syntax_error. */
  lua_State *L = luaL_newstate();
  if (L && load_text(L, code, "=program") != 0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "syntax", lua_tostring(L, -1) ? lua_tostring(L, -1) : "syntax error");
    emit(res_fd, o);
    lua_close(L);
    sb_write_all(res_fd, "{\"done\":1}\n", 11);
    return;
  }
  if (L) lua_close(L);
  char outcome[32];
  char *detail;
  int total = check ? 1 : n_tests;
  if (total == 0) {
    run_one(code, NULL, NULL, NULL, NULL, outcome, sizeof outcome, &detail);
    if (detail) { sb_write_all(2, detail, strlen(detail)); sb_write_all(2, "\n", 1); }
    emit_outcome(res_fd, -1, outcome, detail);
    free(detail);
  }
  for (int j = 0; j < total; j++) {
    if (sb_now() > g_deadline) { emit_outcome(res_fd, j, "timeout", "time limit"); continue; }
    run_one(code, setup, check ? NULL : tests[j], check, entry, outcome, sizeof outcome, &detail);
    if (detail && strcmp(outcome, "pass") != 0) {
      sb_write_all(2, detail, strlen(detail));
      sb_write_all(2, "\n", 1);
    }
    emit_outcome(res_fd, j, outcome, detail);
    free(detail);
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "exit", 0);
  emit(res_fd, o);
  o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "done", 1);
  emit(res_fd, o);
}
