-- DSTC's minimax selection on hand-made pass matrices whose answers were worked out by hand
-- (in the comments), ties and infeasible cases included; then DSTC pairs end to end with
-- concatenation, its two ablations, and DSTC for KTO.
local T = require "lpo.testing"
local select = require "lpo.select"
local data = require "lpo.data"

local function rng(seed) return data.rng(seed, "test_minimax") end

T.case("four rules, no ties: constraints change the answer", function()
  --        t1 t2 t3 t4 t5    row
  local P = { { 1, 1, 1, 1, 0 },  -- c1 4  <- c+ (unique max)
              { 1, 1, 0, 0, 0 },  -- c2 2
              { 1, 0, 1, 0, 1 },  -- c3 3  <- c-: the only code failing t2 (c2/c4 have fewer passes but pass t2)
              { 1, 1, 0, 0, 0 } } -- c4 2
  -- col: t1 4 (nobody fails: not eligible for t-), t2 3, t3 2, t4 1, t5 1
  -- t+ = argmin col over {t1..t4} (c1 passes) = t4 (t5 has col 1 too, but c1 fails it)
  -- t- = argmax col over {t2..t5} = t2
  local r = select.minimax(P, 5, rng(1))
  T.eq(r.c_plus, 1, "c+"); T.eq(r.t_plus, 4, "t+"); T.eq(r.t_minus, 2, "t-"); T.eq(r.c_minus, 3, "c-")
  T.eq(next(r.ties), nil, "no ties")
  T.eq(r.row[3], 3, "row sum c3"); T.eq(r.col[2], 3, "col sum t2")
end)

T.case("a second matrix (all-failing code as c-)", function()
  local P = { { 1, 1, 0, 1 },   -- 3 <- c+
              { 1, 0, 0, 0 },   -- 1
              { 1, 1, 0, 0 },   -- 2
              { 0, 0, 0, 0 } }  -- 0
  -- col 3,2,0,1. t+ over {t1,t2,t4}: t4. t- over all (each has a 0): t1. c- failing t1: c4.
  local r = select.minimax(P, 4, rng(2))
  T.eq(r.c_plus, 1, "c+"); T.eq(r.t_plus, 4, "t+"); T.eq(r.t_minus, 1, "t-"); T.eq(r.c_minus, 4, "c-")
end)

T.case("ties in c+, t+ and t- are broken at random, recorded, and reproducible", function()
  local P = { { 1, 0, 1, 0 },   -- 2
              { 0, 1, 0, 1 },   -- 2
              { 0, 0, 0, 0 } }  -- 0
  -- c+ in {1,2}; t+ in the two tests c+ passes (all cols are 1); t- in {1,2,3,4}; c- = 3 always.
  local seen_c, seen_tm = {}, {}
  for seed = 1, 200 do
    local r = select.minimax(P, 4, rng(seed))
    T.truthy(r.c_plus == 1 or r.c_plus == 2, "c+ in the tie")
    T.eq(#r.ties.chosen_code.candidates, 2, "c+ candidates")
    T.eq(r.ties.chosen_code.picked, r.c_plus, "c+ recorded")
    T.eq(P[r.c_plus][r.t_plus], 1, "c+ passes t+")
    T.eq(#r.ties.chosen_test.candidates, 2, "t+ candidates")
    T.eq(#r.ties.rejected_test.candidates, 4, "t- candidates")
    T.eq(r.c_minus, 3, "c- is the all-failing code")
    T.eq(r.ties.rejected_code, nil, "c- had no tie")
    seen_c[r.c_plus] = (seen_c[r.c_plus] or 0) + 1
    seen_tm[r.t_minus] = (seen_tm[r.t_minus] or 0) + 1
    local again = select.minimax(P, 4, rng(seed))
    T.eq(again.c_plus, r.c_plus, "same seed same c+"); T.eq(again.t_plus, r.t_plus, "same t+"); T.eq(again.t_minus, r.t_minus, "same t-")
  end
  -- a fair coin over 200 draws lands in [70, 130] with probability > 0.9999
  T.truthy(seen_c[1] >= 70 and seen_c[1] <= 130, "c+ tie roughly uniform: " .. tostring(seen_c[1]))
  for j = 1, 4 do T.truthy((seen_tm[j] or 0) >= 25, "t- candidate " .. j .. " drawn") end
end)

T.case("ties in t- and in c-", function()
  -- rows 3,1,1; cols 2,2,1. c+ = 1, t+ = t3. t- tie {t1, t2}: t1 -> c- = c3, t2 -> c- = c2.
  local P = { { 1, 1, 1 }, { 1, 0, 0 }, { 0, 1, 0 } }
  local got = {}
  for seed = 1, 60 do
    local r = select.minimax(P, 3, rng(seed))
    T.eq(r.c_plus, 1, "c+"); T.eq(r.t_plus, 3, "t+")
    T.eq(r.c_minus, r.t_minus == 1 and 3 or 2, "c- follows t-")
    got[r.t_minus] = true
  end
  T.truthy(got[1] and got[2], "both t- drawn")
  -- c- tie: rows 2,1,1, cols 3,1. t+ = t2; t- = t2 (t1 passed by all); c- in {2,3}.
  local Q = { { 1, 1 }, { 1, 0 }, { 1, 0 } }
  local cm = {}
  for seed = 1, 60 do
    local r = select.minimax(Q, 2, rng(seed))
    T.eq(r.t_plus, 2, "t+"); T.eq(r.t_minus, 2, "t-")
    T.eq(r.ties.rejected_code.candidates[1], 2, "c- candidates"); T.eq(r.ties.rejected_code.candidates[2], 3, "c- candidates")
    cm[r.c_minus] = true
  end
  T.truthy(cm[2] and cm[3], "both c- drawn")
end)

T.case("infeasible cases say why", function()
  local r = select.minimax({ { 0, 0 }, { 0, 0 } }, 2, rng(1))
  T.eq(r.t_plus, nil, "no t+"); T.truthy(r.chosen_reason:find("passes none"), "reason: " .. tostring(r.chosen_reason))
  local s = select.minimax({ { 1, 1 }, { true, true } }, 2, rng(1))
  T.eq(s.t_minus, nil, "no t-"); T.eq(s.c_minus, nil, "no c-"); T.eq(s.rejected_reason, "every code passes every test", "reason")
  T.eq(s.c_plus ~= nil and s.t_plus ~= nil, true, "chosen side still exists")
  T.eq(select.minimax({}, 3, rng(1)).chosen_reason, "no codes", "no codes")
  T.eq(select.minimax({ {}, {} }, 0, rng(1)).rejected_reason, "no tests", "no tests")
end)

T.case("without minimax: random codes and tests under the baseline's constraints", function()
  local P = { { 1, 1, 1, 1, 0 }, { 1, 1, 0, 0, 0 }, { 1, 0, 1, 0, 1 }, { 1, 1, 0, 0, 0 } }
  local cms, tps = {}, {}
  for seed = 1, 120 do
    local r = select.minimax(P, 5, rng(seed), { minimax = false })
    T.eq(r.c_plus, 1, "c+ passes the most")
    T.eq(P[1][r.t_plus], 1, "t+ passed by c+")
    T.truthy(r.c_minus ~= 1, "c- passes fewer than c+")
    T.eq(P[r.c_minus][r.t_minus], 0, "c- fails t-")
    cms[r.c_minus] = true; tps[r.t_plus] = true
  end
  T.truthy(cms[2] and cms[3] and cms[4], "every weaker code can be c-")
  T.truthy(tps[1] and tps[2] and tps[3] and tps[4], "every test c+ passes can be t+ (not only the hardest)")
  local r = select.minimax({ { 1, 0 }, { 0, 1 } }, 2, rng(1), { minimax = false })
  T.eq(r.rejected_reason, "no code passes fewer tests than the chosen code", "baseline infeasible")
end)

-- DSTC end to end -------------------------------------------------------------------------
local function resp(reason, code, expl, tests)
  return data.format_sections { reasoning = reason, implementation = code, explanation = expl, tests = tests }
end

local samples = {
  { problem_id = "p", sample_id = 1, completion = resp("Add one.", "def f(x):\n    return x + 1", "Adds one.", { "assert f(1) == 2", "assert f(2) == 3" }) },
  { problem_id = "p", sample_id = 2, completion = resp("Double.", "def f(x):\n    return 2 * x", "Doubles.", { "assert f(1) == 2" }) },
  { problem_id = "p", sample_id = 3, completion = resp("Zero.", "def f(x):\n    return 0", "Zero.", { "assert f(0) == 1" }) },
}

T.case("dstc_tests pools one block per sample, merging duplicates", function()
  local t = select.dstc_tests(samples)
  T.eq(#t, 3, "three blocks"); T.eq(t[1].text, "assert f(1) == 2\nassert f(2) == 3", "block text"); T.eq(t[2].from[1], 2, "from")
  local a = select.dstc_tests(samples, { unit = "assert" })
  -- asserts: f(1)==2 (samples 1 and 2), f(2)==3, f(0)==1
  T.eq(#a, 3, "distinct asserts"); T.eq(#a[1].from, 2, "merged"); T.eq(a[3].text, "assert f(0) == 1", "third")
end)

T.case("dstc pairs: chosen = c+ with t+, rejected = c- with t-, four-part format", function()
  -- tests t1 = {f(1)==2, f(2)==3}, t2 = {f(1)==2}, t3 = {f(0)==1}
  -- c1 (x+1): t1 1, t2 1, t3 1   row 3
  -- c2 (2x):  t1 0, t2 1, t3 0   row 1
  -- c3 (0):   t1 0, t2 0, t3 0   row 0
  -- col: 1, 2, 1. c+ = c1; t+ = argmin{1,2,1} over all -> tie {t1, t3}; t- = argmax over cols
  -- with a 0 (all) -> t2; c- = argmin row among codes failing t2 -> c3.
  local rows = { { 1, 1, 1 }, { 0, 1, 0 }, { 0, 0, 0 } }
  local s = {}
  for i, x in ipairs(samples) do s[i] = { problem_id = "p", sample_id = x.sample_id, completion = x.completion, passed = rows[i], prompt = "Write f." } end
  local pairs_, skipped = select.dstc(s, { seed = 7 })
  T.eq(#pairs_, 1, "one pair"); T.eq(#skipped, 0, "no skip")
  local p = pairs_[1]
  T.eq(p.meta.rule, "dstc", "rule"); T.eq(p.meta.chosen_sample, 1, "c+"); T.eq(p.meta.rejected_sample, 3, "c-")
  T.eq(p.meta.rejected_test, 2, "t-"); T.truthy(p.meta.chosen_test == 1 or p.meta.chosen_test == 3, "t+ in tie")
  T.eq(#p.meta.ties.chosen_test.candidates, 2, "t+ tie recorded"); T.eq(p.meta.seed, 7, "seed recorded")
  T.eq(p.meta.scores.chosen_code_passes, 3, "score"); T.eq(p.meta.scores.rejected_test_passed_by, 2, "score")
  local tplus = p.meta.chosen_test == 1 and "assert f(1) == 2\nassert f(2) == 3" or "assert f(0) == 1"
  local want_c = "[Reasoning]\nAdd one.\n\n[Implementation]\n```python\ndef f(x):\n    return x + 1\n```\n\n[Explanation]\nAdds one.\n\n[Tests]\n```python\n" .. tplus .. "\n```\n"
  T.eq(p.chosen, want_c, "chosen text")
  local want_r = "[Reasoning]\nZero.\n\n[Implementation]\n```python\ndef f(x):\n    return 0\n```\n\n[Explanation]\nZero.\n\n[Tests]\n```python\nassert f(1) == 2\n```\n"
  T.eq(p.rejected, want_r, "rejected text")
  T.eq(p.prompt, "Write f.", "prompt")
  -- the same seed gives the same pair; without concatenation the [Tests] part goes
  local again = select.dstc(s, { seed = 7 })[1]
  T.eq(again.chosen, p.chosen, "reproducible")
  local nc = select.dstc(s, { seed = 7, concat = false })[1]
  T.eq(nc.chosen, "[Reasoning]\nAdd one.\n\n[Implementation]\n```python\ndef f(x):\n    return x + 1\n```\n\n[Explanation]\nAdds one.\n", "code only")
  T.eq(nc.meta.concat, false, "ablation recorded")
  local nm = select.dstc(s, { seed = 7, minimax = false })[1]
  T.eq(nm.meta.rule, "dstc_no_minimax", "baseline rule"); T.eq(nm.meta.chosen_sample, 1, "baseline c+")
end)

T.case("dstc skips infeasible problems and identical code-only pairs", function()
  local mk = function(pid, rows)
    local s = {}
    for i, r in ipairs(rows) do s[i] = { problem_id = pid, sample_id = i, completion = samples[i].completion, passed = r, prompt = "x" } end
    return s
  end
  local all = {}
  for _, s in ipairs(mk("ones", { { 1, 1, 1 }, { 1, 1, 1 }, { 1, 1, 1 } })) do all[#all + 1] = s end
  for _, s in ipairs(mk("zeros", { { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } })) do all[#all + 1] = s end
  local pairs_, skipped = select.dstc(all, { seed = 1 })
  T.eq(#pairs_, 0, "no pairs")
  T.eq(skipped[1].problem_id, "ones", "order"); T.eq(skipped[1].reason, "every code passes every test", "all ones")
  T.truthy(skipped[2].reason:find("passes none"), "all zeros")
  -- one code passing t1 but failing t2, t3: c+ = c- = that code; fine concatenated, identical code-only
  local one = { { problem_id = "q", sample_id = 1, completion = samples[1].completion, passed = { 1, 0, 0 }, prompt = "x" } }
  local g = { { problem_id = "q", prompt = "x", samples = one, tests = { "assert f(1) == 2", "assert f(2) == 4", "assert f(0) == 1" } } }
  local cat = select.dstc(g, { seed = 1 })
  T.eq(#cat, 1, "concatenated pair exists"); T.eq(cat[1].meta.chosen_sample, cat[1].meta.rejected_sample, "same code")
  local code, sk = select.dstc(g, { seed = 1, concat = false })
  T.eq(#code, 0, "code-only skipped"); T.truthy(sk[1].reason:find("identical"), "reason")
  T.raises(function() select.dstc({ { problem_id = "r", sample_id = 1, completion = "x", passed = { 1, 0 }, prompt = "x", tests = { "assert 1" } } }) end,
    "sample 1: passed[] has 2 entries, expected 1")
end)

T.case("dstc_kto keeps a chosen response even without a rejected one", function()
  local s = {}
  for i = 1, 3 do s[i] = { problem_id = "k", sample_id = i, completion = samples[i].completion, passed = { 1, 1, 1 }, prompt = "x" } end
  local ex, skipped = select.dstc_kto(s, { seed = 3 })
  T.eq(#ex, 1, "only desirable"); T.eq(ex[1].label, true, "label"); T.eq(#skipped, 0, "not skipped")
  local rows = { { 1, 1, 1 }, { 0, 1, 0 }, { 0, 0, 0 } }
  for i = 1, 3 do s[i].passed = rows[i] end
  ex = select.dstc_kto(s, { seed = 3 })
  T.eq(#ex, 2, "both"); T.eq(ex[2].label, false, "undesirable"); T.eq(ex[2].meta.sample, 3, "c-")
end)

T.done()
