-- lpo.sandbox — run untrusted programs against unit tests (engine/sandbox through the FFI).
--
--   local sandbox = require "lpo.sandbox"
--   local pool = sandbox.pool { workers = 2, timeout = 3, memory_mb = 512 }
--   local r = pool:run { code = "def f(x): return x + 1", tests = { "assert f(1) == 2" } }
--   -- r.verdict == "passed", r.passed == { true }
--   local rs = pool:run_batch(jobs, { progress = function(done, total) end })   -- in order
--   pool:close()
--
-- A job is { language = "python"|"lua", code = "...", tests = { "assert ...", ... } } (MBPP
-- style: one test per assert), or { code = ..., test = "def check(candidate): ...",
-- entry_point = "f" } (HumanEval style: one test), plus optional setup (MBPP's
-- test_setup_code, run before each test), timeout (seconds), isolate_tests, entry_point with
-- asserts (lets the program's function carry a builtin's name, e.g. MBPP's `sum`).
-- A result is { verdict, passed = {bool...}, tests = {"pass"|"fail"|"error"|"timeout"|
-- "memory"|"killed"|"skipped"...}, time_ms, cpu_ms, peak_mb, exit_status, stdout_tail,
-- stderr_tail, detail, layers = {...} }. Verdicts: passed, failed, runtime_error,
-- syntax_error, timeout, memory_limit, output_limit, killed (seccomp), sandbox_error (the
-- sandbox itself failed: no reward).
--
-- How tests see the program: the test code runs in a separate, trusted process; the names it
-- does not define are proxies for the program's objects. Calls, attribute access, iteration,
-- len/bool/str and item access travel to the program; values come back as plain Python values
-- (ints, floats, str, bytes, None, bool, list, tuple, dict, set, frozenset, complex, range,
-- dict keys/items, deque, Fraction, Decimal; subclasses such as namedtuple, OrderedDict,
-- Counter or IntEnum arrive as their base type), other objects as proxies whose == is
-- identity. So nothing the program does to its own interpreter (exit, patched builtins,
-- unittest or math, an always-equal __eq__, printed "OK") can make a test pass. Differences
-- from running everything in one process: arguments reach the program as copies (a test does
-- not see the program mutate them), a test cannot pass a function to the program, builtins the
-- test uses are never the program's (except the entry point), and a set built by the test may
-- iterate in another order on the program's side (MBPP 341 is the one case in MBPP).
--
-- Trust: by default a job's tests are dataset tests and run inside the worker's long-lived
-- test server (fast). Tests a model wrote (DSTC) must run with isolate_tests -- per job, or
-- for the whole pool with sandbox.pool { isolate_tests = true } -- so that a test can only
-- decide its own outcome and never reach the server later jobs use.
local ffi = require "ffi"
local lffi = require "lpo.ffi"
local errors = require "lpo.errors"
local C = lffi.load("lpo_sandbox.h")

local M = {}
local Pool = {}
Pool.__index = Pool

M.VERDICTS = { "passed", "failed", "runtime_error", "syntax_error", "timeout", "memory_limit",
               "output_limit", "killed", "sandbox_error" }

local function root()
  return rawget(_G, "LPO_ROOT") or os.getenv("LPO_ROOT") or "."
end

local function check_type(v, want, where)
  if v ~= nil and type(v) ~= want then
    errors.raise("sandbox", "%s must be a %s, not a %s", where, want, type(v))
  end
end

local POOL_KEYS = { workers = "number", timeout = "number", memory_mb = "number",
                    output_limit = "number", nproc = "number", file_mb = "number",
                    work_mb = "number", nofile = "number", python = "string",
                    disable = "string", allow_insecure = "boolean", quiet = "boolean",
                    harness = "string", isolate_tests = "boolean" }

--- Starts a pool of sandbox workers. Raises when the sandbox cannot run here.
function M.pool(opts)
  opts = opts or {}
  check_type(opts, "table", "sandbox.pool options")
  for k, v in pairs(opts) do
    if not POOL_KEYS[k] then errors.raise("sandbox", "unknown pool option '%s'", tostring(k)) end
    check_type(v, POOL_KEYS[k], "pool option " .. k)
  end
  local cfg = ffi.new("lpo_sandbox_config")
  C.lpo_sandbox_config_default(cfg)
  cfg.workers = opts.workers or 0
  if opts.timeout then cfg.timeout_s = opts.timeout end
  if opts.memory_mb then cfg.memory_mb = opts.memory_mb end
  if opts.output_limit then cfg.output_limit = opts.output_limit end
  if opts.nproc then cfg.nproc = opts.nproc end
  if opts.file_mb then cfg.file_mb = opts.file_mb end
  if opts.work_mb then cfg.work_mb = opts.work_mb end
  if opts.nofile then cfg.nofile = opts.nofile end
  local harness = opts.harness or (root() .. "/lua/lpo/sandbox/harness.py")
  cfg.harness = harness
  cfg.python = opts.python
  cfg.disable = opts.disable
  cfg.allow_insecure = opts.allow_insecure and 1 or 0
  cfg.quiet = opts.quiet and 1 or 0
  local p = C.lpo_sandbox_pool_new(cfg)
  if p == nil then errors.raise(nil, "%s", lffi.last_error()) end
  ffi.gc(p, C.lpo_sandbox_pool_free)
  local self = setmetatable({ _p = p, _tag = 0, timeout = tonumber(cfg.timeout_s),
                              isolate_tests = opts.isolate_tests }, Pool)
  M._last_layers = self:layers()
  return self
end

-- Keeps the C strings of one job alive until it is submitted (submit copies them).
local function to_cjob(job, i, isolate_all)
  local where = i and ("job " .. i) or "job"
  if type(job) ~= "table" then errors.raise("sandbox", "%s must be a table", where) end
  if type(job.code) ~= "string" then errors.raise("sandbox", "%s.code must be a string", where) end
  check_type(job.language, "string", where .. ".language")
  check_type(job.tests, "table", where .. ".tests")
  check_type(job.test, "string", where .. ".test")
  check_type(job.entry_point, "string", where .. ".entry_point")
  check_type(job.setup, "string", where .. ".setup")
  check_type(job.timeout, "number", where .. ".timeout")
  local cj = ffi.new("lpo_sandbox_job")
  local keep = { job }
  cj.language = job.language or "python"
  cj.code = job.code
  cj.code_len = #job.code
  local n = 0
  if job.tests then
    n = #job.tests
    local arr = ffi.new("const char *[?]", n + 1)
    for k = 1, n do
      if type(job.tests[k]) ~= "string" then
        errors.raise("sandbox", "%s.tests[%d] must be a string", where, k)
      end
      arr[k - 1] = job.tests[k]
    end
    keep[#keep + 1] = arr
    cj.tests = arr
  end
  cj.n_tests = n
  if job.test then cj.check = job.test end
  if job.entry_point then cj.entry_point = job.entry_point end
  if job.setup and job.setup ~= "" then cj.setup = job.setup end
  cj.timeout_s = job.timeout or 0
  cj.isolate_tests = (job.isolate_tests or isolate_all) and 1 or 0
  local count = job.test and 1 or n
  return cj, keep, count
end

local function split(s)
  local t = {}
  for name in s:gmatch("[^,]+") do t[#t + 1] = name end
  return t
end

local function to_lua(r, count)
  local n = r.n_tests
  local out = {
    verdict = ffi.string(C.lpo_sandbox_verdict_name(r.verdict)),
    passed = {}, tests = {},
    time_ms = tonumber(r.time_ms), cpu_ms = tonumber(r.cpu_ms),
    peak_mb = tonumber(r.peak_mb) > 0 and tonumber(r.peak_mb) or nil,
    exit_status = tonumber(r.exit_status),
    stdout_tail = ffi.string(r.stdout_tail), stderr_tail = ffi.string(r.stderr_tail),
    detail = ffi.string(r.detail), layers = split(ffi.string(r.layers)),
  }
  for k = 1, math.max(n, count or 0) do
    local oc = k <= n and ffi.string(C.lpo_sandbox_outcome_name(r.outcomes[k - 1])) or "skipped"
    out.tests[k] = oc
    out.passed[k] = oc == "pass"
  end
  return out
end

local function progress_bar(done, total)
  local width = 30
  local filled = math.floor(width * done / math.max(total, 1))
  io.stderr:write(string.format("\rsandbox [%s%s] %d/%d", string.rep("#", filled),
                                string.rep(".", width - filled), done, total))
  if done == total then io.stderr:write("\n") end
end

--- Runs jobs on all workers; returns their results in the order of `jobs`.
-- opts.progress: a function(done, total), or true for a bar on stderr.
function Pool:run_batch(jobs, opts)
  if not self._p then errors.raise("sandbox", "the pool is closed") end
  check_type(jobs, "table", "jobs")
  opts = opts or {}
  local progress = opts.progress == true and progress_bar or opts.progress
  check_type(progress, "function", "opts.progress")
  local total = #jobs
  local results, counts, base = {}, {}, self._tag
  for i = 1, total do
    local cj, keep, count = to_cjob(jobs[i], i, self.isolate_tests)
    counts[i] = count
    lffi.check(C.lpo_sandbox_submit(self._p, cj, base + i), "sandbox submit")
    keep = nil
  end
  self._tag = base + total
  local out = ffi.new("lpo_sandbox_result *[1]")
  local done = 0
  if progress and total > 0 then progress(0, total) end
  while done < total do
    local rc = C.lpo_sandbox_next(self._p, -1, out)
    if rc < 0 then errors.raise("sandbox", "%s", lffi.last_error()) end
    if rc == 0 then errors.raise("sandbox", "lost %d jobs", total - done) end
    local r = out[0]
    local i = tonumber(r.tag) - base
    if i >= 1 and i <= total and not results[i] then
      results[i] = to_lua(r, counts[i])
      done = done + 1
      if progress then progress(done, total) end
    end
    C.lpo_sandbox_result_free(r)
  end
  return results
end

--- Runs one job and returns its result.
function Pool:run(job)
  return self:run_batch({ job })[1]
end

--- The isolation layers active in this pool's jobs (a list of names).
function Pool:layers()
  if not self._p then return {} end
  return split(ffi.string(C.lpo_sandbox_pool_layers(self._p)))
end

function Pool:warnings()
  return self._p and ffi.string(C.lpo_sandbox_pool_warnings(self._p)) or ""
end

function Pool:workers() return self._p and C.lpo_sandbox_pool_workers(self._p) or 0 end

function Pool:close()
  if self._p then
    ffi.gc(self._p, nil)
    C.lpo_sandbox_pool_free(self._p)
    self._p = nil
  end
end

--- The CodeRL reward of a verdict: passed +1, failed -0.3, syntax_error -1, the other
-- failures -0.6 (runtime errors); nil for sandbox_error or an unknown name.
function M.reward(verdict)
  local v = C.lpo_sandbox_verdict_from_name(tostring(verdict))
  if v < 0 then return nil end
  local r = C.lpo_sandbox_reward(v)
  if r ~= r then return nil end
  return r
end

local ALL_LAYERS = { "user", "net", "root", "ipc", "uts", "pid", "mount", "tmpfs", "rlimits",
                     "caps", "nnp", "seccomp" }

--- Which isolation layers are active: { names..., missing = { ... }, warnings = "..." }.
-- Uses the last pool started, or starts a one-worker pool to find out.
function M.layers()
  local list, warnings = M._last_layers, M._last_warnings
  if not list then
    local p = M.pool { workers = 1, quiet = true, allow_insecure = true }
    list, warnings = p:layers(), p:warnings()
    p:close()
  end
  local have, out = {}, { missing = {}, warnings = warnings or "" }
  for _, name in ipairs(list) do have[name] = true; out[#out + 1] = name end
  for _, name in ipairs(ALL_LAYERS) do
    if not have[name] then out.missing[#out.missing + 1] = name end
  end
  return out
end

--- Maps a problem record (lpo problems format, or a raw HumanEval or MBPP line) and a
-- program onto a job. For assert lists it names the entry point (the first function the
-- tests call that the program defines) so that a program's `def sum(...)` is the one the
-- tests get.
function M.job(problem, code)
  check_type(problem, "table", "problem")
  check_type(code, "string", "code")
  local job = { code = code, language = problem.language or "python" }
  if problem.test and problem.entry_point then
    job.test, job.entry_point = problem.test, problem.entry_point
    return job
  end
  local tests = problem.tests or problem.test_list
  if type(tests) ~= "table" then
    errors.raise("sandbox", "problem %s has neither tests[] nor test + entry_point",
                 tostring(problem.id or problem.task_id))
  end
  job.tests = tests
  local setup = problem.setup or problem.test_setup_code
  if type(setup) == "string" and setup:match("%S") then job.setup = setup end
  job.entry_point = problem.entry_point
  if not job.entry_point and job.language == "python" then
    for _, t in ipairs(tests) do
      for name in t:gmatch("([%a_][%w_]*)%s*%(") do
        if code:find("def%s+" .. name .. "%s*%(") then job.entry_point = name; break end
      end
      if job.entry_point then break end
    end
  end
  return job
end

require("lpo.doc").module(M, "lpo.sandbox", {
  __module = "Runs untrusted Python/Lua programs against unit tests in an isolated pool.",
  pool = { "pool{ workers, timeout, memory_mb, output_limit, isolate_tests } -> pool",
           "starts sandbox workers; pool:run(job), pool:run_batch(jobs, {progress}), pool:close()" },
  reward = { "reward(verdict) -> number", "CodeRL reward: +1 / -0.3 / -0.6 / -1" },
  layers = { "layers() -> { names..., missing, warnings }", "which isolation layers are active" },
  job = { "job(problem, code) -> job", "maps a HumanEval/MBPP/problems record and a program onto a job" },
})

return M
