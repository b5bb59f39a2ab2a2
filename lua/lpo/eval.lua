-- lpo.eval — pass@k. Greedy pass@1 generates one completion per problem at temperature 0,
-- extracts code, runs it in the sandbox against the problem's tests and counts "passed".
-- pass_at_k is the unbiased estimator of Chen et al. (2021): 1 - C(n-c, k) / C(n, k).
local M = {}

--- Unbiased pass@k for one problem with n samples of which c passed.
function M.pass_at_k(n, c, k)
  if k > n then error(string.format("pass_at_k: k=%d > n=%d samples", k, n), 2) end
  if c < 0 or c > n then error(string.format("pass_at_k: c=%d outside [0, %d]", c, n), 2) end
  if n - c < k then return 1.0 end
  -- 1 - prod_{i=n-c+1}^{n} (1 - k/i), the numerically stable product form.
  local prod = 1.0
  for i = n - c + 1, n do prod = prod * (1.0 - k / i) end
  return 1.0 - prod
end

--- Mean pass@k over problems given per-problem {n =, c =} counts.
function M.mean_pass_at_k(counts, k)
  local s = 0
  for _, nc in ipairs(counts) do s = s + M.pass_at_k(nc.n, nc.c, k) end
  return #counts > 0 and s / #counts or 0
end

--- Per-problem counts from result records (problem_id, verdict).
function M.counts(results)
  local by, order = {}, {}
  for _, r in ipairs(results) do
    local id = tostring(r.problem_id)
    if not by[id] then by[id] = { id = id, n = 0, c = 0 }; order[#order + 1] = id end
    by[id].n = by[id].n + 1
    if r.verdict == "passed" then by[id].c = by[id].c + 1 end
  end
  local out = {}
  for i, id in ipairs(order) do out[i] = by[id] end
  return out
end

--- Greedy pass@1 of `policy` on `problems`.
--- opts: tokenizer, sandbox (pool), prompt (fn problem -> text), max_new_tokens, stop,
--- extract (fn completion, problem -> code), results_path (optional JSONL of results).
function M.pass_at_1(policy, problems, opts)
  local collect = require "lpo.collect"
  local res = collect.run(policy, problems, {
    n = 1, temperature = 0, tokenizer = opts.tokenizer, sandbox = opts.sandbox, prompt = opts.prompt,
    max_new_tokens = opts.max_new_tokens, stop = opts.stop, extract = opts.extract, seed = opts.seed or 0,
    round = opts.round or 0, purpose = "eval", samples_path = opts.samples_path, results_path = opts.results_path,
    label = opts.label or "eval", batch = opts.batch,
  })
  local passed = 0
  for _, r in ipairs(res.results) do if r.verdict == "passed" then passed = passed + 1 end end
  return #problems > 0 and passed / #problems or 0, res
end

require("lpo.doc").module(M, "lpo.eval", {
  __module = "evaluation: pass_at_k, mean_pass_at_k, counts, pass_at_1",
  pass_at_k = { "pass_at_k(n, c, k) -> number", "Unbiased pass@k estimator (Chen et al. 2021) for n samples, c correct." },
  pass_at_1 = { "pass_at_1(policy, problems, opts) -> rate, collected", "Greedy decoding, sandbox verdicts, fraction passed." },
})

return M
