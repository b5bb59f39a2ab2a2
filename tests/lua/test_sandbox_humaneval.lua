-- HumanEval through the sandbox: all 164 canonical solutions pass; the same prompts with the
-- body replaced by `pass` fail; with a syntax error injected they are syntax_error.
-- Needs ../shared/data/humaneval/HumanEval.jsonl.gz beside the repo ($LPO_SHARED overrides);
-- exits 77 (skipped) without it.
local T = require "lpo.testing"
local json = require "lpo.json"
local sandbox = require "lpo.sandbox"

local shared = require("lpo.data").shared

local path = shared("data/humaneval/HumanEval.jsonl.gz")
if not path then
  io.stderr:write("SKIP: HumanEval.jsonl.gz not found beside the repo (set LPO_SHARED)\n")
  os.exit(77)
end

local problems = {}
local p = io.popen("gzip -dc '" .. path .. "'")
for line in p:lines() do problems[#problems + 1] = json.decode(line) end
p:close()

T.case("164 problems", function() T.eq(#problems, 164, "problems") end)

local jobs = {}
for i, pr in ipairs(problems) do
  jobs[i] = sandbox.job(pr, pr.prompt .. pr.canonical_solution)
  jobs[164 + i] = sandbox.job(pr, pr.prompt .. "    pass\n")
  jobs[328 + i] = sandbox.job(pr, pr.prompt .. pr.canonical_solution .. "\n    return )(\n")
end
local pool = sandbox.pool { timeout = 5, quiet = true }
local rs = pool:run_batch(jobs)
pool:close()

local function check_all(offset, ok, what)
  local bad = {}
  for i, pr in ipairs(problems) do
    local r = rs[offset + i]
    if not ok(r.verdict) then bad[#bad + 1] = pr.task_id .. "=" .. r.verdict .. " (" .. r.detail:sub(1, 80) .. ")" end
  end
  T.eq(#bad, 0, what .. ": " .. table.concat(bad, "; "):sub(1, 2000))
end

T.case("all canonical solutions pass", function()
  check_all(0, function(v) return v == "passed" end, "not passed")
end)
T.case("bodies replaced by `pass` fail", function()
  check_all(164, function(v) return v == "failed" or v == "runtime_error" end, "did not fail")
end)
T.case("an injected syntax error is syntax_error", function()
  check_all(328, function(v) return v == "syntax_error" end, "not syntax_error")
end)

T.done()
