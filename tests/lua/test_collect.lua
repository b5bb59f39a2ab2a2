-- collect: ordering, artifacts, and resume after a crash mid-way (fake generator and
-- sandbox, so this tests the bookkeeping, not the model).
local T = require "lpo.testing"
local json = require "lpo.json"
local collect = require "lpo.collect"

local problems = {}
for i = 1, 10 do problems[i] = { id = "p" .. i, prompt = "problem " .. i, tests = { "assert f() == " .. i } } end

local gen_calls = 0
local function fake_generate(prompts, o)
  gen_calls = gen_calls + #prompts
  local outs = {}
  for k, p in ipairs(prompts) do
    outs[k] = {}
    for j = 1, o.n do outs[k][j] = { text = "def f(): return " .. ((p.key + j) % 3 == 0 and p.key or -1), logp = -j } end
  end
  return outs
end
local fake_sandbox = { crash_after = nil, jobs = 0 }
function fake_sandbox:run_batch(jobs)
  local out = {}
  for q, job in ipairs(jobs) do
    self.jobs = self.jobs + 1
    if self.crash_after and self.jobs > self.crash_after then error("simulated crash") end
    local want = tonumber(job.tests[1]:match("== (%d+)"))
    local got = tonumber(job.code:match("return (%-?%d+)"))
    out[q] = { verdict = want == got and "passed" or "failed", passed = { want == got }, time_ms = 1 }
  end
  return out
end

local function opts(dir)
  return { n = 3, generate = fake_generate, sandbox = fake_sandbox, extract = function(t) return t end,
           samples_path = dir .. "/samples.jsonl", results_path = dir .. "/results.jsonl", chunk = 4, progress = false }
end

T.case("collect writes ordered artifacts", function()
  local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
  local res = collect(nil, problems, opts(dir))
  T.eq(#res.samples, 30, "samples"); T.eq(#res.results, 30, "results")
  T.eq(res.results[4].problem_id, "p2", "order"); T.eq(res.results[4].sample_id, 1, "sample order")
  for _, r in ipairs(res.results) do
    local i = tonumber(r.problem_id:sub(2))
    T.eq(r.verdict, (i + r.sample_id) % 3 == 0 and "passed" or "failed", "verdict " .. r.problem_id)
  end
  T.eq(#json.read_lines(dir .. "/results.jsonl"), 30, "results.jsonl")
  os.execute("rm -rf " .. dir)
end)

T.case("a crash mid-way resumes with only the missing chunks", function()
  local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
  local full = collect(nil, problems, opts(dir .. "")) -- reference run in the same dir? use a fresh one
  os.execute("rm -rf " .. dir .. "/*")
  fake_sandbox.jobs, fake_sandbox.crash_after = 0, 14   -- dies inside the second chunk
  T.raises(function() collect(nil, problems, opts(dir)) end, "simulated crash")
  T.eq(#json.read_lines(dir .. "/results.jsonl"), 12, "first chunk persisted")
  fake_sandbox.crash_after, gen_calls = nil, 0
  local res = collect(nil, problems, opts(dir))
  T.eq(gen_calls, 6, "only the 6 unfinished problems regenerated")
  T.eq(json.encode(res.results), json.encode(full.results), "same results as an uninterrupted run")
  T.eq(#json.read_lines(dir .. "/results.jsonl"), 30, "no duplicates on disk")
  os.execute("rm -rf " .. dir)
end)

T.done()
