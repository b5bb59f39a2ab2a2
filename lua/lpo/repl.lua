-- lpo.repl — the interactive shell: readline editing and history, tab completion of
-- module fields and methods, auto-print of expressions (`=expr` too), multi-line input,
-- help(x). When stdin is not a terminal the same loop reads the script from stdin
-- (no prompts), which is how the tests drive it.
local ffi = require "ffi"
local pretty = require "lpo.pretty"
local doc = require "lpo.doc"

ffi.cdef [[
int isatty(int fd);
char *readline(const char *prompt);
void add_history(const char *line);
int read_history(const char *filename);
int write_history(const char *filename);
int history_truncate_file(const char *filename, int lines);
void free(void *ptr);
char *strdup(const char *s);
typedef char **(*rl_completion_fn)(const char *text, int start, int end);
typedef char *(*rl_compentry_fn)(const char *text, int state);
extern rl_completion_fn rl_attempt_completion_function;
extern int rl_attempt_completion_over;
extern const char *rl_basic_word_break_characters;
extern const char *rl_line_buffer;
char **rl_completion_matches(const char *text, rl_compentry_fn entry);
]]
local C = ffi.C

local M = {}

--- Candidate completions for `text` (e.g. "lpo.ten", "t:res", "pri").
function M.complete(text, env)
  env = env or _G
  local base, sep, partial = text:match("^(.-)([%.:])([%w_]*)$")
  local scope, prefix = env, ""
  if base then
    scope = env
    for part in base:gmatch("[^%.:]+") do
      if type(scope) ~= "table" and type(scope) ~= "cdata" and type(scope) ~= "userdata" then return {} end
      local ok, v = pcall(function() return scope[part] end)
      if not ok then return {} end
      scope = v
    end
    prefix = base .. sep
  else
    partial = text
  end
  local names, seen = {}, {}
  local function add_keys(t)
    if type(t) ~= "table" then return end
    for k, v in pairs(t) do
      if type(k) == "string" and k:sub(1, #partial) == partial and not seen[k]
         and (sep ~= ":" or type(v) == "function") and k:match("^[%a_][%w_]*$") then
        seen[k] = true
        names[#names + 1] = prefix .. k
      end
    end
  end
  -- Fields of the value, then what its metatable's __index offers (methods), then lazy
  -- submodules of lpo, so `lpo.tok<TAB>` completes before tokenizer is loaded.
  add_keys(scope)
  local mt = (type(scope) == "table" or type(scope) == "cdata") and getmetatable(scope)
  if type(mt) == "table" then add_keys(mt); if type(mt.__index) == "table" then add_keys(mt.__index) end end
  -- cdata objects (tensors) hide their metatable from getmetatable: ask their module.
  if type(scope) == "cdata" and package.loaded["lpo.tensor"] then
    local ok, is = pcall(function() return package.loaded["lpo.tensor"].is_tensor(scope) end)
    if ok and is then add_keys(package.loaded["lpo.tensor"]._methods) end
  end
  if type(scope) == "table" and scope.modules and scope == package.loaded.lpo then
    local lazy = {}
    for _, k in ipairs(scope.modules()) do lazy[k] = true end
    add_keys(lazy)
  end
  if not base then
    for _, kw in ipairs { "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
                          "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
                          "true", "until", "while" } do
      if kw:sub(1, #partial) == partial and not seen[kw] then names[#names + 1] = kw end
    end
  end
  table.sort(names)
  return names
end

--- Compiles one REPL entry: returns fn, or nil + "incomplete", or nil + message.
function M.compile(src)
  if src:sub(1, 1) == "=" then src = "return " .. src:sub(2) end
  local fn = loadstring("return " .. src, "=stdin")
  if fn then return fn end
  local err
  fn, err = loadstring(src, "=stdin")
  if fn then return fn end
  if err:match("<eof>$") or err:match("<eof>'?$") then return nil, "incomplete" end
  return nil, err
end

local function print_results(n, ...)
  if n == 0 then return end
  local out = {}
  for i = 1, n do out[i] = pretty.format((select(i, ...))) end
  io.stdout:write(table.concat(out, "\t"), "\n")
end

--- Evaluates one complete entry, printing values or the error. Returns true if it ran.
function M.eval(fn)
  local res = { xpcall(fn, function(e)
    if type(e) == "table" and e.lpo_user_error then return e.message end
    return debug.traceback(tostring(e), 2)
  end) }
  if not res[1] then
    io.stderr:write(tostring(res[2]), "\n")
    return false
  end
  print_results(table.maxn(res) - 1, unpack(res, 2, table.maxn(res)))
  return true
end

_G.help = function(x)
  if x == nil then
    print("lpo REPL: type Lua; expressions print their value (=expr too); multi-line input continues with >>.\n" ..
          "help(x) shows docs for lpo values; TAB completes; history in ~/.lpo_history.\n" ..
          "modules: lpo." .. table.concat(require("lpo").modules(), ", lpo."))
    return
  end
  print(doc.help(x))
end
_G.lpo = _G.lpo or require "lpo"

-- Readline completion: our generator returns strdup'd strings readline frees.
local matches, match_i
local generator = ffi.cast("rl_compentry_fn", function(text, state)
  if state == 0 then matches, match_i = M.complete(ffi.string(text)), 0 end
  match_i = match_i + 1
  local m = matches[match_i]
  return m and C.strdup(m) or nil
end)
local completer = ffi.cast("rl_completion_fn", function(text, start, stop)
  C.rl_attempt_completion_over = 1
  return C.rl_completion_matches(text, generator)
end)

local function read_line_tty(prompt)
  local p = C.readline(prompt)
  if p == nil then return nil end
  local s = ffi.string(p)
  C.free(p)
  if s:match("%S") then C.add_history(s) end
  return s
end

--- Runs the loop. With a terminal: prompts, readline, history. Otherwise: reads stdin.
function M.main()
  local tty = C.isatty(0) == 1
  local history = (os.getenv("HOME") or ".") .. "/.lpo_history"
  local read_line, failures = nil, 0
  if tty then
    C.rl_attempt_completion_function = completer
    C.rl_basic_word_break_characters = " \t\n\"'><=;|&{(,+-*/%^#~[]"
    C.read_history(history)
    print("lpo " .. (LPO_VERSION or "") .. " — help() for help, Ctrl-D to exit")
    read_line = read_line_tty
  else
    read_line = function() return io.stdin:read("*l") end
  end
  local buffer = nil
  while true do
    local line = read_line(buffer and ">> " or "lpo> ")
    if line == nil then break end
    buffer = buffer and (buffer .. "\n" .. line) or line
    if buffer:match("^%s*$") then buffer = nil
    else
      local fn, err = M.compile(buffer)
      if fn then
        if not M.eval(fn) then failures = failures + 1 end
        buffer = nil
      elseif err ~= "incomplete" then
        io.stderr:write(err, "\n")
        failures = failures + 1
        buffer = nil
      end
    end
  end
  if buffer then io.stderr:write("incomplete input at end of file\n"); failures = failures + 1 end
  if tty then
    io.stdout:write("\n")
    C.write_history(history)
    C.history_truncate_file(history, 2000)
  end
  -- A script fed on stdin fails the run if any entry failed, so it can be tested.
  return (not tty and failures > 0) and 1 or 0
end

return M
