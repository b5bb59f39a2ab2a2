-- The hostile suite: tests/sandbox/hostile/* are programs written to escape, exhaust or fool
-- the sandbox. Each file names its expected verdict and its tests in header comments:
--   # expect: killed           (-- for Lua)
--   # test: assert f() == 1    one test per line; "# test+ ..." continues the previous one
--   # timeout: 3               optional, seconds (the suite's default is 1)
-- The tests assert that the attack worked, so "passed" would mean a breach. After the suite:
-- no sandbox process is left, nothing changed on the host outside the job dirs, and a later
-- job on the same worker sees an empty work dir.
local T = require "lpo.testing"
local sandbox = require "lpo.sandbox"

local DIR = "tests/sandbox/hostile"
local SANDBOX_UID = os.getenv("LPO_SANDBOX_UID") or "1879048192"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function load_case(name)
  local text = read(DIR .. "/" .. name)
  local lua = name:match("%.lua$") ~= nil
  local c = lua and "%-%-" or "#"
  local case = { name = name, code = text, tests = {}, language = lua and "lua" or "python" }
  for line in text:gmatch("[^\n]+") do
    local v = line:match("^" .. c .. " expect: (%S+)")
    if v then case.expect = v end
    v = line:match("^" .. c .. " timeout: ([%d.]+)")
    if v then case.timeout = tonumber(v) end
    v = line:match("^" .. c .. " test: (.*)$")
    if v then case.tests[#case.tests + 1] = v end
    v = line:match("^" .. c .. " test%+ (.*)$")
    if v then case.tests[#case.tests] = case.tests[#case.tests] .. "\n" .. v end
  end
  assert(case.expect, name .. ": no expect line")
  return case
end

local function list_cases()
  local names = {}
  local p = io.popen("ls " .. DIR)
  for name in p:lines() do
    if name:match("%.py$") or name:match("%.lua$") then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

-- Host state the programs attacked: must be the same after the suite.
local TARGETS = { "/usr/lpo_pwned", "/usr/bin/lpo_pwned", "/etc/lpo_pwned", "/lpo_pwned",
                  "/dev/lpo_pwned", "/tmp/lpo_channel", "/tmp/lpo_dir", "/tmp/f0", "/tmp/big",
                  "/dev/shm/lpo_channel", "/work/lpo_channel", "/lpo_channel" }
local function host_state()
  local out = T.sh("stat -c '%n %s %Y' /etc/shadow /etc/passwd /usr/bin 2>&1; hostname; " ..
                   "git status --porcelain --untracked-files=all -- . 2>&1 | grep -v '^?? build' | sort")
  local exist = {}
  for _, p in ipairs(TARGETS) do
    local f = io.open(p, "rb")
    if f then f:close(); exist[#exist + 1] = p end
  end
  return out .. "\nexisting targets: " .. table.concat(exist, " ")
end

-- Processes that must not exist: the daemons the programs started, or anything of ours (a
-- descendant of this test) still running as the sandbox's host uid or as a pool worker. Other
-- sessions on this machine may run sandboxes of their own, so ancestry decides what is ours.
local function leftovers(root_pid)
  local procs = {}
  local ls = io.popen("ls /proc")
  for pid in ls:lines() do
    if pid:match("^%d+$") then
      local f = io.open("/proc/" .. pid .. "/status")
      if f then
        local s = f:read("*a")
        f:close()
        procs[pid] = { name = s:match("Name:%s*(%S+)"), ppid = s:match("PPid:%s*(%d+)"),
                       uid = s:match("Uid:%s*(%d+)") }
      end
    end
  end
  ls:close()
  local function ours(pid)
    for _ = 1, 64 do
      local p = procs[pid]
      if not p or pid == "1" or pid == "0" then return false end
      if p.ppid == root_pid then return true end
      pid = p.ppid
    end
    return false
  end
  local out = {}
  for pid, p in pairs(procs) do
    if p.name and p.name:match("^lpodaemon") then out[#out + 1] = pid .. " " .. p.name
    elseif ours(pid) and (p.uid == SANDBOX_UID or p.name == "exe" or p.name == "python3") then
      out[#out + 1] = pid .. " " .. tostring(p.name) .. " uid " .. tostring(p.uid)
    end
  end
  table.sort(out)
  return table.concat(out, "\n")
end

local my_pid = T.sh("echo $PPID"):match("%d+")
local before = host_state()
local cases, by_name = {}, {}
for _, name in ipairs(list_cases()) do
  local c = load_case(name)
  by_name[name] = c
  if not name:match("^cross_run_") and name ~= "clean_dir.py" then cases[#cases + 1] = c end
end

T.case("the suite has at least 25 hostile programs", function()
  T.truthy(#cases >= 25, "only " .. #cases .. " programs")
end)

local ok, pool = pcall(sandbox.pool, { timeout = 1, memory_mb = 256, nproc = 32, output_limit = 1048576 })
if not ok then
  io.stderr:write("SKIP: the sandbox cannot run here: ", tostring(pool.message or pool), "\n")
  os.exit(77)
end

T.case("every isolation layer is active on this machine", function()
  local have = {}
  for _, l in ipairs(pool:layers()) do have[l] = true end
  for _, l in ipairs({ "user", "net", "ipc", "uts", "mount", "root", "pid", "tmpfs", "rlimits",
                       "caps", "nnp", "seccomp" }) do
    T.truthy(have[l], "layer " .. l)
  end
end)

local t0 = os.time()
local results = pool:run_batch(cases)
for i, c in ipairs(cases) do
  T.case(c.name .. " -> " .. c.expect, function()
    local r = results[i]
    T.eq(r.verdict, c.expect, c.name .. " verdict (" .. r.detail .. " | " .. r.stderr_tail:sub(-300) .. ")")
    T.eq(#r.layers, 12, c.name .. " layers: " .. table.concat(r.layers, ","))
    for k, ok in ipairs(r.passed) do
      if c.expect ~= "passed" then T.truthy(not ok or k > 1, c.name .. " test " .. k .. " passed") end
    end
  end)
end

T.case("daemons are gone once their job is over", function()
  local out = leftovers(my_pid)
  T.eq(out:match("lpodaemon") and out or "", "", "leftover daemons")
end)

-- The same worker, one job after another: nothing crosses from one run to the next.
local one = sandbox.pool { workers = 1, timeout = 1, memory_mb = 256, nproc = 32 }
T.case("no cross-run channel: files written by one run are gone for the next", function()
  local w = one:run(by_name["cross_run_writer.py"])
  T.eq(w.verdict, "passed", "writer: " .. w.detail .. w.stderr_tail)
  local r = one:run(by_name["cross_run_reader.py"])
  T.eq(r.verdict, "failed", "reader saw the writer's files: " .. r.detail)
  local c = one:run(by_name["clean_dir.py"])
  T.eq(c.verdict, "passed", "next run's dir is not clean: " .. c.detail .. c.stderr_tail)
end)
one:close()
pool:close()

T.case("no sandbox process is left after the pools close", function()
  T.eq(leftovers(my_pid), "", "leftover processes")
end)

T.case("nothing changed on the host outside the job dirs", function()
  T.eq(host_state(), before, "host state")
end)

T.case("the suite ran in well under a minute", function()
  T.truthy(os.time() - t0 < 40, "took " .. (os.time() - t0) .. " s")
end)

T.done()
