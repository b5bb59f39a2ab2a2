-- lpo bench sandbox [--workers N] [--reps R] — runs/s on HumanEval's 164 canonical solutions
-- (prompt + canonical_solution, checked by the problem's check()), all layers of isolation on,
-- against a harness in the style of OpenAI human-eval's execution.py (one multiprocessing
-- Process per check with its reliability guard and a Manager for the result), measured in
-- the same run: tests/fixtures/sandbox/humaneval_peer.py under Debian's /usr/bin/python3.
-- Each side gets two configurations and keeps its better one: ours, the median of R batches on
-- a warm pool of one worker per core and of two per core (a worker's processes hand a job to
-- each other, so one per core leaves gaps); the peer, its default 4 workers and one per core.
-- The load average is printed: other work on the machine slows both sides.
-- Needs ../shared/data/humaneval/HumanEval.jsonl.gz ($LPO_SHARED).
local json = require "lpo.json"
local sandbox = require "lpo.sandbox"
local bench = require "lpo.cli.bench"
local ffi = require "ffi"

local now = require("lpo.progress").clock   -- the one monotonic clock (one clock_gettime declaration)

local function shared(rel)
  local root = rawget(_G, "LPO_ROOT") or "."
  for _, base in ipairs({ os.getenv("LPO_SHARED") or false, root .. "/../shared", root .. "/../../shared" }) do
    if base then
      local f = io.open(base .. "/" .. rel, "rb")
      if f then f:close(); return base .. "/" .. rel end
    end
  end
end

local function ncpu()
  local p = io.popen("nproc 2>/dev/null")
  local n = tonumber(p:read("*l") or "")
  p:close()
  return n or 1
end

local function median(xs)
  local t = {}
  for i, x in ipairs(xs) do t[i] = x end
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

local M = {}

local function loadavg()
  local f = io.open("/proc/loadavg")
  local s = f and f:read("*l") or "?"
  if f then f:close() end
  return s:match("^(%S+ %S+ %S+)") or s
end

-- Median runs/s of `reps` batches of all jobs on a pool of `workers`; nil + why on a failure.
local function measure(jobs, workers, reps)
  local pool = sandbox.pool { workers = workers, timeout = 3 }
  print(string.format("sandbox: %d workers, layers %s", pool:workers(), table.concat(pool:layers(), ",")))
  pool:run_batch({ unpack(jobs, 1, 20) })   -- warm-up
  local rates = {}
  for rep = 1, reps do
    local t0 = now()
    local rs = pool:run_batch(jobs)
    local dt = now() - t0
    local bad = 0
    for _, r in ipairs(rs) do if r.verdict ~= "passed" then bad = bad + 1 end end
    if bad > 0 then
      pool:close()
      return nil, string.format("%d canonical solutions did not pass", bad)
    end
    rates[rep] = #jobs / dt
    print(string.format("  lpo run %d: %d jobs in %.3f s = %.1f runs/s", rep, #jobs, dt, rates[rep]))
  end
  pool:close()
  return median(rates)
end

function M.main(args)
  local workers, reps = nil, 3
  for i = 1, #args, 2 do
    if args[i] == "--workers" then workers = tonumber(args[i + 1])
    elseif args[i] == "--reps" then reps = tonumber(args[i + 1])
    else io.stderr:write("usage: lpo bench sandbox [--workers N] [--reps R]\n"); return 2 end
  end
  local path = shared("data/humaneval/HumanEval.jsonl.gz")
  if not path then
    print(bench.headline("sandbox", 0, "runs/s", "human-eval harness", nil,
                         "HumanEval.jsonl.gz not found beside the repo (set LPO_SHARED)"))
    return 1
  end
  local problems, jobs = {}, {}
  local p = io.popen("gzip -dc '" .. path .. "'")
  for line in p:lines() do problems[#problems + 1] = json.decode(line) end
  p:close()
  for i, pr in ipairs(problems) do jobs[i] = sandbox.job(pr, pr.prompt .. pr.canonical_solution) end

  print(string.format("%d cores, load average %s", ncpu(), loadavg()))
  local ours
  for _, w in ipairs(workers and { workers } or { ncpu(), 2 * ncpu() }) do
    local rate, why = measure(jobs, w, reps)
    if not rate then
      io.stderr:write("lpo bench sandbox: " .. why .. "\n")
      return 1
    end
    print(string.format("  median with %d workers: %.1f runs/s", w, rate))
    if not ours or rate > ours then ours = rate end
  end

  local root = rawget(_G, "LPO_ROOT") or "."
  local peer_script = root .. "/tests/fixtures/sandbox/humaneval_peer.py"
  local f = io.open(peer_script, "rb")
  if not f then
    print(bench.headline("sandbox", ours, "runs/s", "human-eval harness", nil, peer_script .. " not found"))
    return 1
  end
  f:close()
  local peer
  for _, pw in ipairs({ 4, ncpu() }) do
    local out = io.popen("/usr/bin/python3 '" .. peer_script .. "' '" .. path .. "' --workers " .. pw .. " 2>&1")
    local text = out:read("*a")
    out:close()
    local ok, res = pcall(json.decode, text:match("{.*}") or "")
    if ok and type(res) == "table" and res.runs_per_s then
      print(string.format("  peer (%d workers): %d checks in %.3f s = %.1f runs/s, %d passed",
                          pw, res.runs, res.seconds, res.runs_per_s, res.passed))
      if not peer or res.runs_per_s > peer then peer = res.runs_per_s end
    else
      print("  peer failed: " .. text:sub(1, 300))
    end
    if pw == ncpu() then break end
  end
  print(string.format("load average after: %s", loadavg()))
  print(bench.headline("sandbox", ours, "runs/s", "human-eval harness", peer,
                       peer == nil and "the peer did not run (see above)" or nil))
  return peer and 0 or 1
end

return M
