/* main.c — the `lpo` executable: embeds LuaJIT and hands every command to Lua.
 *
 *   lpo                      the REPL (reads a script from stdin when it is not a terminal)
 *   lpo run FILE.lua [args]  run a recipe or script; `arg` holds the args
 *   lpo FILE.lua [args]      same
 *   lpo -e 'CODE' [args]     run a chunk
 *   lpo NAME [args]          any other command: lua/lpo/cli/NAME.lua (bench, sandbox, tokenize ...)
 *   lpo --version | --help
 *
 * The host only finds lua/ (env LPO_ROOT, then next to the executable as in build/lpo,
 * then the install prefix, then the source tree it was built from), sets package.path,
 * and runs lpo.cli.main with a traceback handler. Errors exit with status 1. */
#include "lpo.h"
#include "lpo_sandbox.h"
#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int has_lua_tree(const char *root) {
  char path[PATH_MAX + 64];
  struct stat st;
  snprintf(path, sizeof path, "%s/lua/lpo/init.lua", root);
  return stat(path, &st) == 0;
}

/* Finds the directory holding lua/lpo; writes it to root. */
static int find_root(char *root, size_t size) {
  const char *env = getenv("LPO_ROOT");
  if (env && has_lua_tree(env)) { snprintf(root, size, "%s", env); return 0; }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;                       /* exe dir, e.g. repo/build */
    char cand[PATH_MAX + 32];
    snprintf(cand, sizeof cand, "%s/..", exe);   /* build/lpo -> repo */
    if (has_lua_tree(cand) && realpath(cand, root)) return 0;
    snprintf(cand, sizeof cand, "%s/../share/lpo", exe);  /* prefix/bin/lpo -> prefix/share/lpo */
    if (has_lua_tree(cand) && realpath(cand, root)) return 0;
  }
  if (has_lua_tree(LPO_INSTALL_DATADIR)) { snprintf(root, size, "%s", LPO_INSTALL_DATADIR); return 0; }
  if (has_lua_tree(LPO_SOURCE_DIR)) { snprintf(root, size, "%s", LPO_SOURCE_DIR); return 0; }
  return -1;
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = luaL_typename(L, 1);
  /* Errors raised as tables with a `message` field (lpo's user errors) print plainly. */
  lua_getglobal(L, "debug");
  lua_getfield(L, -1, "traceback");
  lua_pushstring(L, msg);
  lua_pushinteger(L, 2);
  lua_call(L, 2, 1);
  return 1;
}

int main(int argc, char **argv) {
  /* `lpo --lpo-sandbox-worker PPID`: a sandbox worker, re-exec'd by lpo.sandbox pools so it
   * starts with one thread; runs and exits here, before Lua or anything else starts. */
  lpo_sandbox_worker_hook(argc, argv);
  /* Line-buffered even into a pipe or file, so `lpo run x.lua | tee log` shows progress. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  char root[PATH_MAX];
  if (find_root(root, sizeof root) != 0) {
    fprintf(stderr, "lpo: cannot find the lua/ directory (set LPO_ROOT to the lpo checkout or install prefix/share/lpo)\n");
    return 1;
  }
  lua_State *L = luaL_newstate();
  if (!L) { fprintf(stderr, "lpo: cannot create Lua state\n"); return 1; }
  luaL_openlibs(L);

  char buf[3 * PATH_MAX + 256];
  snprintf(buf, sizeof buf, "package.path = %s .. '/lua/?.lua;' .. %s .. '/lua/?/init.lua;' .. package.path",
           "LPO_ROOT", "LPO_ROOT");
  lua_pushstring(L, root);
  lua_setglobal(L, "LPO_ROOT");
  lua_pushstring(L, lpo_version());
  lua_setglobal(L, "LPO_VERSION");
  if (luaL_dostring(L, buf) != 0) { fprintf(stderr, "lpo: %s\n", lua_tostring(L, -1)); return 1; }

  /* argv as a Lua table: [0] = program, 1.. = arguments. */
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) { lua_pushstring(L, argv[i]); lua_rawseti(L, -2, i); }
  lua_setglobal(L, "LPO_ARGV");

  lua_pushcfunction(L, traceback);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, "lpo.cli");
  int status = lua_pcall(L, 1, 1, handler);
  if (status == 0) {
    lua_getfield(L, -1, "main");
    status = lua_pcall(L, 0, 1, handler);
  }
  int code = 0;
  if (status != 0) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "lpo: %s\n", msg ? msg : "(error object is not a string)");
    code = 1;
  } else if (lua_isnumber(L, -1)) {
    code = (int)lua_tointeger(L, -1);
  }
  fflush(stdout);
  lua_close(L);
  return code;
}
