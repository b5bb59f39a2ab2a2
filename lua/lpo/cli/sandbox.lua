-- lpo sandbox FILE [options] — runs one program in the sandbox and prints its result as one
-- JSON line (for debugging a sample). Exit status: 0 passed, 1 any other verdict, 2 usage.
--
--   --lang python|lua   default: from the file name (.lua is Lua, anything else Python)
--   --tests FILE        asserts (one test per top-level assert; lines before the first are
--                       setup run before each) or a HumanEval-style `def check(candidate)`
--   --entry NAME        the function check() is given (default: the program's first def)
--   --timeout S         wall-clock limit (default 3)
--   --memory MB         address-space limit per process (default 512)
--   --isolate           run each test in its own process (tests written by a model)
-- Without --tests the program just runs; it passes if it finishes without an error.
local json = require "lpo.json"
local sandbox = require "lpo.sandbox"

local M = {}

local USAGE = "usage: lpo sandbox FILE [--lang python|lua] [--tests FILE] [--entry NAME] " ..
              "[--timeout S] [--memory MB] [--isolate]"

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

--- Splits a file of asserts into tests: a test starts at each unindented line beginning
-- with `assert` (Lua: `assert(`); indented or continuation lines belong to the test above;
-- lines before the first assert are setup.
function M.split_tests(text, lang)
  local setup, tests = {}, {}
  local start = lang == "lua" and "^assert%s*%(" or "^assert[%s%(]"
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    if line:match(start) then
      tests[#tests + 1] = line
    elseif #tests > 0 and line:match("%S") then
      tests[#tests] = tests[#tests] .. "\n" .. line
    elseif line:match("%S") then
      setup[#setup + 1] = line
    end
  end
  return tests, #setup > 0 and table.concat(setup, "\n") .. "\n" or nil
end

local function fail(msg)
  io.stderr:write("lpo sandbox: ", msg, "\n", USAGE, "\n")
  return 2
end

function M.main(args)
  local opts, file = {}, nil
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--lang" or a == "--tests" or a == "--entry" or a == "--timeout" or a == "--memory" then
      if not args[i + 1] then return fail(a .. " needs a value") end
      opts[a:sub(3)] = args[i + 1]
      i = i + 2
    elseif a == "--isolate" then
      opts.isolate = true
      i = i + 1
    elseif a == "-h" or a == "--help" then
      print(USAGE)
      return 0
    elseif a:sub(1, 2) == "--" then
      return fail("unknown option " .. a)
    elseif file then
      return fail("one FILE only")
    else
      file = a
      i = i + 1
    end
  end
  if not file then return fail("no FILE") end
  local lang = opts.lang or (file:match("%.lua$") and "lua" or "python")
  if lang ~= "python" and lang ~= "lua" then return fail("--lang must be python or lua") end
  local timeout = tonumber(opts.timeout or "3")
  local memory = tonumber(opts.memory or "512")
  if not timeout or timeout <= 0 then return fail("--timeout must be a positive number") end
  if not memory or memory < 64 then return fail("--memory must be at least 64 (MB)") end
  local code, err = read(file)
  if not code then return fail("cannot read " .. file .. ": " .. tostring(err)) end
  local job = { language = lang, code = code, isolate_tests = opts.isolate }
  if opts.tests then
    local text, terr = read(opts.tests)
    if not text then return fail("cannot read " .. opts.tests .. ": " .. tostring(terr)) end
    local is_check = lang == "lua" and text:match("function%s+check%s*%(") or text:match("def%s+check%s*%(")
    if is_check then
      job.test = text
      job.entry_point = opts.entry or code:match(lang == "lua" and "function%s+([%a_][%w_]*)%s*%(" or
                                                 "\ndef%s+([%a_][%w_]*)%s*%(") or
                        code:match("^def%s+([%a_][%w_]*)%s*%(")
      if not job.entry_point then return fail("--entry NAME is needed: no function found in " .. file) end
    else
      job.tests, job.setup = M.split_tests(text, lang)
      job.entry_point = opts.entry
      if #job.tests == 0 then return fail(opts.tests .. " has no assert") end
    end
  end
  local pool = sandbox.pool { workers = 1, timeout = timeout, memory_mb = memory }
  local r = pool:run(job)
  pool:close()
  r.reward = sandbox.reward(r.verdict)
  r.passed = json.array(r.passed)
  r.tests = json.array(r.tests)
  r.layers = json.array(r.layers)
  print(json.encode(r))
  return r.verdict == "passed" and 0 or 1
end

return M
