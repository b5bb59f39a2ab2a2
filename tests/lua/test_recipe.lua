-- Runs: overrides with types and clear errors, stages memoized on disk, resume, metrics
-- de-duplicated across a resume, summary + plot written, headline printed last.
local T = require "lpo.testing"
local json = require "lpo.json"
local lpo = T.lpo()
local tmp = os.tmpname(); os.remove(tmp)
os.execute("mkdir -p " .. tmp)

local recipe = tmp .. "/r.lua"
local f = io.open(recipe, "w")
f:write([[
local lpo = require "lpo"
local run = lpo.run { name = "t", seed = 3, beta = 0.1, rounds = 3, tag = "x", crash_at = 0 }
local counter_file = run:path("calls")
for r = 1, run.args.rounds do
  local v = run:stage("round" .. r, function()
    local c = io.open(counter_file, "a"); c:write("r", r, "\n"); c:close()
    if r == run.args.crash_at and not os.getenv("NO_CRASH") then os.exit(9) end
    return { value = r * run.args.beta }
  end)
  run:log { round = r, value = v.value }
end
run:finish(string.format("final: %.2f %s", run.args.beta * run.args.rounds, run.args.tag))
]])
f:close()

T.case("overrides are typed and recorded", function()
  local out, rc = T.sh(lpo .. " run --set beta=0.5 --set tag=yz --dir " .. tmp .. "/a " .. recipe .. " 2>&1")
  T.eq(rc, 0, "exit code")
  T.eq(out:match("([^\n]+)\n$"), "final: 1.50 yz", "headline is the last line")
  local meta = json.read_file(tmp .. "/a/run.json")
  T.eq(meta.args.beta, 0.5, "beta"); T.eq(meta.overrides.beta, "0.5", "recorded override")
  T.eq(meta.status, "finished", "status"); T.truthy(meta.recipe_text:find("lpo.run", 1, true), "recipe text stored")
  T.eq(#json.read_lines(tmp .. "/a/metrics.jsonl"), 3, "metrics lines")
  T.truthy(io.open(tmp .. "/a/metrics.svg"), "plot written")
end)

T.case("bad overrides name the argument", function()
  local out, rc = T.sh(lpo .. " run --set betta=1 --dir " .. tmp .. "/b " .. recipe .. " 2>&1")
  T.eq(rc, 1, "exit code"); T.truthy(out:find("--set: unknown argument 'betta'", 1, true), out)
  out, rc = T.sh(lpo .. " run --set beta=abc --dir " .. tmp .. "/b " .. recipe .. " 2>&1")
  T.eq(rc, 1, "exit code"); T.truthy(out:find("beta=abc: expected a number", 1, true), out)
  out, rc = T.sh(lpo .. " run --set beta " .. recipe .. " 2>&1")
  T.eq(rc, 1, "exit code"); T.truthy(out:find("expected key=value", 1, true), out)
end)

T.case("a killed run resumes without redoing finished stages", function()
  local out, rc = T.sh(lpo .. " run --set crash_at=2 --dir " .. tmp .. "/c " .. recipe .. " 2>&1")
  T.eq(rc, 9, "crashed at round 2")
  out, rc = T.sh("NO_CRASH=1 " .. lpo .. " run --resume " .. tmp .. "/c 2>&1")
  T.eq(rc, 0, "resumed run exit code: " .. out)
  local calls = io.open(tmp .. "/c/calls"):read("*a")
  T.eq(calls, "r1\nr2\nr2\nr3\n", "round 1 not recomputed, round 2 redone")
  local m = json.read_lines(tmp .. "/c/metrics.jsonl")
  T.eq(#m, 3, "metrics not duplicated")
  local a = io.open(tmp .. "/a/metrics.jsonl"):read("*a")
  T.truthy(#a > 0, "reference metrics")
end)

os.execute("rm -rf " .. tmp)
T.done()
