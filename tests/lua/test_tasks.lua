-- The embedded benchmark: deterministic per seed, disjoint splits (no shared text, key, id
-- or function name), sizes fit a tiny model, balanced selection, prompts/demonstrations
-- that our own extractors read back, bug rates as configured — and every reference solution
-- passes its own tests in python3 (one process per split, until the sandbox lands), while
-- every buggy test fails against the reference.
local T = require "lpo.testing"
local tasks = require "lpo.tasks"
local data = require "lpo.data"
local json = require "lpo.json"
local U = require "lpo.tasks.util"

local PY = "/usr/bin/python3"

T.case("deterministic per seed; seed changes order, not problems", function()
  local a = tasks.generate { seed = 1, split = "train", n = 300 }
  local b = tasks.generate { seed = 1, split = "train", n = 300 }
  T.eq(json.encode(a), json.encode(b), "same seed, same problems")
  local c = tasks.generate { seed = 2, split = "train", n = 300 }
  T.truthy(json.encode(a) ~= json.encode(c), "another seed, another selection")
  -- a problem is the same object whichever seed selected it
  local by_id = {}
  for _, p in ipairs(tasks.generate { seed = 3, split = "test" }) do by_id[p.id] = json.encode(p) end
  for _, p in ipairs(tasks.generate { seed = 4, split = "test", n = 50 }) do T.eq(json.encode(p), by_id[p.id], p.id .. " independent of seed") end
  T.eq(#tasks.generate { seed = 9, split = "test" }, #tasks.generate { seed = 1, split = "test" }, "split size independent of seed")
end)

T.case("train, valid and test share no problem text, key, id or function", function()
  local seen = { instruction = {}, key = {}, id = {}, entry_point = {} }
  local sizes = {}
  for i, split in ipairs({ "train", "valid", "test" }) do
    local ps = tasks.generate { seed = i, split = split }   -- a different seed per split on purpose
    sizes[split] = #ps
    for _, p in ipairs(ps) do
      T.eq(p.split, split, "split field")
      for field, set in pairs(seen) do
        local v = p[field]
        T.truthy(not set[v], field .. " '" .. tostring(v) .. "' in " .. split .. " already in " .. tostring(set[v]))
        set[v] = split
      end
    end
  end
  local total = #tasks.all()
  T.eq(sizes.train + sizes.valid + sizes.test, total, "the splits partition the space")
  T.truthy(total >= 2000, "thousands of problems: " .. total)
  T.truthy(sizes.test >= 200 and sizes.train >= 1500, "split sizes " .. sizes.train .. "/" .. sizes.valid .. "/" .. sizes.test)
end)

T.case("sizes, tests and levels fit the design", function()
  local per_level, fams = {}, {}
  for _, p in ipairs(tasks.all()) do
    T.truthy(#p.instruction <= 120, "instruction too long: " .. p.instruction)
    T.truthy(#p.solution <= 150, "solution too long: " .. p.solution)
    T.truthy(#p.tests >= 3 and #p.tests <= 5, p.id .. " has " .. #p.tests .. " tests")
    local distinct = {}
    for _, t in ipairs(p.tests) do
      T.truthy(not distinct[t], p.id .. " repeats a test"); distinct[t] = true
      T.truthy(t:find("^assert " .. p.entry_point .. "%("), p.id .. " test calls the entry point: " .. t)
    end
    T.truthy(p.instruction:find("^Write a function " .. p.entry_point .. "%("), p.id .. " instruction names the function")
    T.truthy(p.solution:find("^def " .. p.entry_point .. "%("), p.id .. " solution defines it")
    per_level[p.level] = (per_level[p.level] or 0) + 1
    fams[p.family] = true
  end
  for l = 1, 3 do T.truthy((per_level[l] or 0) >= 500, "level " .. l .. ": " .. tostring(per_level[l])) end
  for _, f in ipairs(tasks.families()) do T.truthy(fams[f], "family " .. f .. " present") end
  T.eq(#tasks.families(), 5, "five families")
end)

T.case("filters and balanced selection", function()
  local kinds = 0
  for _, k in ipairs(tasks.kinds()) do if k.level == 2 then kinds = kinds + 1 end end
  local ps = tasks.generate { seed = 1, split = "train", levels = { 2 }, n = kinds }
  local got = {}
  for _, p in ipairs(ps) do
    T.eq(p.level, 2, "level filter"); T.truthy(not got[p.kind], "each kind once in the first round"); got[p.kind] = true
  end
  for _, p in ipairs(tasks.generate { seed = 1, split = "test", families = { "lists", "loops" } }) do
    T.truthy(p.family == "lists" or p.family == "loops", "family filter")
  end
  local l = tasks.load("synthetic:valid?n=7&seed=5&levels=1,3&families=strings")
  T.eq(#l, 7, "n"); T.eq(l[1].split, "valid", "split")
  for _, p in ipairs(l) do T.truthy(p.family == "strings" and p.level ~= 2, "spec filters") end
  T.eq(json.encode(l), json.encode(tasks.generate { seed = 5, split = "valid", n = 7, levels = { 1, 3 }, families = { "strings" } }), "spec = options")
  T.eq(tasks.load("synthetic")[1].split, "train", "default split")
  T.eq(#data.load("synthetic:test?n=3"), 3, "data.load passes synthetic specs on")
  T.raises(function() tasks.load("synthetic:dev") end, "unknown split 'dev'")
  T.raises(function() tasks.load("synthetic:test?x=1") end, "unknown option 'x'")
  T.raises(function() tasks.generate { families = { "graphs" } } end, "unknown family 'graphs'")
  T.raises(function() tasks.generate { levels = { 4 } } end, "unknown level '4'")
end)

T.case("prompts and demonstrations read back with our extractors", function()
  local ps = tasks.generate { seed = 1, split = "train", n = 200 }
  for _, p in ipairs(ps) do
    T.eq(tasks.prompt(p), p.instruction .. "\n", "plain prompt")
    local plain = tasks.demonstration(p)
    T.eq(plain, "```python\n" .. p.solution .. "```\n", "plain demonstration")
    T.eq(data.extract_code(plain, { entry_point = p.entry_point }) .. "\n", p.solution, "code back from plain")
    local four = tasks.demonstration(p, { format = "dstc" })
    T.eq(data.extract_code(four) .. "\n", p.solution, "code back from four parts")
    local tests = data.extract_tests(four)
    T.eq(#tests, 3, "three tests shown")
    for i = 1, 3 do T.eq(tests[i], p.tests[i], "test " .. i) end
    local secs = data.parse_sections(four)
    T.truthy(secs.reasoning and secs.explanation, "four parts")
  end
  local dp = tasks.prompt(ps[1], { format = "dstc" })
  T.eq(dp, ps[1].instruction .. "\n" .. tasks.DSTC_INSTRUCTION .. "\n", "dstc prompt")
  T.truthy(tasks.prompt(ps[1], { format = "dstc", hint = true }):find("The function is named " .. ps[1].entry_point, 1, true), "hint")
  T.eq(tasks.prompt({ prompt = "X" }, { format = "plain" }), "X", "works for foreign problems")
end)

T.case("bug rates are honoured and bugs change the code", function()
  local ps = tasks.generate { seed = 2, split = "train", n = 1000 }
  local ex = tasks.sft(ps, { bug_rate = 0.3, seed = 11 })
  local bugs, kinds = 0, {}
  for i, e in ipairs(ex) do
    T.eq(e.prompt, tasks.prompt(ps[i]), "sft prompt")
    if e.meta.bug then
      bugs = bugs + 1
      kinds[e.meta.bug.kind] = true
      T.truthy(data.extract_code(e.completion) .. "\n" ~= ps[i].solution, "a bug changes the code")
    else
      T.eq(e.completion, tasks.demonstration(ps[i]), "clean demonstration")
    end
    T.eq(e.meta.test_bug, nil, "plain format has no tests to spoil")
  end
  -- Binomial(1000, 0.3): sd 14.5; [240, 360] is beyond 4 sd
  T.truthy(bugs >= 240 and bugs <= 360, "bug share " .. bugs .. "/1000")
  T.truthy(kinds.off_by_one and kinds.wrong_operator and kinds.wrong_constant, "all bug kinds occur")
  local again = tasks.sft(ps, { bug_rate = 0.3, seed = 11 })
  T.eq(json.encode(again), json.encode(ex), "reproducible")
  T.eq(#tasks.sft(ps, { bug_rate = 0 })[1].completion > 0, true, "no bugs at rate 0")
  -- a problem's demonstration does not depend on the other problems
  local sub = tasks.sft({ ps[500] }, { bug_rate = 0.3, seed = 11 })
  T.eq(sub[1].completion, ex[500].completion, "per-problem stream")
end)

T.case("mutations by hand", function()
  local r = data.rng(1, "mut")
  local code, info = tasks.mutate_solution("def add_7(x):\n    return x + 7\n", r, "wrong_operator")
  T.eq(code, "def add_7(x):\n    return x - 7\n", "operator"); T.eq(info.from, " + ", "from")
  code = tasks.mutate_solution("def add_7(x):\n    return x + 7\n", r, "off_by_one")
  T.truthy(code == "def add_7(x):\n    return x + 8\n" or code == "def add_7(x):\n    return x + 6\n", "off by one: " .. code)
  T.eq(tasks.mutate_solution("def f(s):\n    return s\n", r, "wrong_constant"), nil, "nothing to mutate")
  T.eq(tasks.mutate_test("assert f(1) == True", r), "assert f(1) == False", "bool flip")
  T.eq(tasks.mutate_test("assert f('ab') == 'abc'", r), "assert f('ab') == 'ab'", "string")
  T.eq(tasks.mutate_test("assert f([]) == []", r), "assert f([]) == [0]", "empty list")
  T.eq(U.py({ 1, -2, { "a b" }, true }), "[1, -2, ['a b'], True]", "python literal")
end)

-- Runs every problem's code against its tests in one python3 process; returns the report.
local CHECKER = [[
import json, sys
rows = json.load(open(sys.argv[1]))
out = {"ok": 0, "failed": [], "tests_run": 0}
for r in rows:
    g = {"__name__": "lpo_check"}
    fails = 0
    try:
        exec(r["code"], g)
    except BaseException as e:
        out["failed"].append([r["id"], "code: " + type(e).__name__]); continue
    for t in r["tests"]:
        out["tests_run"] += 1
        try:
            exec(t, dict(g))
        except BaseException as e:
            fails += 1
            if r.get("expect") != "fail":
                out["failed"].append([r["id"], t, type(e).__name__])
    if r.get("expect") == "fail":
        if fails > 0: out["ok"] += 1
        else: out["failed"].append([r["id"], "expected a failing test"])
    elif fails == 0:
        out["ok"] += 1
print(json.dumps(out))
]]

local function python_check(rows)
  local dir = os.tmpname()
  local script, input = dir .. ".py", dir .. ".json"
  local f = io.open(script, "w"); f:write(CHECKER); f:close()
  json.write_atomic(input, json.encode(rows))
  local out, rc = T.sh(PY .. " -I " .. script .. " " .. input .. " 2>&1")
  os.remove(script); os.remove(input); os.remove(dir)
  T.eq(rc, 0, "python ran: " .. out)
  return json.decode(out)
end

T.case("every reference solution passes its own tests in python3 (one process per split)", function()
  local f = io.open(PY, "rb")
  T.truthy(f, PY .. " is needed to check the benchmark"); f:close()
  local total, t0 = 0, os.time()
  for _, split in ipairs({ "train", "valid", "test" }) do
    local rows = {}
    for _, p in ipairs(tasks.generate { seed = 1, split = split }) do
      rows[#rows + 1] = { id = p.id, code = p.solution, tests = p.tests }
    end
    local rep = python_check(rows)
    T.eq(#rep.failed, 0, split .. ": failures " .. json.encode(rep.failed):sub(1, 400))
    T.eq(rep.ok, #rows, split .. ": all pass")
    total = total + rep.tests_run
  end
  T.truthy(total >= 2000 * 3, "tests run: " .. total)
  T.truthy(os.time() - t0 <= 10, "took " .. (os.time() - t0) .. " s")
end)

T.case("buggy tests always fail the reference; buggy solutions mostly fail their tests", function()
  local ps = tasks.generate { seed = 3, split = "train", n = 600 }
  local rows, buggy = {}, {}
  for i, p in ipairs(ps) do
    local r = data.rng(5, "bugs", p.id)
    local bad = tasks.mutate_test(p.tests[1], r)
    T.truthy(bad, p.id .. " test can be spoiled")
    rows[#rows + 1] = { id = p.id .. "#test", code = p.solution, tests = { bad }, expect = "fail" }
    local code = tasks.mutate_solution(p.solution, r)
    if code then buggy[#buggy + 1] = { id = p.id .. "#code" .. i, code = code, tests = p.tests } end
  end
  local rep = python_check(rows)
  T.eq(#rep.failed, 0, "every spoiled test fails: " .. json.encode(rep.failed):sub(1, 300))
  local rep2 = python_check(buggy)
  -- rows whose tests all pass count as `ok` here (expect unset): those are bugs the tests miss
  local caught = #buggy - rep2.ok
  print(string.format("buggy solutions caught by their tests: %d/%d (%.1f%%)", caught, #buggy, 100 * caught / #buggy))
  T.truthy(caught / #buggy >= 0.8, "most bugs are real bugs")
end)

T.done()
