-- lpo.testing — a small test harness for tests/lua: named cases, assertions that say
-- what differed, and the closing "N passed, N failed" line that CI reads.
local M = { passed = 0, failed = 0, name = arg and arg[0] or "lua test" }

function M.case(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then M.passed = M.passed + 1
  else
    M.failed = M.failed + 1
    io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
  end
end

function M.eq(a, b, what)
  if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

function M.close(a, b, rtol, atol, what)
  rtol, atol = rtol or 1e-6, atol or 1e-9
  if not (math.abs(a - b) <= atol + rtol * math.abs(b)) then
    error(string.format("%s: %.9g not within rtol=%g atol=%g of %.9g", what or "value", a, rtol, atol, b), 2)
  end
end

function M.truthy(v, what) if not v then error((what or "condition") .. " is false", 2) end end

--- Asserts fn raises an error whose message contains `pattern` (plain match).
function M.raises(fn, pattern, what)
  local ok, err = pcall(fn)
  if ok then error((what or "call") .. ": expected an error containing '" .. pattern .. "'", 2) end
  local msg = type(err) == "table" and err.message or tostring(err)
  if not msg:find(pattern, 1, true) then
    error((what or "call") .. ": error '" .. msg .. "' does not contain '" .. pattern .. "'", 2)
  end
  return msg
end

--- Runs a shell command, returns its stdout, and its exit status.
function M.sh(cmd)
  local f = io.popen(cmd .. "; echo \"__rc=$?\"")
  local out = f:read("*a")
  f:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  return out:gsub("__rc=%d+%s*$", ""), rc
end

--- The lpo executable running this test (so tests can drive the CLI).
function M.lpo() return LPO_ARGV and LPO_ARGV[0] or "build/lpo" end

function M.done()
  print(string.format("%s: %d passed, %d failed", M.name, M.passed, M.failed))
  collectgarbage(); collectgarbage()
  os.exit(M.failed == 0 and M.passed > 0 and 0 or 1, true)
end

return M
