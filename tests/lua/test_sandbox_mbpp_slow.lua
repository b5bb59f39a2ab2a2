-- MBPP through the sandbox: every reference solution's assert list, with its setup code.
-- All pass except those that fail in-process too (checked here by running the same program,
-- setup and asserts directly in Debian's python3, outside the sandbox) and 123 (takes more than
-- 5 s in-process). One known divergence: 341 converts a set the test built to a tuple, and a
-- set's iteration order (a CPython detail) does not survive the trip to the program's process,
-- so it passes in the sandbox and fails in-process. Needs ../shared/data/mbpp/mbpp.jsonl.
local T = require "lpo.testing"
local json = require "lpo.json"
local sandbox = require "lpo.sandbox"

local function shared(rel)
  local root = rawget(_G, "LPO_ROOT") or "."
  for _, base in ipairs({ os.getenv("LPO_SHARED") or false, root .. "/../shared", root .. "/../../shared" }) do
    if base then
      local f = io.open(base .. "/" .. rel, "rb")
      if f then f:close(); return base .. "/" .. rel end
    end
  end
end

local path = shared("data/mbpp/mbpp.jsonl")
if not path then
  io.stderr:write("SKIP: mbpp.jsonl not found beside the repo (set LPO_SHARED)\n")
  os.exit(77)
end

local problems, jobs = {}, {}
for line in io.lines(path) do
  local pr = json.decode(line)
  problems[#problems + 1] = pr
  jobs[#jobs + 1] = sandbox.job(pr, pr.code)
end

-- The reference: which problems fail when run plainly in-process (no sandbox).
local script = [[
import json, sys
bad = []
for line in open(sys.argv[1]):
    p = json.loads(line)
    if p["task_id"] == 123:
        continue
    g = {}
    try:
        exec(p["code"] + "\n" + p["test_setup_code"], g)
        for t in p["test_list"]:
            exec(t, g)
    except BaseException:
        bad.append(p["task_id"])
print(" ".join(map(str, bad)))
]]
local ref_path = os.tmpname()
local f = assert(io.open(ref_path, "w"))
f:write(script)
f:close()
local out = T.sh("PYTHONHASHSEED=0 /usr/bin/python3 " .. ref_path .. " '" .. path .. "'")
os.remove(ref_path)
local expected_bad = { [123] = true }
for id in out:gmatch("%d+") do expected_bad[tonumber(id)] = true end

local pool = sandbox.pool { timeout = 5, quiet = true }
local rs = pool:run_batch(jobs)
pool:close()

T.case("974 problems", function() T.eq(#problems, 974, "problems") end)
T.case("reference solutions pass exactly where they pass in-process", function()
  local wrong = {}
  for i, pr in ipairs(problems) do
    local ok = rs[i].verdict == "passed"
    -- 123 (amicable numbers to 10000) runs close to the 5 s limit: pass or timeout depends
    -- on the machine's load, so it is not compared.
    if ok == (expected_bad[pr.task_id] or false) and pr.task_id ~= 341 and pr.task_id ~= 123 then
      wrong[#wrong + 1] = pr.task_id .. "=" .. rs[i].verdict .. " (" .. rs[i].detail:sub(1, 80) .. ")"
    end
  end
  T.eq(#wrong, 0, "differs from in-process: " .. table.concat(wrong, "; "):sub(1, 2000))
end)

T.case("the one known divergence is still the only one", function()
  T.truthy(expected_bad[341], "341 fails in-process")
  local r = rs[341] and problems[341].task_id == 341 and rs[341]
  for i, pr in ipairs(problems) do if pr.task_id == 341 then r = rs[i] end end
  T.eq(r.verdict, "passed", "341 in the sandbox")
end)

T.done()
