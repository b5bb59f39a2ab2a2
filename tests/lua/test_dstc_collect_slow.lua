-- loop.collect_dstc, DSTC's collection: (1) on the shipped model, the four-part answers run
-- to their [Tests] section (no plain-format stop string cuts them) and tests are pooled per
-- problem; (2) with scripted answers (reference / buggy / wrong-test / empty) the matrix has
-- known passes; in both, every entry of the code x test pass matrix equals a direct sandbox
-- run of that code with that test alone, and minimax's chosen code is the reference.
local T = require "lpo.testing"
local json = require "lpo.json"
local lpo = require "lpo"

local function round(scripted)
  local dir = os.tmpname(); os.remove(dir)
  local out, rc = T.sh(T.lpo() .. " run tests/fixtures/recipes/dstc_round.lua --dir " .. dir ..
                       (scripted and " --set scripted=true" or "") .. " 2>&1")
  T.eq(rc, 0, "exit code: " .. out)
  local r = json.read_file(dir .. "/groups.json")
  os.execute("rm -rf '" .. dir .. "'")
  return r
end

local sandbox = lpo.sandbox.pool { timeout = 3, memory_mb = 512 }
local function matrix_equals_direct_runs(groups)
  local jobs, where = {}, {}
  for gi, g in ipairs(groups) do
    for si, s in ipairs(g.samples) do
      for j, t in ipairs(g.tests) do
        jobs[#jobs + 1] = { language = "python", code = s.code, tests = { t }, entry_point = g.entry_point }
        where[#where + 1] = { gi, si, j }
      end
    end
  end
  T.truthy(#jobs >= 12, "enough (code, test) entries to compare: " .. #jobs)
  local ones = 0
  for q, r in ipairs(sandbox:run_batch(jobs)) do
    local gi, si, j = where[q][1], where[q][2], where[q][3]
    local want = groups[gi].samples[si].passed[j]
    ones = ones + want
    T.eq((r.passed and r.passed[1]) and 1 or 0, want, string.format("problem %d sample %d test %d", gi, si, j))
  end
  return ones, #jobs
end

T.case("the model's answers reach [Tests]; the matrix equals direct runs", function()
  local groups = round(false).groups
  local with_tests, pooled = 0, 0
  for _, g in ipairs(groups) do
    pooled = pooled + #g.tests
    for _, s in ipairs(g.samples) do
      if s.completion:find("[Tests]", 1, true) then with_tests = with_tests + 1 end
    end
  end
  T.truthy(with_tests >= 6, "at least a quarter of the 24 answers write [Tests]: " .. with_tests)
  T.truthy(pooled >= 3, "pooled tests: " .. pooled)
  matrix_equals_direct_runs(groups)
end)

T.case("scripted answers: known passes, the matrix equals direct runs, minimax chooses the reference", function()
  local r = round(true)
  local ones, n = matrix_equals_direct_runs(r.groups)
  T.truthy(ones > 0 and ones < n, string.format("both verdicts in the matrix: %d of %d", ones, n))
  for gi, g in ipairs(r.groups) do
    T.eq(#g.tests, 2, "two distinct test blocks pooled (true, with one wrong assert) for problem " .. gi)
    local s1 = 0
    for _, v in ipairs(g.samples[1].passed) do s1 = s1 + v end
    T.eq(s1, 1, "the reference passes the true block and fails the wrong one, problem " .. gi)
    for j, v in ipairs(g.samples[4].passed) do T.eq(v, 0, "no code passes nothing, test " .. j) end
  end
  T.truthy(#r.chosen > 0, "minimax forms pairs")
  for i, c in ipairs(r.chosen) do
    local found = false
    for _, g in ipairs(r.groups) do
      if c:find(g.solution:gsub("%s+$", ""), 1, true) then found = true end
    end
    T.truthy(found, "chosen " .. i .. " carries a reference solution")
  end
end)

sandbox:close()
T.done()
