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

-- DSTC -------------------------------------------------------------------------------------
--- The pooled tests t_1..t_m of one problem for DSTC, from the samples' [Tests] sections
--- (data.extract_tests): opts.unit = "block" (default: one test = one sample's asserts
--- together) or "assert" (one test per assert). Identical tests are merged; each is
--- { text, asserts, from = {sample_id...} }, in sample order. The collector runs every code
--- against every test in this order, and sample.passed[j] is P[i][j].
function M.dstc_tests(samples, opts)
  opts = opts or {}
  local unit = opts.unit or "block"
  if unit ~= "block" and unit ~= "assert" then errors.raise("select.dstc_tests", "unit must be 'block' or 'assert'") end
  local tests, index = {}, {}
  local function add(asserts, sid)
    local text = table.concat(asserts, "\n")
    local t = index[text]
    if not t then
      t = { text = text, asserts = asserts, from = {} }
      index[text] = t
      tests[#tests + 1] = t
    end
    t.from[#t.from + 1] = sid
  end
  for _, s in ipairs(sorted_copy(samples)) do
    local asserts = s.tests or data.extract_tests(text_of(s))
    if #asserts > 0 then
      if unit == "block" then add(asserts, s.sample_id)
      else for _, a in ipairs(asserts) do add({ a }, s.sample_id) end end
    end
  end
  return tests
end

local function sums(P, n, m)
  local row, col = {}, {}
  for j = 1, m do col[j] = 0 end
  for i = 1, n do
    row[i] = 0
    for j = 1, m do
      if P[i][j] then row[i] = row[i] + 1; col[j] = col[j] + 1 end
    end
  end
  return row, col
end

-- argmax/argmin of vals over the indices where ok(k) holds; all tied indices.
local function arg_ext(vals, count, ok, hi)
  local best, cands = nil, {}
  for k = 1, count do
    if ok(k) then
      local v = vals[k]
      if best == nil or (hi and v > best) or (not hi and v < best) then best, cands = v, { k }
      elseif v == best then cands[#cands + 1] = k end
    end
  end
  return cands, best
end

local function choose(rng, cands, ties, name)
  if #cands == 0 then return nil end
  local pick = cands[1]
  if #cands > 1 then
    pick = rng:pick(cands)
    local copy = {}
    for i, c in ipairs(cands) do copy[i] = c end
    ties[name] = { candidates = copy, picked = pick }
  end
  return pick
end

--- DSTC's minimax selection on an n x m pass matrix P (P[i][j] true/1 = code i passes
--- test j), with seeded random tie breaks:
---   c+ = argmax_i Σ_j P[i][j]
---   t+ = argmin_j Σ_i P[i][j]  s.t. P[c+][j] = 1
---   t- = argmax_j Σ_i P[i][j]  s.t. some i has P[i][j] = 0
---   c- = argmin_i Σ_j P[i][j]  s.t. P[i][t-] = 0
--- Returns { c_plus, t_plus, t_minus, c_minus (indices, nil when infeasible), row, col
--- (sums), ties = { name = {candidates, picked} }, chosen_reason, rejected_reason (why a side
--- is infeasible) }. opts.minimax = false is the "without minimax" baseline: c+ random among
--- the codes passing the most tests, t+ random among tests c+ passes, c- random among codes
--- passing fewer tests than c+, t- random among tests c- fails.
function M.minimax(P, m, rng, opts)
  opts = opts or {}
  local n = #P
  local B = {}
  for i = 1, n do
    B[i] = {}
    for j = 1, m do B[i][j] = truthy_cell(P[i][j]) end
  end
  local row, col = sums(B, n, m)
  local res = { row = row, col = col, ties = {}, n = n, m = m }
  if n == 0 then res.chosen_reason, res.rejected_reason = "no codes", "no codes"; return res end
  if m == 0 then res.chosen_reason, res.rejected_reason = "no tests", "no tests"; return res end
  local all = function() return true end
  local cp = choose(rng, (arg_ext(row, n, all, true)), res.ties, "chosen_code")
  res.c_plus = cp
  if opts.minimax == false then
    if row[cp] == 0 then res.chosen_reason = "no code passes any test"
    else
      local passed = {}
      for j = 1, m do if B[cp][j] then passed[#passed + 1] = j end end
      res.t_plus = choose(rng, passed, res.ties, "chosen_test_any")
    end
    -- Every code passing fewer tests than c+ is a candidate, whatever its count.
    local worse = {}
    for i = 1, n do if row[i] < row[cp] then worse[#worse + 1] = i end end
    if #worse == 0 then res.rejected_reason = "no code passes fewer tests than the chosen code"
    else
      local cm = choose(rng, worse, res.ties, "rejected_code_any")
      res.c_minus = cm
      local failed = {}
      for j = 1, m do if not B[cm][j] then failed[#failed + 1] = j end end
      res.t_minus = choose(rng, failed, res.ties, "rejected_test_any")
    end
    return res
  end
  if row[cp] == 0 then res.chosen_reason = "the code passing the most tests passes none"
  else
    res.t_plus = choose(rng, (arg_ext(col, m, function(j) return B[cp][j] end, false)), res.ties, "chosen_test")
  end
  local tm = choose(rng, (arg_ext(col, m, function(j) return col[j] < n end, true)), res.ties, "rejected_test")
  if not tm then res.rejected_reason = "every code passes every test"
  else
    res.t_minus = tm
    res.c_minus = choose(rng, (arg_ext(row, n, function(i) return not B[i][tm] end, false)), res.ties, "rejected_code")
  end
  return res
end

-- The pass matrix of a DSTC group: rows = samples (sorted), columns = tests.
local function group_matrix(g, tests)
  local codes = sorted_copy(g.samples)
  local P = {}
  for i, s in ipairs(codes) do
    local p = s.passed
    if type(p) ~= "table" or #p ~= #tests then
      errors.raise("select.dstc", "problem %s sample %s: passed[] has %s entries, expected %d (one per pooled test)",
        tostring(g.problem_id), tostring(s.sample_id), type(p) == "table" and tostring(#p) or "no", #tests)
    end
    P[i] = p
  end
  return codes, P
end

local function test_text(t) return type(t) == "table" and t.text or t end

local function response(s, test, concat, entry_point)
  local secs = data.parse_sections(text_of(s)) or {}
  local code = s.code or data.extract_code(text_of(s), { entry_point = entry_point })
  return data.format_sections { reasoning = secs.reasoning, implementation = code,
                                explanation = secs.explanation, tests = concat and test_text(test) or nil }
end

local function rows_of(res, codes, tests)
  local ids = {}
  for i, s in ipairs(codes) do ids[i] = s.sample_id end
  local ties = {}
  for name, t in pairs(res.ties) do
    local is_test = name:match("test") ~= nil
    local c = {}
    for i, k in ipairs(t.candidates) do c[i] = is_test and k or ids[k] end
    ties[name] = { candidates = c, picked = is_test and t.picked or ids[t.picked] }
  end
  return ties
end

local function dstc_groups(input, opts)
  local out = {}
  for _, g in ipairs(as_groups(input, opts)) do
    local tests = g.tests or M.dstc_tests(g.samples, opts)
    out[#out + 1] = { g = g, tests = tests }
  end
  return out
end

local function dstc_meta(rule, g, res, codes, tests, opts)
  local function sid(i) return i and codes[i].sample_id or nil end
  local function from(j) return j and type(tests[j]) == "table" and tests[j].from or nil end
  return { rule = rule, problem_id = g.problem_id, seed = opts.seed or 0, round = opts.round,
           concat = opts.concat ~= false, minimax = opts.minimax ~= false,
           chosen_sample = sid(res.c_plus), rejected_sample = sid(res.c_minus),
           chosen_test = res.t_plus, rejected_test = res.t_minus,
           chosen_test_from = from(res.t_plus), rejected_test_from = from(res.t_minus),
           scores = { chosen_code_passes = res.c_plus and res.row[res.c_plus], rejected_code_passes = res.c_minus and res.row[res.c_minus],
                      chosen_test_passed_by = res.t_plus and res.col[res.t_plus], rejected_test_passed_by = res.t_minus and res.col[res.t_minus],
                      n_codes = res.n, n_tests = res.m },
           ties = next(res.ties) and rows_of(res, codes, tests) or nil }
end

--- DSTC pairs: per problem, minimax selection (select.minimax) over the code x test matrix,
--- chosen = c+ followed by t+, rejected = c- followed by t-, each in the four-part format
--- (the sample's own [Reasoning]/[Explanation], its code as [Implementation], the test as
--- [Tests]). A group may carry `tests` (pooled tests, strings or {text}); otherwise they are
--- pooled with select.dstc_tests(samples, opts) and sample.passed[j] must follow that order.
--- opts: seed, round, concat (default true; false = "without concatenation": code only, no
--- [Tests]), minimax (default true; false = the "without minimax" baseline), unit.
--- Infeasible problems are skipped with the reason; so are pairs whose two texts coincide.
function M.dstc(input, opts)
  opts = opts or {}
  local rule = opts.minimax == false and "dstc_no_minimax" or "dstc"
  local concat = opts.concat ~= false
  local pairs_, skipped = {}, {}
  for _, e in ipairs(dstc_groups(input, opts)) do
    local g, tests = e.g, e.tests
    local codes, P = group_matrix(g, tests)
    local res = M.minimax(P, #tests, stream(opts, rule, g.problem_id), opts)
    local reason = res.chosen_reason or res.rejected_reason
    if reason then skip(skipped, g, rule, reason)
    else
      local ep = g.problem and g.problem.entry_point or opts.entry_point
      local chosen = response(codes[res.c_plus], tests[res.t_plus], concat, ep)
      local rejected = response(codes[res.c_minus], tests[res.t_minus], concat, ep)
      if chosen == rejected then
        skip(skipped, g, rule, "chosen and rejected responses are identical (same code, no tests)")
      else
        pairs_[#pairs_ + 1] = { prompt = g.prompt, chosen = chosen, rejected = rejected,
                                meta = dstc_meta(rule, g, res, codes, tests, opts) }
      end
    end
  end
  return pairs_, skipped
end

--- DSTC for KTO: the chosen response (c+ with t+) as a desirable example whenever it exists,
--- and the rejected one (c- with t-) as undesirable when it exists (KTO tolerates unbalanced
--- counts). Same options as select.dstc.
function M.dstc_kto(input, opts)
  opts = opts or {}
  local rule = opts.minimax == false and "dstc_no_minimax" or "dstc"
  local concat = opts.concat ~= false
  local out, skipped = {}, {}
  for _, e in ipairs(dstc_groups(input, opts)) do
    local g, tests = e.g, e.tests
    local codes, P = group_matrix(g, tests)
    local res = M.minimax(P, #tests, stream(opts, rule, g.problem_id), opts)
    local ep = g.problem and g.problem.entry_point or opts.entry_point
    local meta = dstc_meta(rule .. "_kto", g, res, codes, tests, opts)
    if res.chosen_reason then skip(skipped, g, rule .. "_kto", res.chosen_reason)
    else
      local m = {}
      for k, v in pairs(meta) do m[k] = v end
      m.sample, m.test = m.chosen_sample, m.chosen_test
      out[#out + 1] = { prompt = g.prompt, completion = response(codes[res.c_plus], tests[res.t_plus], concat, ep), label = true, meta = m }
      if res.c_minus then
        local m2 = {}
        for k, v in pairs(meta) do m2[k] = v end
        m2.sample, m2.test = m2.rejected_sample, m2.rejected_test
        out[#out + 1] = { prompt = g.prompt, completion = response(codes[res.c_minus], tests[res.t_minus], concat, ep), label = false, meta = m2 }
      end
    end
  end
  return out, skipped
end

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
