-- Pair selection rules on hand-made results with known answers: paper 1's random pair, all
-- pairs, best vs worst (fraction and CodeRL scores), KTO, grouping, pair quality, and the
-- promise that a problem's choice does not depend on other problems or on sample order.
local T = require "lpo.testing"
local select = require "lpo.select"
local json = require "lpo.json"

-- Problem p1: samples 1..5, samples 2 and 4 pass.
local function p1(order)
  local v = { "fail", "pass", "runtime_error", "pass", "syntax_error" }
  local passed = { { true, false }, { true, true }, { false, false }, { true, true }, {} }
  local out = {}
  for _, i in ipairs(order or { 1, 2, 3, 4, 5 }) do
    out[#out + 1] = { problem_id = "p1", sample_id = i, completion = "c" .. i, verdict = v[i], passed = passed[i], prompt = "P1" }
  end
  return out
end

local function concat(...)
  local out = {}
  for _, l in ipairs({ ... }) do for _, x in ipairs(l) do out[#out + 1] = x end end
  return out
end

T.case("passed() and scores", function()
  T.eq(select.passed({ verdict = "pass" }), true, "pass verdict")
  T.eq(select.passed({ verdict = "fail", passed = { true } }), false, "verdict wins")
  T.eq(select.passed({ passed = { 1, 1 } }), true, "no verdict: all passed")
  T.eq(select.passed({ passed = {} }), false, "no tests is not a pass")
  T.eq(select.scores.fraction({ passed = { true, false, 1, 0 } }), 0.5, "fraction")
  T.eq(select.scores.coderl({ verdict = "runtime_error" }), -0.6, "coderl runtime")
  T.eq(select.scores.coderl({ verdict = "syntax_error" }), -1, "coderl syntax")
  T.eq(select.scores.coderl({ verdict = "timeout" }), -0.6, "coderl timeout")
  T.raises(function() select.scores.coderl({ verdict = "weird" }) end, "unknown verdict 'weird'")
end)

T.case("random_pair: one passing vs one failing, uniform, recorded", function()
  local pairs_, skipped = select.random_pair(p1(), { seed = 5 })
  T.eq(#pairs_, 1, "one pair"); T.eq(#skipped, 0, "none skipped")
  local m = pairs_[1].meta
  T.truthy(m.chosen_sample == 2 or m.chosen_sample == 4, "chosen passes")
  T.truthy(m.rejected_sample == 1 or m.rejected_sample == 3 or m.rejected_sample == 5, "rejected fails")
  T.eq(pairs_[1].chosen, "c" .. m.chosen_sample, "chosen text"); T.eq(pairs_[1].prompt, "P1", "prompt")
  T.eq(m.rule, "random_pair", "rule"); T.eq(m.seed, 5, "seed"); T.eq(m.candidates.chosen, 2, "2 chosen candidates")
  T.eq(m.candidates.rejected, 3, "3 rejected candidates"); T.eq(m.scores.chosen, 1, "chosen score")
  local counts = {}
  for seed = 1, 300 do
    local p = select.random_pair(p1(), { seed = seed })[1]
    local k = p.meta.chosen_sample .. "/" .. p.meta.rejected_sample
    counts[k] = (counts[k] or 0) + 1
  end
  local n = 0
  for k, c in pairs(counts) do
    n = n + 1
    T.truthy(c >= 20 and c <= 85, "pair " .. k .. " drawn " .. c .. " times of 300 (expected 50)")
  end
  T.eq(n, 6, "all six combinations occur")
  -- JSON-encodable, as pairs.jsonl needs
  T.truthy(json.encode(pairs_[1]):find('"rule":"random_pair"', 1, true), "json")
end)

T.case("choice for a problem ignores other problems and sample order", function()
  local other = {}
  for i = 1, 4 do other[i] = { problem_id = "p0", sample_id = i, completion = "o", verdict = i % 2 == 0 and "pass" or "fail", prompt = "P0" } end
  for seed = 1, 30 do
    local alone = select.random_pair(p1(), { seed = seed })[1].meta
    local mixed = select.random_pair(concat(other, p1({ 5, 3, 1, 4, 2 })), { seed = seed })
    T.eq(mixed[2].meta.problem_id, "p1", "order of problems kept")
    T.eq(mixed[2].meta.chosen_sample, alone.chosen_sample, "same chosen")
    T.eq(mixed[2].meta.rejected_sample, alone.rejected_sample, "same rejected")
  end
  -- the round is part of the key
  local differ = false
  for seed = 1, 20 do
    local a = select.random_pair(p1(), { seed = seed, round = 1 })[1].meta
    local b = select.random_pair(p1(), { seed = seed, round = 2 })[1].meta
    if a.chosen_sample ~= b.chosen_sample or a.rejected_sample ~= b.rejected_sample then differ = true end
  end
  T.truthy(differ, "rounds use different streams")
end)

T.case("random_pair skips problems without both kinds", function()
  local s = {
    { problem_id = "a", sample_id = 1, completion = "x", verdict = "pass", prompt = "A" },
    { problem_id = "b", sample_id = 1, completion = "x", verdict = "fail", prompt = "B" },
  }
  local pairs_, skipped = select.random_pair(s)
  T.eq(#pairs_, 0, "no pairs")
  T.eq(skipped[1].reason, "no failing sample", "a"); T.eq(skipped[2].reason, "no passing sample", "b")
  T.eq(skipped[1].rule, "random_pair", "rule named")
end)

T.case("all_pairs: every passing x failing combination, capped subset", function()
  local pairs_ = select.all_pairs(p1())
  local want = { "2/1", "2/3", "2/5", "4/1", "4/3", "4/5" }
  T.eq(#pairs_, 6, "2 x 3")
  for i, w in ipairs(want) do T.eq(pairs_[i].meta.chosen_sample .. "/" .. pairs_[i].meta.rejected_sample, w, "pair " .. i) end
  local capped = select.all_pairs(p1(), { max_per_problem = 4, seed = 9 })
  T.eq(#capped, 4, "capped")
  local seen = {}
  for _, p in ipairs(capped) do
    local k = p.meta.chosen_sample .. "/" .. p.meta.rejected_sample
    T.truthy(not seen[k], "distinct"); seen[k] = true
    T.eq(p.meta.candidates.pairs, 6, "total recorded")
  end
end)

T.case("best_worst by fraction and by CodeRL reward", function()
  -- fractions: s1 1/2, s2 1, s3 0, s4 1, s5 0 (syntax error) -> best {2,4}, worst {3,5}
  -- CodeRL: fail -0.3, pass 1, runtime -0.6, pass 1, syntax -1 -> best {2,4}, worst 5 (unique)
  for seed = 1, 40 do
    local f = select.best_worst(p1(), { seed = seed })[1].meta
    T.truthy(f.chosen_sample == 2 or f.chosen_sample == 4, "fraction best")
    T.truthy(f.rejected_sample == 3 or f.rejected_sample == 5, "fraction worst")
    T.eq(f.scores.chosen, 1, "best score"); T.eq(f.scores.rejected, 0, "worst score")
    T.eq(f.candidates.rejected, 2, "worst tie size")
    local c = select.best_worst(p1(), { seed = seed, score = "coderl" })[1].meta
    T.eq(c.rejected_sample, 5, "coderl worst is the syntax error")
    T.eq(c.scores.rejected, -1, "coderl worst score"); T.eq(c.score, "coderl", "score named")
  end
  -- a custom score: completion length; best/worst unique
  local s = p1()
  s[3].completion = "a much longer text"
  local p = select.best_worst(s, { score = function(x) return #x.completion end })[1]
  T.eq(p.meta.chosen_sample, 3, "custom best"); T.eq(p.meta.score, "custom", "custom named")
end)

T.case("best_worst skips equal scores and honours require_pass / min_margin", function()
  local s = { { problem_id = "e", sample_id = 1, completion = "a", passed = { true, false }, prompt = "E" },
              { problem_id = "e", sample_id = 2, completion = "b", passed = { false, true }, prompt = "E" } }
  local pairs_, skipped = select.best_worst(s)
  T.eq(#pairs_, 0, "equal scores"); T.truthy(skipped[1].reason:find("differ by 0"), skipped[1].reason)
  s[2].passed = { false, false }
  T.eq(#select.best_worst(s), 1, "now differs")
  local _, sk = select.best_worst(s, { require_pass = true })
  T.eq(sk[1].reason, "best sample does not pass (require_pass)", "require_pass")
  T.eq(#select.best_worst(s, { min_margin = 0.5 }), 0, "margin 0.5 not exceeded")
end)

T.case("kto: one example per sample, dedupe and caps", function()
  local ex = select.kto(p1())
  T.eq(#ex, 5, "all samples")
  local labels = {}
  for i, e in ipairs(ex) do labels[i] = tostring(e.label) end
  T.eq(table.concat(labels, ","), "false,true,false,true,false", "labels in sample order")
  T.eq(ex[2].completion, "c2", "completion"); T.eq(ex[2].meta.rule, "kto", "rule")
  local s = p1()
  s[4].completion = "c2"   -- duplicate of sample 2
  T.eq(#select.kto(s, { dedupe = true }), 4, "dedupe")
  local capped = select.kto(p1(), { max_undesirable = 1, seed = 2 })
  local bad = 0
  for _, e in ipairs(capped) do if not e.label then bad = bad + 1 end end
  T.eq(#capped, 3, "2 good + 1 bad"); T.eq(bad, 1, "cap")
end)

T.case("group joins samples with results and finds prompts", function()
  local samples = { { problem_id = "x", sample_id = 2, completion = "b" }, { problem_id = "x", sample_id = 1, completion = "a" },
                    { problem_id = "y", sample_id = 1, completion = "c" } }
  local results = { { problem_id = "x", sample_id = 1, verdict = "pass", passed = { true } },
                    { problem_id = "x", sample_id = 2, verdict = "fail", passed = { false } },
                    { problem_id = "y", sample_id = 1, verdict = "pass", passed = { true } } }
  local g = select.group(samples, results, { problems = { { id = "x", prompt = "PX" }, { id = "y", prompt = "PY" } } })
  T.eq(#g, 2, "two problems"); T.eq(g[1].prompt, "PX", "prompt"); T.eq(g[1].samples[1].sample_id, 1, "sorted")
  T.eq(g[1].samples[1].verdict, "pass", "joined")
  local p = select.random_pair(g)
  T.eq(#p, 1, "pair from groups"); T.eq(p[1].chosen, "a", "chosen"); T.eq(p[1].rejected, "b", "rejected")
  local g2 = select.group(samples, results, { problems = { { id = "x", prompt = "PX" }, { id = "y", prompt = "PY" } },
                                              prompt = function(pr) return "<" .. pr.prompt .. ">" end })
  T.eq(g2[2].prompt, "<PY>", "prompt function")
  T.raises(function() select.group(samples, { results[1] }, { problems = {} }) end, "no result for problem x sample 2")
  T.raises(function() select.group(samples, results) end, "no prompt for problem x")
end)

T.case("pair_quality against ground truth", function()
  -- truth: chosen/rejected correct per pair: (T,F) (T,F) (T,T) (F,F) (F,T) and one unknown
  -- -> chosen 3/5 = 60%, rejected 2/5 = 40%, same verdict 2/5 = 40%, 1 missing
  local truth = { p = { [1] = true, [2] = false, [3] = true, [4] = false, [5] = true, [6] = false } }
  local function pair(c, r) return { meta = { problem_id = "p", chosen_sample = c, rejected_sample = r } } end
  local pairs_ = { pair(1, 2), pair(3, 4), pair(1, 3), pair(2, 4), pair(6, 5), pair(1, 99) }
  local q = select.pair_quality(pairs_, truth)
  T.eq(q.pairs, 5, "counted"); T.eq(q.missing, 1, "missing")
  T.close(q.chosen_correct, 60, 1e-12, 0, "chosen"); T.close(q.rejected_correct, 40, 1e-12, 0, "rejected")
  T.close(q.same_verdict, 40, 1e-12, 0, "same")
  -- truth as a list of results (string sample ids match numeric ones)
  local q2 = select.pair_quality(pairs_, { { problem_id = "p", sample_id = "1", verdict = "pass" }, { problem_id = "p", sample_id = 2, verdict = "fail" } })
  T.eq(q2.pairs, 1, "only pair(1,2) known"); T.close(q2.chosen_correct, 100, 0, 0, "chosen")
  T.eq(select.pair_quality({}, truth).chosen_correct, nil, "no pairs: no percentage")
end)

T.case("apply by name", function()
  T.eq(#select.apply("random_pair", p1(), { seed = 1 }), 1, "by name")
  T.raises(function() select.apply("nope", p1()) end, "unknown rule 'nope'")
end)

T.done()
