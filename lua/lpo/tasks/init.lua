-- lpo.tasks — the embedded benchmark: a seeded generator of short MBPP-style Python problems
-- (an instruction naming the function, a reference solution, 3-5 assert tests) sized for a
-- tiny byte-level model trained from scratch.
--
-- Families (one file each): arithmetic, conditionals, lists, loops, strings. Each holds
-- "kinds": a phrasing template with parameters (add_K, count_C, keep_above_K, ...), a Python
-- body, a Lua reference that computes every expected value, and an input generator.
-- Levels: 1 one-liners, 2 a condition or a loop, 3 two steps.
--
-- Splits are fixed by a hash of the problem's key "family/kind/params" (train 80%, valid 8%,
-- test 12%), whatever the seed: a train set from any seed shares no problem with a test set
-- from any seed. The seed only picks and orders problems (round-robin over kinds, so the
-- first n are balanced). A problem's tests depend on its key alone.
--
-- Kind contract: { kind, level, args ("x"), grid (list of param tables), name(p), text(p)
-- (the instruction after "that "), body(p) (lines inside the def), ref(p, ...) (Lua
-- reference), input(p, rng, i) -> {args...}, idea(p) (a short phrase for DSTC reasoning) }.
local data = require "lpo.data"
local errors = require "lpo.errors"
local U = require "lpo.tasks.util"

local M = {}

local FAMILIES = { "arithmetic", "conditionals", "lists", "loops", "strings" }
M.SPLITS = { train = { 0, 79 }, valid = { 80, 87 }, test = { 88, 99 } }

local registry   -- { list = {kind...}, by_key = {["family/kind"] = kind} }
local function kinds()
  if registry then return registry end
  registry = { list = {}, by_key = {} }
  for _, fam in ipairs(FAMILIES) do
    for _, k in ipairs(require("lpo.tasks." .. fam)) do
      k.family = fam
      registry.list[#registry.list + 1] = k
      registry.by_key[fam .. "/" .. k.kind] = k
    end
  end
  return registry
end

--- The family names.
function M.families() local out = {}; for i, f in ipairs(FAMILIES) do out[i] = f end; return out end

--- The kinds: list of { family, kind, level, count (parameter combinations) }.
function M.kinds()
  local out = {}
  for _, k in ipairs(kinds().list) do out[#out + 1] = { family = k.family, kind = k.kind, level = k.level, count = #k.grid } end
  return out
end

local function param_string(p)
  local names = {}
  for k in pairs(p) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for i, k in ipairs(names) do parts[i] = k .. "=" .. tostring(p[k]) end
  return table.concat(parts, ",")
end

local function key_of(kind, p) return kind.family .. "/" .. kind.kind .. "/" .. param_string(p) end

--- The split ("train" | "valid" | "test") of a problem key: FNV-1a of the key, mod 100.
function M.split_of(key)
  local h = tonumber(data.fnv1a(key) % 100ULL)
  for name, r in pairs(M.SPLITS) do if h >= r[1] and h <= r[2] then return name end end
end

local function args_text(args)
  local parts = {}
  for i, a in ipairs(args) do parts[i] = U.py(a) end
  return table.concat(parts, ", ")
end

-- 3-5 tests from the key's own stream: candidates are drawn, and those with an output not
-- seen yet are taken first, so tests cover both branches of a condition when they can.
local function make_tests(kind, p, key, name)
  local r = data.rng(0, "lpo.tasks/tests", key)
  local n = r:int(3, 5)
  local cands, seen = {}, {}
  for i = 1, 60 do
    local args = kind.input(p, r, i)
    local s = args_text(args)
    if not seen[s] then
      seen[s] = true
      local exp = U.py(kind.ref(p, unpack(args)))
      cands[#cands + 1] = { text = "assert " .. name .. "(" .. s .. ") == " .. exp, out = exp }
      if #cands >= 16 then break end
    end
  end
  local tests, outs, used = {}, {}, {}
  for pass = 1, 2 do
    for i, c in ipairs(cands) do
      if #tests < n and not used[i] and (pass == 2 or not outs[c.out]) then
        used[i], outs[c.out] = true, true
        tests[#tests + 1] = c.text
      end
    end
  end
  assert(#tests >= 3, "tasks: fewer than 3 distinct tests for " .. key)
  return tests
end

local function build(kind, p, split)
  local key = key_of(kind, p)
  local name = kind.name(p)
  local sig = name .. "(" .. kind.args .. ")"
  local lines = {}
  for i, l in ipairs(kind.body(p)) do lines[i] = "    " .. l end
  local instruction = "Write a function " .. sig .. " that " .. kind.text(p)
  local params = {}
  for k, v in pairs(p) do params[k] = v end
  return { id = "synthetic/" .. kind.family .. "/" .. name, prompt = instruction .. "\n", instruction = instruction,
           entry_point = name, tests = make_tests(kind, p, key, name), language = "python",
           solution = "def " .. sig .. ":\n" .. table.concat(lines, "\n") .. "\n",
           family = kind.family, kind = kind.kind, level = kind.level, params = params, key = key,
           split = split or M.split_of(key), idea = kind.idea(p) }
end

local function set_of(list, what, valid)
  if list == nil then return nil end
  if type(list) ~= "table" then errors.raise("tasks", "%s must be a list", what) end
  local s = {}
  for _, v in ipairs(list) do
    if valid and not valid[v] then errors.raise("tasks", "unknown %s '%s'", what, tostring(v)) end
    s[v] = true
  end
  return s
end

--- Generates problems: opts = { seed = 1, split = "train"|"valid"|"test", n = all,
--- levels = {1,2,3}, families = {...}, kinds = {"add", ...} }. Problems are in our format
--- (id, prompt, tests, entry_point, language, solution) plus instruction, family, kind,
--- level, params, key, split, idea. The same options always give the same list.
function M.generate(opts)
  opts = opts or {}
  local split = opts.split or "train"
  if not M.SPLITS[split] then errors.raise("tasks", "unknown split '%s' (train, valid, test)", tostring(split)) end
  local fams = {}
  for _, f in ipairs(FAMILIES) do fams[f] = true end
  local fam_ok = set_of(opts.families, "family", fams)
  local lvl_ok = set_of(opts.levels, "level", { [1] = true, [2] = true, [3] = true })
  local kind_ok = set_of(opts.kinds, "kind")
  local seed = opts.seed or 1
  local r = data.rng(seed, "lpo.tasks/order", split)
  local queues = {}
  for _, k in ipairs(kinds().list) do
    if (not fam_ok or fam_ok[k.family]) and (not lvl_ok or lvl_ok[k.level]) and (not kind_ok or kind_ok[k.kind]) then
      local ps = {}
      for _, p in ipairs(k.grid) do
        if M.split_of(key_of(k, p)) == split then ps[#ps + 1] = p end
      end
      if #ps > 0 then queues[#queues + 1] = { kind = k, ps = r:shuffle(ps), pos = 1 } end
    end
  end
  r:shuffle(queues)
  local n = opts.n or math.huge
  local out = {}
  local any = true
  while #out < n and any do
    any = false
    for _, q in ipairs(queues) do
      if #out < n and q.pos <= #q.ps then
        out[#out + 1] = build(q.kind, q.ps[q.pos], split)
        q.pos = q.pos + 1
        any = true
      end
    end
  end
  return out
end

--- Every problem of every split (for tests and statistics), in registry order.
function M.all()
  local out = {}
  for _, k in ipairs(kinds().list) do
    for _, p in ipairs(k.grid) do out[#out + 1] = build(k, p) end
  end
  return out
end

local function split_list(v)
  if type(v) ~= "string" then return { v } end
  local out = {}
  for x in v:gmatch("[^,]+") do out[#out + 1] = tonumber(x) or x end
  return out
end

--- Loads problems from a spec: "synthetic:SPLIT?n=500&seed=2&levels=1,2&families=lists,strings"
--- (split defaults to train).
function M.load(spec)
  if type(spec) ~= "string" then errors.raise("tasks", "spec must be a string like 'synthetic:train?n=100'") end
  local body = spec:match("^synthetic:?(.*)$")
  if not body then errors.raise(spec, "not a synthetic spec (synthetic:train|valid|test?n=&seed=&levels=&families=)") end
  local split, query = body:match("^([^?]*)%??(.*)$")
  local opts = { split = split ~= "" and split or "train" }
  for kv in query:gmatch("[^&]+") do
    local k, v = kv:match("^([%w_]+)=(.*)$")
    if not k then errors.raise(spec, "bad option '%s' (expected key=value)", kv) end
    if k == "n" or k == "seed" then
      opts[k] = tonumber(v)
      if not opts[k] then errors.raise(spec, "option %s must be a number", k) end
    elseif k == "levels" or k == "families" or k == "kinds" then opts[k] = split_list(v)
    else errors.raise(spec, "unknown option '%s' (n, seed, levels, families, kinds)", k) end
  end
  return M.generate(opts)
end

-- Prompts and demonstrations -----------------------------------------------------------------
M.DSTC_INSTRUCTION = "Answer with [Reasoning], [Implementation], [Explanation] and [Tests]."

--- The prompt text: format "plain" (the instruction and a newline) or "dstc" (plus the
--- request for the four parts; opts.hint = true names the entry point, as DSTC does when
--- sampling — leave it out of training prompts). Works for any problem with a prompt.
function M.prompt(problem, opts)
  opts = opts or {}
  local fmt = opts.format or "plain"
  local base = problem.instruction and (problem.instruction .. "\n") or problem.prompt
  if fmt == "plain" then return base end
  if fmt ~= "dstc" then errors.raise("tasks.prompt", "unknown format '%s' (plain, dstc)", tostring(fmt)) end
  local hint = opts.hint and problem.entry_point and ("The function is named " .. problem.entry_point .. ".\n") or ""
  return base .. hint .. M.DSTC_INSTRUCTION .. "\n"
end

-- Bugs: mutations of the body (never the def line) as real SFT data has them.
local OPERATOR_SWAPS = { { " + ", " - " }, { " - ", " + " }, { " * ", " + " }, { " // ", " % " }, { " % ", " // " },
                         { " > ", " < " }, { " < ", " > " }, { " == ", " != " }, { "+= ", "-= " }, { "*= ", "+= " },
                         { ".upper()", ".lower()" }, { "max(", "min(" }, { "min(", "max(" },
                         { "startswith", "endswith" }, { "endswith", "startswith" }, { "[::-1]", "" } }
local STRICT_SWAPS = { { " > ", " >= " }, { " < ", " <= " }, { " <= ", " < " }, { " >= ", " > " }, { "n + 1", "n" } }

local function sites(text, pat, plain)
  local out, pos = {}, 1
  while true do
    local s, e = text:find(pat, pos, plain)
    if not s then return out end
    out[#out + 1] = { s, e }
    pos = e + 1
  end
end

local function replace_at(text, site, new) return text:sub(1, site[1] - 1) .. new .. text:sub(site[2] + 1) end

local function swap_candidates(body, swaps)
  local c = {}
  for _, sw in ipairs(swaps) do
    for _, st in ipairs(sites(body, sw[1], true)) do c[#c + 1] = { st, sw[2], sw[1] } end
  end
  return c
end

local INT = "%f[%w_]%d+%f[^%w_]"
local STR = "'[%w ]*'"

--- A buggy version of a solution: kind "off_by_one" (an integer literal +-1, or a
--- comparison or range bound made strict/loose), "wrong_operator", or "wrong_constant" (an
--- integer or string literal replaced). Returns text, { kind, from, to } — or nil when no
--- mutation applies. Only lines after the def line change.
function M.mutate_solution(solution, rng, kind)
  local head, body = solution:match("^(def [^\n]*\n)(.*)$")
  if not head then head, body = "", solution end
  local options = {}
  local ints = sites(body, INT)
  local strs = sites(body, STR)
  local strict = swap_candidates(body, STRICT_SWAPS)
  local ops = swap_candidates(body, OPERATOR_SWAPS)
  if #ints + #strict > 0 then options[#options + 1] = "off_by_one" end
  if #ops > 0 then options[#options + 1] = "wrong_operator" end
  if #ints + #strs > 0 then options[#options + 1] = "wrong_constant" end
  if kind then
    local ok = false
    for _, o in ipairs(options) do if o == kind then ok = true end end
    if not ok then return nil end
  elseif #options == 0 then return nil
  else kind = rng:pick(options) end
  local new, from, to
  if kind == "off_by_one" then
    local c = {}
    for _, s in ipairs(ints) do c[#c + 1] = { "int", s } end
    for _, s in ipairs(strict) do c[#c + 1] = { "swap", s } end
    local pick = rng:pick(c)
    if pick[1] == "int" then
      from = body:sub(pick[2][1], pick[2][2])
      local v = tonumber(from)
      to = tostring(v == 0 and 1 or v + (rng:below(2) == 0 and 1 or -1))
      new = replace_at(body, pick[2], to)
    else
      local sw = pick[2]
      from, to = sw[3], sw[2]
      new = replace_at(body, sw[1], to)
    end
  elseif kind == "wrong_operator" then
    local sw = rng:pick(ops)
    from, to = sw[3], sw[2]
    new = replace_at(body, sw[1], to)
  else
    local c = {}
    for _, s in ipairs(ints) do c[#c + 1] = { "int", s } end
    for _, s in ipairs(strs) do c[#c + 1] = { "str", s } end
    local pick = rng:pick(c)
    from = body:sub(pick[2][1], pick[2][2])
    if pick[1] == "int" then
      to = tostring(tonumber(from) + rng:int(2, 9))
    else
      local inner = from:sub(2, -2)
      local repl = U.WORDS[rng:int(1, #U.WORDS)]
      if #inner == 1 then
        repeat repl = U.letter(rng:int(1, 26)) until repl ~= inner
      elseif repl == inner then repl = inner .. "s" end
      to = "'" .. repl .. "'"
    end
    new = replace_at(body, pick[2], to)
  end
  return head .. new, { kind = kind, from = from, to = to }
end

--- A wrong expected value in an assert `assert CALL == EXPECTED`: integers +-1 (or more),
--- True/False flipped, a string shortened or changed, a list's last element changed or
--- dropped. Returns text, { kind = "wrong_expected", from, to } or nil.
function M.mutate_test(test, rng)
  local s = test:find(" == [^=]*$")
  if not s then return nil end
  local lhs, exp = test:sub(1, s + 3), test:sub(s + 4)
  local to
  if exp:match("^%-?%d+$") then to = tostring(tonumber(exp) + (rng:below(2) == 0 and 1 or -1) * rng:int(1, 3))
  elseif exp == "True" then to = "False"
  elseif exp == "False" then to = "True"
  elseif exp:match("^'.*'$") then
    local inner = exp:sub(2, -2)
    to = #inner > 0 and ("'" .. inner:sub(1, -2) .. "'") or "'a'"
  elseif exp:match("^%[.*%]$") then
    local last = exp:match("(%-?%d+)%]$")
    if last then
      if rng:below(2) == 0 then to = exp:gsub("%-?%d+%]$", tostring(tonumber(last) + 1) .. "]")
      else to = exp:gsub(",? ?%-?%d+%]$", "]") end
    elseif exp == "[]" then to = "[0]"
    else to = "[]" end
  else return nil end
  return lhs .. to, { kind = "wrong_expected", from = exp, to = to }
end

local LEVEL_WORDS = { "in one expression", "with a condition or a loop", "in two steps" }

--- The response an SFT demonstration uses for a problem (it needs `solution`; the dstc
--- format also uses `tests`). opts: format = "plain" (a ```python block) | "dstc" (the four
--- parts, with up to opts.max_tests = 3 asserts), bug_rate (probability of a buggy
--- solution), test_bug_rate (probability of one wrong assert; default bug_rate), rng (a
--- data.rng stream; default one keyed by (opts.seed or 0, problem id)).
--- Returns text, info = { bug = {kind, from, to} | nil, test_bug = ... | nil }.
function M.demonstration(problem, opts)
  opts = opts or {}
  if type(problem.solution) ~= "string" then errors.raise("tasks.demonstration", "problem %s has no solution", tostring(problem.id)) end
  local rng = opts.rng or data.rng(opts.seed or 0, "lpo.tasks/demo", tostring(problem.id))
  local fmt = opts.format or "plain"
  local bug_rate = opts.bug_rate or 0
  local test_bug_rate = opts.test_bug_rate or bug_rate
  local info = {}
  local code = problem.solution
  if bug_rate > 0 and rng:uniform() < bug_rate then
    local buggy, b = M.mutate_solution(code, rng)
    if buggy then code, info.bug = buggy, b end
  end
  code = code:gsub("%s+$", "")
  if fmt == "plain" then return "```python\n" .. code .. "\n```\n", info end
  if fmt ~= "dstc" then errors.raise("tasks.demonstration", "unknown format '%s' (plain, dstc)", tostring(fmt)) end
  local tests = {}
  for i, t in ipairs(data.test_list(problem)) do if i <= (opts.max_tests or 3) then tests[i] = t end end
  if test_bug_rate > 0 and #tests > 0 and rng:uniform() < test_bug_rate then
    local i = rng:int(1, #tests)
    local bad, b = M.mutate_test(tests[i], rng)
    if bad then tests[i], info.test_bug = bad, b end
  end
  local ep = problem.entry_point or "the function"
  local text = data.format_sections {
    reasoning = "We need to " .. (problem.idea or "solve the task") .. ".",
    implementation = code,
    explanation = "The function " .. ep .. " does it " .. (LEVEL_WORDS[problem.level or 0] or "directly") .. ".",
    tests = tests }
  return text, info
end

--- SFT examples { prompt, completion, meta } for a list of problems: opts as for
--- demonstration plus seed (each problem's stream is keyed by (seed, id), so the data for a
--- problem does not depend on the others). meta records the problem, format and bugs.
function M.sft(problems, opts)
  opts = opts or {}
  local fmt = opts.format or "plain"
  local out = {}
  for i, p in ipairs(problems) do
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.rng = data.rng(opts.seed or 0, "lpo.tasks/demo", tostring(p.id))
    local text, info = M.demonstration(p, o)
    out[i] = { prompt = M.prompt(p, { format = fmt }), completion = text,
               meta = { problem_id = p.id, format = fmt, bug = info.bug, test_bug = info.test_bug, seed = opts.seed or 0 } }
  end
  return out
end

require("lpo.doc").module(M, "lpo.tasks", {
  __module = "The embedded benchmark: seeded MBPP-style Python problems in five families and three levels",
  generate = { "generate{seed=1, split='train'|'valid'|'test', n=, levels=, families=, kinds=} -> problems", "Deterministic per options; splits disjoint by a hash of the problem key." },
  load = { "load('synthetic:test?n=200&seed=1&levels=1,2') -> problems", "generate from a spec string." },
  prompt = { "prompt(problem, {format='plain'|'dstc', hint=}) -> text", "The prompt a model sees." },
  demonstration = { "demonstration(problem, {format=, bug_rate=, test_bug_rate=, rng=, seed=}) -> text, info", "An SFT response, optionally buggy." },
  sft = { "sft(problems, {format=, bug_rate=, seed=}) -> {prompt, completion, meta}...", "SFT examples for a list of problems." },
  families = { "families() -> {name...}", "The family names." },
  kinds = { "kinds() -> {{family, kind, level, count}...}", "Every template and its number of parameter combinations." },
  all = { "all() -> problems", "Every problem of every split." },
  split_of = { "split_of(key) -> split", "The split a problem key belongs to." },
  mutate_solution = { "mutate_solution(code, rng [, kind]) -> code, info", "Off-by-one, wrong operator or wrong constant." },
  mutate_test = { "mutate_test(assert, rng) -> assert, info", "A wrong expected value." },
})

return M
