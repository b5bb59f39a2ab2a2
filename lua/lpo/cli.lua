-- lpo.cli — the command line, called by engine/main.c with LPO_ARGV.
-- Commands other than the built-ins live in lua/lpo/cli/NAME.lua and export main(args).
local M = {}

local USAGE = [[
usage: lpo [command] [args]
  lpo                       interactive REPL (reads a script from stdin if not a terminal)
  lpo run FILE.lua [args]   run a recipe or script (also: lpo FILE.lua)
      --set key=value       override a recipe argument (repeatable)
      --resume DIR          continue a killed run from its run directory
  lpo -e 'CODE' [args]      run a chunk of Lua
  lpo bench NAME            benchmark against a named peer (train, sample, sandbox ...)
  lpo sandbox FILE [...]    run one program in the sandbox, print a JSON result line
  lpo tokenize DIR          encode JSON strings from stdin with DIR/tokenizer.json
  lpo --version             print the version
  lpo --help                this text
Environment: LPO_ROOT overrides where lua/ is found.]]

-- A user error (bad file, bad flag) prints without a traceback; see lpo.errors.
local function fail(msg)
  io.stderr:write("lpo: ", msg, "\n")
  return 1
end

--- Runs a loaded chunk with a traceback handler; returns an exit code.
local function run_chunk(chunk, args)
  _G.arg = args
  local ok, err = xpcall(function() return chunk(unpack(args)) end, function(e)
    if type(e) == "table" and e.lpo_user_error then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if ok then return type(err) == "number" and err or 0 end
  if type(err) == "table" then return fail(err.message) end
  return fail(err)
end

M.run_chunk = run_chunk

function M.run_file(path, args)
  local chunk, err = loadfile(path)
  if not chunk then
    local f = io.open(path, "rb")
    if not f then return fail("cannot open " .. path) end
    f:close()
    return fail("syntax error: " .. err)
  end
  args[0] = path
  return run_chunk(chunk, args)
end

function M.main()
  local argv = LPO_ARGV
  local cmd = argv[1]
  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  if cmd == nil then
    return require("lpo.repl").main()
  elseif cmd == "--version" or cmd == "-v" then
    local C = require("lpo.ffi").load("lpo.h")
    print("lpo " .. LPO_VERSION .. " (" .. jit.version .. ", " .. require("ffi").string(C.lpo_cuda_status()) .. ")")
    return 0
  elseif cmd == "--help" or cmd == "-h" or cmd == "help" then
    print(USAGE)
    return 0
  elseif cmd == "-e" then
    local code = rest[1]
    if not code then return fail("-e needs a chunk of code") end
    local chunk, err = loadstring(code, "=(command line)")
    if not chunk then return fail("syntax error: " .. err) end
    local args = {}
    for i = 2, #rest do args[#args + 1] = rest[i] end
    return run_chunk(chunk, args)
  elseif cmd == "run" then
    if not rest[1] then return fail("run needs a FILE.lua (or --resume DIR)") end
    local ok, recipe = pcall(require, "lpo.recipe")
    if ok and recipe.cli_run then return recipe.cli_run(rest, M) end
    local file = table.remove(rest, 1)
    return M.run_file(file, rest)
  elseif cmd:match("%.lua$") then
    return M.run_file(cmd, rest)
  elseif cmd:match("^[%w_]+$") then
    local ok, mod = pcall(require, "lpo.cli." .. cmd)
    if not ok then
      if tostring(mod):match("module 'lpo.cli." .. cmd .. "' not found") then
        return fail("unknown command '" .. cmd .. "' (try lpo --help)")
      end
      error(mod, 0)
    end
    return run_chunk(function() return mod.main(rest) end, rest)
  end
  return fail("unknown command '" .. tostring(cmd) .. "' (try lpo --help)")
end

return M
