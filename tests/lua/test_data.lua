-- Problem readers (ours, HumanEval .jsonl/.gz, MBPP) on tiny hand-made fixtures, errors that
-- name file:line and field, code/test extraction, the four-part format, hashes and streams.
local T = require "lpo.testing"
local data = require "lpo.data"

local FIX = "tests/fixtures/data/"

T.case("our format: tests[] and test + entry_point", function()
  local ps, info = data.load(FIX .. "problems.jsonl")
  T.eq(#ps, 2, "blank line skipped"); T.eq(info.format, "lpo", "format")
  T.eq(ps[1].id, "add-1", "id"); T.eq(#ps[1].tests, 2, "tests"); T.eq(ps[1].tests[2], "assert add_1(-1) == 0", "test text")
  T.eq(ps[1].language, "python", "default language"); T.eq(ps[1].solution, "def add_1(x):\n    return x + 1\n", "solution")
  T.eq(ps[2].id, "7", "numeric id as string"); T.eq(ps[2].entry_point, "f", "entry point"); T.eq(ps[2].setup, "import math", "setup")
  T.eq(data.test_list(ps[2])[1], "def check(candidate):\n    assert candidate(2) == 4\n\ncheck(f)", "HumanEval-style test list")
  T.eq(#data.load(FIX .. "problems.jsonl?n=1"), 1, "n option")
end)

T.case("errors name file:line and the field", function()
  T.raises(function() data.load(FIX .. "missing_prompt.jsonl") end, FIX .. "missing_prompt.jsonl:2: missing field 'prompt'")
  T.raises(function() data.load(FIX .. "missing_tests.jsonl") end, "missing_tests.jsonl:1: missing field 'tests' (or 'test' + 'entry_point')")
  T.raises(function() data.load(FIX .. "test_without_entry.jsonl") end, "test_without_entry.jsonl:1: missing field 'entry_point'")
  T.raises(function() data.load(FIX .. "bad_json.jsonl") end, "bad_json.jsonl:3: expected a string key")
  T.raises(function() data.load(FIX .. "bad_tests_type.jsonl") end, "bad_tests_type.jsonl:1: field 'tests[2]' must be a string, got number")
  T.raises(function() data.load(FIX .. "duplicate_id.jsonl") end, "duplicate_id.jsonl:2: duplicate id 'a' (first at line 1)")
  T.raises(function() data.load(FIX .. "unknown_format.jsonl") end, "unknown_format.jsonl:1: unknown problem format")
  T.raises(function() data.load(FIX .. "humaneval_missing_entry.jsonl") end, "humaneval_missing_entry.jsonl:1: missing field 'entry_point'")
  T.raises(function() data.load(FIX .. "mbpp_missing_code.jsonl") end, "mbpp_missing_code.jsonl:1: missing field 'code'")
  T.raises(function() data.load(FIX .. "nope.jsonl") end, "cannot open " .. FIX .. "nope.jsonl")
  T.raises(function() data.load(FIX .. "mbpp_mini.jsonl?split=bogus") end, "unknown split 'bogus'")
  T.raises(function() data.load(FIX .. "problems.jsonl?format=csv") end, "unknown format 'csv'")
end)

T.case("HumanEval, plain and gzipped", function()
  for _, name in ipairs({ "humaneval_mini.jsonl", "humaneval_mini.jsonl.gz" }) do
    local ps, info = data.load(FIX .. name)
    T.eq(info.format, "humaneval", name)
    T.eq(#ps, 2, "count"); T.eq(ps[1].id, "HumanEval/0", "id"); T.eq(ps[1].entry_point, "add", "entry")
    T.eq(ps[1].solution, "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n", "solution = prompt + canonical")
    T.eq(ps[2].test, "\n\ndef check(candidate):\n    assert candidate(1) == -1\n", "test")
    T.eq(ps[1].tests, nil, "uses test + entry_point")
  end
end)

T.case("MBPP: prompt with the first test, splits, setup, challenge tests", function()
  local ps = data.load(FIX .. "mbpp_mini.jsonl")
  T.eq(#ps, 3, "count"); T.eq(ps[1].id, "MBPP/5", "id")
  T.eq(ps[1].prompt, '"""\nWrite a function to add two numbers.\nassert add(1, 2) == 3\n"""\n', "prompt")
  T.eq(ps[1].entry_point, "add", "entry point from the test"); T.eq(ps[3].entry_point, "neg", "parenthesised assert")
  T.eq(ps[1].setup, nil, "empty setup dropped"); T.eq(ps[2].setup, "import math", "setup")
  T.eq(ps[2].solution, "import math\ndef sq(x):\n  return x * x", "CRLF normalised")
  T.eq(#ps[2].tests, 3, "no challenge tests by default")
  T.eq(#data.load(FIX .. "mbpp_mini.jsonl?challenge=true")[2].tests, 4, "challenge tests appended")
  local test = data.load(FIX .. "mbpp_mini.jsonl?split=test")
  T.eq(#test, 1, "task 11 is in the test split (11-510)"); T.eq(test[1].id, "MBPP/11", "id")
  T.eq(data.load(FIX .. "mbpp_mini.jsonl?split=valid")[1].id, "MBPP/600", "valid split 511-600")
  T.eq(data.called_function("assert int(lobb_num(5, 3)) == 35", "def lobb_num(n, m):"), "lobb_num", "defined name wins")
end)

T.case("the shared HumanEval and MBPP files (when present)", function()
  local root
  for _, r in ipairs({ os.getenv("LPO_SHARED_DATA") or "", "../shared/data", "../../shared/data" }) do
    local f = r ~= "" and io.open(r .. "/mbpp/mbpp.jsonl", "rb")
    if f then f:close(); root = r; break end
  end
  if not root then print("skip: shared data not found"); return end
  local he = data.load(root .. "/humaneval/HumanEval.jsonl.gz")
  T.eq(#he, 164, "HumanEval has 164 problems"); T.eq(he[164].id, "HumanEval/163", "last id")
  local mb = data.load(root .. "/mbpp/mbpp.jsonl")
  T.eq(#mb, 974, "MBPP has 974 problems")
  T.eq(#data.load(root .. "/mbpp/mbpp.jsonl?split=test"), 500, "MBPP test split has 500")
  for _, p in ipairs(mb) do
    T.truthy(p.entry_point and p.solution:find("def%s+" .. p.entry_point .. "%s*%("), p.id .. " entry point defined by its solution")
  end
end)

T.case("extract_code: fences, entry point, bare code, four parts", function()
  local two = "Here:\n```python\ndef helper():\n    pass\n```\nand\n```python\ndef f(x):\n    return x\n```\n"
  T.eq(data.extract_code(two), "def helper():\n    pass", "first block")
  T.eq(data.extract_code(two, { entry_point = "f" }), "def f(x):\n    return x", "block defining the entry point")
  T.eq(data.extract_code("```text\nhello\n```\n```\ndef g(): pass\n```"), "def g(): pass", "untagged python over text")
  T.eq(data.extract_code("```py\ndef f(x):\n    return x +"), "def f(x):\n    return x +", "unclosed fence runs to the end")
  T.eq(data.extract_code("\n\ndef f(x):\n    return 1\n\n\n"), "def f(x):\n    return 1", "bare code trimmed")
  T.eq(data.extract_code("  ```python\n  def f():\n      return 2\n  ```"), "def f():\n    return 2", "indented fence dedented")
  local four = "[Reasoning]\nThink.\n\n[Implementation]\n```python\ndef f(x):\n    return x * 2\n```\n\n[Explanation]\nDoubles.\n\n[Tests]\n```python\nassert f(2) == 4\n```\n"
  T.eq(data.extract_code(four), "def f(x):\n    return x * 2", "[Implementation]")
  T.eq(data.extract_code("[Implementation]\ndef f(): return 1\n[Tests]\nassert f() == 1"), "def f(): return 1", "unfenced section")
  -- HumanEval: a completion that continues the prompt gets the prompt in front; one that
  -- defines the function itself does not
  local prompt = "def add(a, b):\n    \"\"\"Add.\"\"\"\n"
  T.eq(data.extract_code("    return a + b\n", { entry_point = "add", prompt = prompt }), prompt .. "    return a + b", "prompt prepended")
  T.eq(data.extract_code("```python\ndef add(a, b):\n    return a + b\n```", { entry_point = "add", prompt = prompt }), "def add(a, b):\n    return a + b", "full function kept")
end)

T.case("extract_tests: asserts from [Tests], multi-line, inside test functions", function()
  local four = table.concat({
    "[Implementation]", "```python", "def f(x):", "    assert x >= 0", "    return x", "```",
    "[Tests]", "```python", "def test_f():", "    assert f(1) == 1", "    assert f([1,", "              2]) == [1,", "                      2]",
    "    assert f(3) == \\", "        3", "    assert f(')') == ')'  # a comment (", "test_f()", "```" }, "\n")
  local t = data.extract_tests(four)
  T.eq(#t, 4, "four asserts (the one in the implementation is not a test)")
  T.eq(t[1], "assert f(1) == 1", "dedented")
  T.eq(t[2], "assert f([1,\n          2]) == [1,\n                  2]", "bracket continuation kept whole")
  T.eq(t[3], "assert f(3) == \\\n    3", "backslash continuation")
  T.eq(t[4], "assert f(')') == ')'  # a comment (", "brackets in strings and comments ignored")
  T.eq(#data.extract_tests("assert g(1)==2\nprint(1)\nassert(g(0)==0)"), 2, "no sections: whole text")
  T.eq(#data.extract_tests("[Implementation]\nassert 1\n"), 0, "sections without [Tests]: none")
end)

T.case("four-part format round trip", function()
  local text = data.format_sections { reasoning = "R", implementation = "def f():\n    return 1\n", explanation = "E",
                                      tests = { "assert f() == 1", "assert f() != 2" } }
  T.eq(text, "[Reasoning]\nR\n\n[Implementation]\n```python\ndef f():\n    return 1\n```\n\n[Explanation]\nE\n\n[Tests]\n```python\nassert f() == 1\nassert f() != 2\n```\n", "layout")
  local s = data.parse_sections(text)
  T.eq(s.reasoning, "R", "reasoning"); T.eq(s.explanation, "E", "explanation")
  T.eq(data.extract_code(text), "def f():\n    return 1", "code back"); T.eq(#data.extract_tests(text), 2, "tests back")
  T.eq(data.parse_sections("no markers here"), nil, "no sections")
  T.eq(data.parse_sections("see [Tests] inline"), nil, "markers must start a line")
end)

T.case("hashes: FNV-1a 64 vectors and file hash", function()
  -- published FNV-1a 64 test vectors
  T.eq(data.hash_string(""), "cbf29ce484222325", "empty"); T.eq(data.hash_string("a"), "af63dc4c8601ec8c", "a")
  T.eq(data.hash_string("foobar"), "85944171f73967e8", "foobar")
  -- computed by an independent Python FNV-1a over the file bytes
  T.eq(data.hash(FIX .. "humaneval_mini.jsonl.gz"), "aebf7a3dc3af6985", "gz bytes")
  T.eq(data.hash(FIX .. "problems.jsonl"), "cd75cc2446e3dc33", "jsonl bytes")
  local _, info = data.load(FIX .. "problems.jsonl")
  T.eq(info.hash, "cd75cc2446e3dc33", "load reports the hash")
end)

T.case("seeded streams: keyed, reproducible, unbiased", function()
  local a, b = data.rng(1, "x", "p1", 0), data.rng(1, "x", "p1", 0)
  for _ = 1, 10 do T.eq(a:u32(), b:u32(), "same key same stream") end
  T.truthy(data.rng(1, "x", "p1"):u32() ~= data.rng(1, "x", "p2"):u32(), "problem is part of the key")
  T.truthy(data.rng(1, "x"):u32() ~= data.rng(2, "x"):u32(), "seed is part of the key")
  local r, counts = data.rng(3, "below"), { 0, 0, 0 }
  for _ = 1, 3000 do local v = r:below(3); counts[v + 1] = counts[v + 1] + 1 end
  for i = 1, 3 do T.truthy(counts[i] > 900 and counts[i] < 1100, "below(3) bucket " .. i .. ": " .. counts[i]) end
  local l = r:shuffle({ 1, 2, 3, 4, 5 })
  table.sort(l); T.eq(table.concat(l, ","), "1,2,3,4,5", "shuffle is a permutation")
  T.raises(function() data.rng(1, -1) end, "non-negative integer")
end)

T.done()
