-- lpo.select — turning sandbox results into preference data, in plain Lua so users can
-- write their own rules. Every rule takes per-problem groups of samples (with their results)
-- and returns (items, skipped): items are TRL pairs {prompt, chosen, rejected, meta} or KTO
-- examples {prompt, completion, label, meta}; skipped lists {problem_id, rule, reason} for
-- every problem that gave nothing. meta says why: rule, problem, samples, scores, seed.
--
-- Randomness: a Philox stream keyed by (seed, rule, problem_id, round) — the choice for one
-- problem never depends on which other problems are present or their order; candidates are
-- sorted by sample_id first, so it does not depend on sample order either.
--
-- Rules: random_pair (paper 1), all_pairs, best_worst (by a score), kto (unpaired),
-- dstc (minimax over the code x test pass matrix, with concatenation; PAPERS.md), dstc_kto.
local data = require "lpo.data"
local errors = require "lpo.errors"

local M = {}

-- Verdicts and scores -----------------------------------------------------------------------
-- Verdict names we understand (the sandbox's and common synonyms). CodeRL's reward:
-- +1 all tests pass, -0.3 a test fails, -0.6 runtime error (timeouts included, as in
-- CodeRL's executor), -1 compile/syntax error.
M.CODERL = {
  pass = 1, passed = 1, ok = 1, accepted = 1,
  fail = -0.3, failed = -0.3, wrong_answer = -0.3, assertion_error = -0.3,
  runtime_error = -0.6, error = -0.6, timeout = -0.6, time_limit = -0.6, memory_limit = -0.6,
  killed = -0.6, output_limit = -0.6, crash = -0.6, signal = -0.6,
  syntax_error = -1, compile_error = -1, no_code = -1,
}

local function truthy_cell(v) return v == true or v == 1 end

--- Whether a sample passed all its tests: its verdict when it has one ("pass"/"passed"/"ok"/
--- "accepted"), else every entry of passed[] (non-empty) true or 1.
function M.passed(s)
  if s.verdict ~= nil then return M.CODERL[s.verdict] == 1 end
  local p = s.passed
  if type(p) ~= "table" or #p == 0 then return false end
  for _, v in ipairs(p) do if not truthy_cell(v) then return false end end
  return true
end

M.scores = {}
--- Fraction of tests passed (passed[]); 1/0 from the verdict when there is no passed[].
function M.scores.fraction(s)
  local p = s.passed
  if type(p) ~= "table" or #p == 0 then return M.passed(s) and 1 or 0 end
  local k = 0
  for _, v in ipairs(p) do if truthy_cell(v) then k = k + 1 end end
  if s.verdict ~= nil and M.CODERL[s.verdict] == -1 then return 0 end
  return k / #p
end

--- CodeRL's reward from the verdict (M.CODERL); raises on a verdict it does not know.
function M.scores.coderl(s)
  local v = s.verdict
  if v == nil then
    if M.passed(s) then return 1 end
    return -0.3
  end
  local r = M.CODERL[v]
  if not r then
    local known = {}
    for k in pairs(M.CODERL) do known[#known + 1] = k end
    table.sort(known)
    errors.raise("select", "unknown verdict '%s' for the CodeRL reward (known: %s); add it to select.CODERL or pass opts.score",
      tostring(v), table.concat(known, ", "))
  end
  return r
end

local function score_fn(score)
  if score == nil then return M.scores.fraction, "fraction" end
  if type(score) == "function" then return score, "custom" end
  local f = M.scores[score]
  if not f then errors.raise("select", "unknown score '%s' (fraction, coderl, or a function)", tostring(score)) end
  return f, score
end

-- Grouping ---------------------------------------------------------------------------------
local function id_less(a, b)
  local ta, tb = type(a), type(b)
  if ta == tb and (ta == "number" or ta == "string") then return a < b end
  return tostring(a) < tostring(b)
end

local function key(pid, sid) return tostring(pid) .. "\0" .. tostring(sid) end

local function problem_map(problems)
  if not problems then return nil end
  local m = {}
  if problems[1] ~= nil then
    for _, p in ipairs(problems) do m[tostring(p.id)] = p end
  else
    for k, p in pairs(problems) do m[tostring(k)] = p end
  end
  return m
end

--- Groups samples (and their results) per problem:
---   group(samples, results, {problems=, prompt=}) -> { {problem_id, prompt, samples}... }
--- `results` (joined on problem_id+sample_id; every sample needs one) may be nil when each
--- sample already carries verdict/passed. The prompt comes from the sample's `prompt`, else
--- opts.prompt(problem) when given, else problems[id].prompt (problems: a list or a map).
--- Groups keep the order in which problems first appear; samples are sorted by sample_id.
function M.group(samples, results, opts)
  opts = opts or {}
  local by_key
  if results then
    by_key = {}
    for _, r in ipairs(results) do by_key[key(r.problem_id, r.sample_id)] = r end
  end
  local problems = problem_map(opts.problems)
  local groups, index = {}, {}
  for _, s in ipairs(samples) do
    local pid = s.problem_id
    if pid == nil then errors.raise("select.group", "sample without problem_id") end
    local rec = s
    if by_key then
      local r = by_key[key(pid, s.sample_id)]
      if not r then
        errors.raise("select.group", "no result for problem %s sample %s", tostring(pid), tostring(s.sample_id))
      end
      rec = {}
      for k, v in pairs(s) do rec[k] = v end
      for k, v in pairs(r) do if rec[k] == nil or k == "verdict" or k == "passed" then rec[k] = v end end
    end
    local g = index[tostring(pid)]
    if not g then
      local prompt = s.prompt
      local prob = problems and problems[tostring(pid)]
      if prompt == nil and prob then prompt = opts.prompt and opts.prompt(prob) or prob.prompt end
      if type(prompt) ~= "string" then
        errors.raise("select.group", "no prompt for problem %s (give samples a prompt, or opts.problems)", tostring(pid))
      end
      g = { problem_id = pid, prompt = prompt, samples = {}, problem = prob }
      index[tostring(pid)] = g
      groups[#groups + 1] = g
    end
    g.samples[#g.samples + 1] = rec
  end
  for _, g in ipairs(groups) do
    table.sort(g.samples, function(a, b) return id_less(a.sample_id, b.sample_id) end)
  end
  return groups
end

-- Rules accept groups, or a flat list of samples that carry their results.
local function as_groups(input, opts)
  if type(input) ~= "table" then error("select: expected a list of groups or samples", 3) end
  if input[1] == nil or input[1].samples then return input end
  return M.group(input, nil, opts)
end

local function stream(opts, rule, pid)
  return data.rng(opts.seed or 0, "lpo.select/" .. rule, tostring(pid), opts.round or 0)
end

local function sorted_copy(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  table.sort(out, function(a, b) return id_less(a.sample_id, b.sample_id) end)
  return out
end

local function text_of(s)
  if s.completion ~= nil then return s.completion end
  if s.code ~= nil then return s.code end
  errors.raise("select", "sample %s of problem %s has no completion", tostring(s.sample_id), tostring(s.problem_id))
end

local function skip(skipped, g, rule, reason)
  skipped[#skipped + 1] = { problem_id = g.problem_id, rule = rule, reason = reason }
end

local function split_by_pass(samples, is_pass)
  local good, bad = {}, {}
  for _, s in ipairs(sorted_copy(samples)) do
    if is_pass(s) then good[#good + 1] = s else bad[#bad + 1] = s end
  end
  return good, bad
end

local function make_pair(g, rule, c, r, meta_extra)
  local meta = { rule = rule, problem_id = g.problem_id, chosen_sample = c.sample_id, rejected_sample = r.sample_id,
                 chosen_verdict = c.verdict, rejected_verdict = r.verdict }
  for k, v in pairs(meta_extra) do meta[k] = v end
  return { prompt = g.prompt, chosen = text_of(c), rejected = text_of(r), meta = meta }
end

-- Paper 1 ----------------------------------------------------------------------------------
--- Paper 1: per problem one random (passing, failing) pair; problems without both are skipped.
--- opts: seed, round, is_pass (default select.passed).
function M.random_pair(input, opts)
  opts = opts or {}
  local is_pass = opts.is_pass or M.passed
  local pairs_, skipped = {}, {}
  for _, g in ipairs(as_groups(input, opts)) do
    local good, bad = split_by_pass(g.samples, is_pass)
    if #good == 0 then skip(skipped, g, "random_pair", #bad == 0 and "no samples" or "no passing sample")
    elseif #bad == 0 then skip(skipped, g, "random_pair", "no failing sample")
    else
      local rng = stream(opts, "random_pair", g.problem_id)
      local c, r = rng:pick(good), rng:pick(bad)
      pairs_[#pairs_ + 1] = make_pair(g, "random_pair", c, r, {
        seed = opts.seed or 0, round = opts.round,
        scores = { chosen = M.scores.fraction(c), rejected = M.scores.fraction(r) },
        candidates = { chosen = #good, rejected = #bad } })
    end
  end
  return pairs_, skipped
end

--- Every (passing, failing) combination per problem, in sample order; opts.max_per_problem
--- keeps a seeded random subset of that many. opts: seed, round, is_pass, max_per_problem.
function M.all_pairs(input, opts)
  opts = opts or {}
  local is_pass = opts.is_pass or M.passed
  local pairs_, skipped = {}, {}
  for _, g in ipairs(as_groups(input, opts)) do
    local good, bad = split_by_pass(g.samples, is_pass)
    if #good == 0 then skip(skipped, g, "all_pairs", #bad == 0 and "no samples" or "no passing sample")
    elseif #bad == 0 then skip(skipped, g, "all_pairs", "no failing sample")
    else
      local combos = {}
      for _, c in ipairs(good) do for _, r in ipairs(bad) do combos[#combos + 1] = { c, r } end end
      local total = #combos
      if opts.max_per_problem and total > opts.max_per_problem then
        local idx = {}
        for i = 1, total do idx[i] = i end
        stream(opts, "all_pairs", g.problem_id):shuffle(idx)
        local keep = {}
        for i = 1, opts.max_per_problem do keep[i] = idx[i] end
        table.sort(keep)
        local sub = {}
        for i, k in ipairs(keep) do sub[i] = combos[k] end
        combos = sub
      end
      for _, cr in ipairs(combos) do
        pairs_[#pairs_ + 1] = make_pair(g, "all_pairs", cr[1], cr[2], {
          seed = opts.seed or 0, round = opts.round,
          scores = { chosen = M.scores.fraction(cr[1]), rejected = M.scores.fraction(cr[2]) },
          candidates = { chosen = #good, rejected = #bad, pairs = total } })
      end
    end
  end
  return pairs_, skipped
end

-- The samples of `list` whose score equals the extreme (max when hi) of the scores.
local function extremes(list, scores, hi)
  local best
  for i = 1, #list do
    local v = scores[i]
    if best == nil or (hi and v > best) or (not hi and v < best) then best = v end
  end
  local out = {}
  for i = 1, #list do if scores[i] == best then out[#out + 1] = list[i] end end
  return out, best
end

--- Best vs worst by a score per problem: opts.score = "fraction" (of tests passed, default),
--- "coderl" (CodeRL's reward) or function(sample) -> number. Ties are broken at random
--- (seeded). Skipped when best - worst <= opts.min_margin (default 0), or when
--- opts.require_pass and the best sample does not pass.
function M.best_worst(input, opts)
  opts = opts or {}
  local f, fname = score_fn(opts.score)
  local margin = opts.min_margin or 0
  local pairs_, skipped = {}, {}
  for _, g in ipairs(as_groups(input, opts)) do
    local list = sorted_copy(g.samples)
    if #list == 0 then skip(skipped, g, "best_worst", "no samples")
    else
      local sc = {}
      for i, s in ipairs(list) do
        sc[i] = f(s)
        if type(sc[i]) ~= "number" or sc[i] ~= sc[i] then
          errors.raise("select.best_worst", "score of problem %s sample %s is not a number", tostring(g.problem_id), tostring(s.sample_id))
        end
      end
      local tops, best = extremes(list, sc, true)
      local bots, worst = extremes(list, sc, false)
      if best - worst <= margin then
        skip(skipped, g, "best_worst", string.format("best and worst %s scores differ by %g <= min_margin %g", fname, best - worst, margin))
      else
        local rng = stream(opts, "best_worst", g.problem_id)
        local c, r = rng:pick(tops), rng:pick(bots)
        if opts.require_pass and not (opts.is_pass or M.passed)(c) then
          skip(skipped, g, "best_worst", "best sample does not pass (require_pass)")
        else
          pairs_[#pairs_ + 1] = make_pair(g, "best_worst", c, r, {
            seed = opts.seed or 0, round = opts.round, score = fname,
            scores = { chosen = best, rejected = worst },
            candidates = { chosen = #tops, rejected = #bots } })
        end
      end
    end
  end
  return pairs_, skipped
end

--- KTO's unpaired examples: every sample, label = passed. opts: is_pass, dedupe (drop a
--- completion seen before in the same problem), max_desirable / max_undesirable per problem
--- (a seeded random subset), seed, round.
function M.kto(input, opts)
  opts = opts or {}
  local is_pass = opts.is_pass or M.passed
  local out, skipped = {}, {}
  for _, g in ipairs(as_groups(input, opts)) do
    local seen, good, bad = {}, {}, {}
    for _, s in ipairs(sorted_copy(g.samples)) do
      local t = text_of(s)
      if not (opts.dedupe and seen[t]) then
        seen[t] = true
        if is_pass(s) then good[#good + 1] = s else bad[#bad + 1] = s end
      end
    end
    if #good + #bad == 0 then skip(skipped, g, "kto", "no samples")
    else
      local rng = stream(opts, "kto", g.problem_id)
      local function cap(list, k)
        if not k or #list <= k then return list end
        local idx = {}
        for i = 1, #list do idx[i] = i end
        rng:shuffle(idx)
        local keep = {}
        for i = 1, k do keep[i] = idx[i] end
        table.sort(keep)
        local sub = {}
        for i, j in ipairs(keep) do sub[i] = list[j] end
        return sub
      end
      good, bad = cap(good, opts.max_desirable), cap(bad, opts.max_undesirable)
      local all = {}
      for _, s in ipairs(good) do all[#all + 1] = { s, true } end
      for _, s in ipairs(bad) do all[#all + 1] = { s, false } end
      table.sort(all, function(a, b) return id_less(a[1].sample_id, b[1].sample_id) end)
      for _, e in ipairs(all) do
        local s = e[1]
        out[#out + 1] = { prompt = g.prompt, completion = text_of(s), label = e[2],
          meta = { rule = "kto", problem_id = g.problem_id, sample = s.sample_id, verdict = s.verdict,
                   scores = { sample = M.scores.fraction(s) }, seed = opts.seed or 0, round = opts.round } }
      end
    end
  end
  return out, skipped
end

-- Helpers the DSTC rules (lua/lpo/select/dstc.lua) share with the rules above.
M._h = { truthy_cell = truthy_cell, as_groups = as_groups, stream = stream, sorted_copy = sorted_copy,
         text_of = text_of, skip = skip }
package.loaded["lpo.select"] = M   -- so lpo.select.dstc can require us while we load
require "lpo.select.dstc"           -- adds dstc_tests, minimax, dstc, dstc_kto

-- Pair quality -----------------------------------------------------------------------------
local function truth_lookup(truth)
  if type(truth) == "function" then return truth end
  if type(truth) ~= "table" then error("select.pair_quality: truth must be a function, a map or a list of results", 3) end
  local map = {}
  if truth[1] ~= nil then
    for _, r in ipairs(truth) do map[key(r.problem_id, r.sample_id)] = M.passed(r) end
  else
    for pid, per in pairs(truth) do
      for sid, v in pairs(per) do map[key(pid, sid)] = v and true or false end
    end
  end
  return function(pid, sid) return map[key(pid, sid)] end
end

--- Pair quality against ground truth (PAPERS.md's DSTC table): the percentage of pairs whose
--- chosen code is correct, whose rejected code is correct, and whose two codes share a
--- verdict. truth: function(problem_id, sample_id) -> bool|nil, a map truth[pid][sid] = bool,
--- or a list of results with real tests ({problem_id, sample_id, verdict|passed}). Pairs with
--- an unknown side are counted in `missing` and left out of the percentages.
function M.pair_quality(pairs_, truth)
  local look = truth_lookup(truth)
  local n, cc, rc, same, missing = 0, 0, 0, 0, 0
  for _, p in ipairs(pairs_) do
    local m = p.meta or {}
    local c, r = look(m.problem_id, m.chosen_sample), look(m.problem_id, m.rejected_sample)
    if c == nil or r == nil then missing = missing + 1
    else
      n = n + 1
      if c then cc = cc + 1 end
      if r then rc = rc + 1 end
      if c == r then same = same + 1 end
    end
  end
  local function pct(k) if n > 0 then return 100 * k / n end end  -- nil when no pair counts
  return { pairs = n, missing = missing, chosen_correct = pct(cc), rejected_correct = pct(rc), same_verdict = pct(same) }
end

--- Rules by name, so recipes can say rule = "dstc" or pass their own function.
M.rules = { random_pair = M.random_pair, all_pairs = M.all_pairs, best_worst = M.best_worst,
            kto = M.kto, dstc = M.dstc, dstc_kto = M.dstc_kto }

--- Applies a rule given by name or as a function(groups, opts) -> items, skipped.
function M.apply(rule, input, opts)
  local f = type(rule) == "function" and rule or M.rules[rule]
  if not f then errors.raise("select", "unknown rule '%s'", tostring(rule)) end
  return f(input, opts)
end

require("lpo.doc").module(M, "lpo.select", {
  __module = "Preference data from sandbox results: random_pair, all_pairs, best_worst, kto, dstc, dstc_kto, pair_quality",
  group = { "group(samples [, results] [, {problems=, prompt=}]) -> groups", "Joins samples with results and groups them per problem." },
  random_pair = { "random_pair(groups, {seed=}) -> pairs, skipped", "Paper 1: one random (passing, failing) pair per problem." },
  all_pairs = { "all_pairs(groups, {seed=, max_per_problem=}) -> pairs, skipped", "Every (passing, failing) combination." },
  best_worst = { "best_worst(groups, {score='fraction'|'coderl'|fn, seed=, min_margin=, require_pass=}) -> pairs, skipped", "Highest vs lowest score; random tie breaks." },
  kto = { "kto(groups, {dedupe=, max_desirable=, max_undesirable=, seed=}) -> examples, skipped", "KTO unpaired examples, label = passed." },
  dstc_tests = { "dstc_tests(samples, {unit='block'|'assert'}) -> tests", "Pools the samples' [Tests] into t_1..t_m." },
  minimax = { "minimax(P, m, rng [, {minimax=false}]) -> result", "DSTC's four argmin/argmax rules on a pass matrix." },
  dstc = { "dstc(groups, {seed=, concat=, minimax=}) -> pairs, skipped", "DSTC pairs: minimax selection with code+test concatenation." },
  dstc_kto = { "dstc_kto(groups, opts) -> examples, skipped", "DSTC for KTO: desirable c+t+, undesirable c-t- when it exists." },
  pair_quality = { "pair_quality(pairs, truth) -> {pairs, missing, chosen_correct, rejected_correct, same_verdict}", "Percentages against ground-truth verdicts." },
  passed = { "passed(sample) -> bool", "Verdict 'pass' (or synonyms), else all passed[] true." },
  apply = { "apply(rule, groups, opts) -> items, skipped", "Runs a rule by name or function." },
})

return M
