-- Every generated reference solution of every split passes its own tests in the sandbox
-- (the same path recipes use: collect.job -> pool:run_batch), and a spoiled solution fails.
local T = require "lpo.testing"
local tasks = require "lpo.tasks"
local collect = require "lpo.collect"
local sandbox = require "lpo.sandbox"

local ok, pool = pcall(sandbox.pool, { timeout = 5, memory_mb = 512, quiet = true })
if not ok then
  print("SKIPPED: the sandbox cannot run here: " .. tostring(type(pool) == "table" and pool.message or pool))
  os.exit(77)
end

T.case("reference solutions pass in the sandbox, all splits", function()
  for _, split in ipairs { "train", "valid", "test" } do
    local problems = tasks.generate { seed = 1, split = split }
    local jobs = {}
    for i, p in ipairs(problems) do jobs[i] = collect.job(p, p.solution) end
    local res = pool:run_batch(jobs)
    local bad = {}
    for i, r in ipairs(res) do
      if r.verdict ~= "passed" then bad[#bad + 1] = problems[i].id .. " (" .. r.verdict .. ")" end
    end
    T.eq(#bad, 0, split .. ": failing references: " .. table.concat(bad, ", ", 1, math.min(#bad, 5)))
    T.truthy(#res == #problems and #problems > 100, split .. " size")
  end
end)

T.case("a spoiled solution fails", function()
  local p = tasks.generate { seed = 1, split = "test", n = 1 }[1]
  local spoiled = p.solution:gsub("return", "return 1 + ", 1)
  local r = pool:run(collect.job(p, spoiled))
  T.truthy(r.verdict ~= "passed", "mutated solution verdict " .. r.verdict)
end)

pool:close()
T.done()
