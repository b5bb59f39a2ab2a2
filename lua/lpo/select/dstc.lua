-- lpo.select.dstc — DSTC (PAPERS.md, paper 2): preference pairs from self-generated code
-- and tests. Pools the samples' tests into t_1..t_m, applies the four minimax rules to the
-- code x test pass matrix (seeded random tie breaks, recorded), and concatenates code and
-- test into the four-part response. Adds its functions to lpo.select.
local data = require "lpo.data"
local errors = require "lpo.errors"
local M = require "lpo.select"
local h = M._h
local truthy_cell, as_groups, stream, sorted_copy, text_of, skip =
  h.truthy_cell, h.as_groups, h.stream, h.sorted_copy, h.text_of, h.skip

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

return M
