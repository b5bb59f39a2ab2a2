-- lpo.data — problems in, code out.
--   * readers: our problem JSONL, HumanEval (.jsonl or .jsonl.gz) and MBPP map onto one format
--       { id, prompt, tests = {assert...} | test + entry_point, language, setup?, solution?,
--         entry_point? }
--     with errors that name file:line and the missing field;
--   * code extraction from a completion: fenced blocks, bare code, DSTC's four-part format;
--   * DSTC's four sections, parsed and written;
--   * content hashes (FNV-1a 64) for run reproducibility, and seeded Philox streams keyed by
--     names (so a choice for one problem never depends on the order of others).
local ffi = require "ffi"
local bit = require "bit"
local json = require "lpo.json"
local errors = require "lpo.errors"

local M = {}

-- Hashing -----------------------------------------------------------------------------
local FNV_OFFSET = 0xcbf29ce484222325ULL
local FNV_PRIME = 0x100000001b3ULL

--- FNV-1a 64 of a string as uint64 cdata, continuing from `h` when given.
local function fnv1a(s, h)
  h = h or FNV_OFFSET
  for i = 1, #s do h = bit.bxor(h, s:byte(i)) * FNV_PRIME end
  return h
end
M.fnv1a = fnv1a

--- The FNV-1a 64 hash of a string as 16 hex digits.
function M.hash_string(s) return bit.tohex(fnv1a(s), 16) end

--- Content hash of a file's bytes (FNV-1a 64, 16 hex digits); raises a user error naming
--- the path when it cannot be read. The bytes are hashed as stored (a .gz is not unpacked).
function M.hash(path)
  local f, err = io.open(path, "rb")
  if not f then errors.raise(nil, "cannot open %s: %s", path, err) end
  local h = FNV_OFFSET
  while true do
    local chunk = f:read(65536)
    if not chunk then break end
    h = fnv1a(chunk, h)
  end
  f:close()
  return bit.tohex(h, 16)
end

-- Seeded streams ----------------------------------------------------------------------
local C_
local function C()
  if not C_ then C_ = require("lpo.ffi").load("lpo.h") end
  return C_
end

local Rng = {}
Rng.__index = Rng

--- A Philox stream keyed by (seed, a, b, c, d); string parts are hashed with FNV-1a, so
--- data.rng(seed, "select", problem_id, round) is the same stream whatever else runs.
function M.rng(seed, a, b, c, d)
  local parts = { a or 0, b or 0, c or 0, d or 0 }
  for i = 1, 4 do
    local p = parts[i]
    if type(p) == "string" then parts[i] = fnv1a(p)
    elseif type(p) == "number" then
      if p < 0 or p % 1 ~= 0 then error("data.rng: key part " .. i .. " must be a non-negative integer or a string", 2) end
    elseif type(p) ~= "cdata" then error("data.rng: key part " .. i .. " has type " .. type(p), 2) end
  end
  if type(seed) ~= "number" and type(seed) ~= "cdata" then error("data.rng: seed must be a number", 2) end
  local lib = C()
  local st = ffi.new("lpo_philox[1]")
  lib.lpo_philox_init(st, C().lpo_philox_key(seed, parts[1], parts[2], parts[3], parts[4]), 0)
  return setmetatable({ st = st }, Rng)
end

function Rng:u32() return tonumber(C().lpo_philox_u32(self.st)) end
function Rng:uniform() return tonumber(C().lpo_philox_uniform(self.st)) end

--- Uniform integer in [0, n) without modulo bias (rejection of the top partial block).
function Rng:below(n)
  assert(n >= 1 and n <= 2 ^ 32 and n % 1 == 0, "rng:below: n must be an integer in [1, 2^32]")
  local limit = 2 ^ 32 - (2 ^ 32 % n)
  while true do
    local u = self:u32()
    if u < limit then return u % n end
  end
end

--- Uniform integer in [lo, hi].
function Rng:int(lo, hi) return lo + self:below(hi - lo + 1) end
--- A uniformly chosen element of a non-empty list, and its index.
function Rng:pick(list)
  local i = self:below(#list) + 1
  return list[i], i
end
--- Shuffles a list in place (Fisher-Yates) and returns it.
function Rng:shuffle(list)
  for i = #list, 2, -1 do
    local j = self:below(i) + 1
    list[i], list[j] = list[j], list[i]
  end
  return list
end

-- Text helpers --------------------------------------------------------------------------
local function split_lines(s)
  local lines = {}
  for line in (s .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  return lines
end

local function trim_blank_lines(s)
  s = s:gsub("^%s*\n", "")
  return (s:gsub("%s+$", ""))
end

-- Strip the indentation common to all non-blank lines.
local function dedent(lines)
  local common
  for _, l in ipairs(lines) do
    if l:match("%S") then
      local ind = #l:match("^[ \t]*")
      if not common or ind < common then common = ind end
    end
  end
  common = common or 0
  local out = {}
  for i, l in ipairs(lines) do out[i] = l:sub(common + 1) end
  return out
end

--- The fenced blocks of a text: list of { lang = "python"|"", body = text, closed = bool }.
--- An unclosed last fence (a generation cut off by a length limit) runs to the end.
function M.fenced_blocks(text)
  local blocks, cur = {}, nil
  for _, line in ipairs(split_lines(text)) do
    if cur then
      if line:match("^%s*```%s*$") then
        cur.closed = true
        cur.body = table.concat(dedent(cur.lines), "\n")
        cur.lines = nil
        blocks[#blocks + 1] = cur
        cur = nil
      else
        cur.lines[#cur.lines + 1] = line
      end
    else
      local lang = line:match("^%s*```%s*([%w_+.-]*)%s*$")
      if lang then cur = { lang = lang:lower(), lines = {}, closed = false } end
    end
  end
  if cur then
    cur.body = table.concat(dedent(cur.lines), "\n")
    cur.lines = nil
    blocks[#blocks + 1] = cur
  end
  return blocks
end

-- DSTC's four-part response ---------------------------------------------------------------
M.SECTIONS = { "reasoning", "implementation", "explanation", "tests" }
local SECTION_TITLE = { reasoning = "Reasoning", implementation = "Implementation",
                        explanation = "Explanation", tests = "Tests" }

--- Splits a four-part response into { reasoning, implementation, explanation, tests } (raw
--- text of each present section, trimmed); nil when the text has no section marker.
--- Markers are `[Reasoning]`, `[Implementation]`, `[Explanation]`, `[Tests]` at a line start.
function M.parse_sections(text)
  local marks = {}
  for _, name in ipairs(M.SECTIONS) do
    local pat = "%[" .. SECTION_TITLE[name] .. "%]"
    local pos = 1
    while true do
      local s, e = text:find(pat, pos)
      if not s then break end
      if s == 1 or text:sub(s - 1, s - 1) == "\n" then
        marks[#marks + 1] = { name = name, s = s, e = e }
        break
      end
      pos = e + 1
    end
  end
  if #marks == 0 then return nil end
  table.sort(marks, function(a, b) return a.s < b.s end)
  local out = {}
  for i, m in ipairs(marks) do
    local stop = marks[i + 1] and marks[i + 1].s - 1 or #text
    out[m.name] = trim_blank_lines(text:sub(m.e + 1, stop))
  end
  return out
end

local function as_code(s)
  if type(s) == "table" then s = table.concat(s, "\n") end
  s = s:gsub("%s+$", "")
  return "```python\n" .. s .. "\n```"
end

--- Writes a four-part response from { reasoning=, implementation= (code), explanation=,
--- tests= (code, or a list of asserts) }; absent parts are left out. Code goes in ```python
--- fences. parse_sections + extract_code/extract_tests read it back.
function M.format_sections(t)
  local parts = {}
  for _, name in ipairs(M.SECTIONS) do
    local v = t[name]
    if v ~= nil then
      local body = (name == "implementation" or name == "tests") and as_code(v) or tostring(v)
      parts[#parts + 1] = "[" .. SECTION_TITLE[name] .. "]\n" .. body
    end
  end
  return table.concat(parts, "\n\n") .. "\n"
end

-- Code extraction -------------------------------------------------------------------------
local function defines(body, entry_point)
  return body:find("def%s+" .. entry_point:gsub("%p", "%%%0") .. "%s*%(") ~= nil
end

local PY_LANGS = { python = true, py = true, python3 = true, [""] = true }

--- The program in a completion. Order: the [Implementation] section of a four-part response
--- if present; then fenced blocks — the first that defines opts.entry_point, else the first
--- python (or untagged) block, else the first block; else the bare text. HumanEval-style
--- completions that only continue the prompt: when opts.prompt is given and the code does not
--- define opts.entry_point, the prompt is put in front.
function M.extract_code(completion, opts)
  opts = opts or {}
  local code = M.extract_code_only(completion, opts)
  if opts.prompt and opts.entry_point and not defines(code, opts.entry_point) then
    return opts.prompt .. code
  end
  return code
end

function M.extract_code_only(completion, opts)
  opts = opts or {}
  if type(completion) ~= "string" then error("data.extract_code: completion must be a string", 3) end
  local text = completion
  local secs = M.parse_sections(text)
  if secs and secs.implementation then text = secs.implementation end
  local blocks = M.fenced_blocks(text)
  if #blocks > 0 then
    if opts.entry_point then
      for _, b in ipairs(blocks) do
        if defines(b.body, opts.entry_point) then return b.body end
      end
    end
    for _, b in ipairs(blocks) do
      if PY_LANGS[b.lang] then return b.body end
    end
    return blocks[1].body
  end
  return trim_blank_lines(text)
end

-- Bracket depth of a line of Python outside string literals (single-line strings only),
-- and whether a comment ends it; used to join multi-line asserts.
local function bracket_delta(line)
  local depth, i, n, quote = 0, 1, #line, nil
  while i <= n do
    local c = line:sub(i, i)
    if quote then
      if c == "\\" then i = i + 1
      elseif c == quote then quote = nil end
    elseif c == "'" or c == '"' then quote = c
    elseif c == "#" then break
    elseif c == "(" or c == "[" or c == "{" then depth = depth + 1
    elseif c == ")" or c == "]" or c == "}" then depth = depth - 1 end
    i = i + 1
  end
  return depth
end

--- The test asserts in a completion: from its [Tests] section when it has one, else from the
--- whole text. Every `assert` statement (at any indentation, e.g. inside `def test_x():`) is
--- returned dedented as one string; a statement spanning lines (open brackets or a trailing
--- backslash) is kept whole. Fence lines are ignored.
function M.extract_tests(completion)
  if type(completion) ~= "string" then error("data.extract_tests: completion must be a string", 2) end
  local secs = M.parse_sections(completion)
  local text = secs and secs.tests or (secs and "" or completion)
  local lines = split_lines(text)
  local out, i = {}, 1
  while i <= #lines do
    local line = lines[i]
    if line:match("^%s*assert[%s%(]") then
      local stmt = { line }
      local depth = bracket_delta(line)
      local cont = line:match("\\%s*$") ~= nil
      while (depth > 0 or cont) and i < #lines and not lines[i + 1]:match("^%s*```") do
        i = i + 1
        stmt[#stmt + 1] = lines[i]
        depth = depth + bracket_delta(lines[i])
        cont = lines[i]:match("\\%s*$") ~= nil
      end
      out[#out + 1] = table.concat(dedent(stmt), "\n"):gsub("%s+$", "")
    end
    i = i + 1
  end
  return out
end

-- Readers -------------------------------------------------------------------------------
local function present(v) return v ~= nil and v ~= json.null end

local function need(rec, field, kind, where)
  local v = rec[field]
  if not present(v) then errors.raise(where, "missing field '%s'", field) end
  if kind and type(v) ~= kind then
    errors.raise(where, "field '%s' must be a %s, got %s", field, kind, type(v))
  end
  return v
end

local function string_list(rec, field, where, allow_empty)
  local v = need(rec, field, "table", where)
  if #v == 0 and not allow_empty then errors.raise(where, "field '%s' is empty", field) end
  for i, s in ipairs(v) do
    if type(s) ~= "string" then
      errors.raise(where, "field '%s[%d]' must be a string, got %s", field, i, type(s))
    end
  end
  local out = {}
  for i, s in ipairs(v) do out[i] = s end
  return out
end

local function opt_string(rec, field, where)
  local v = rec[field]
  if not present(v) then return nil end
  if type(v) ~= "string" then errors.raise(where, "field '%s' must be a string, got %s", field, type(v)) end
  return v
end

local function crlf(s) return s and (s:gsub("\r\n", "\n")) end

-- Our own format: id, prompt, tests[] | test + entry_point, language (+ setup, solution).
local function from_lpo(rec, where)
  local id = rec.id
  if not present(id) then errors.raise(where, "missing field 'id'") end
  if type(id) ~= "string" and type(id) ~= "number" then errors.raise(where, "field 'id' must be a string or number") end
  local p = { id = type(id) == "number" and string.format("%d", id) or id,
              prompt = need(rec, "prompt", "string", where),
              language = opt_string(rec, "language", where) or "python",
              setup = opt_string(rec, "setup", where), solution = opt_string(rec, "solution", where),
              entry_point = opt_string(rec, "entry_point", where) }
  if present(rec.tests) then
    p.tests = string_list(rec, "tests", where)
  elseif present(rec.test) then
    p.test = need(rec, "test", "string", where)
    if not p.entry_point then errors.raise(where, "missing field 'entry_point' (required with 'test')") end
  else
    errors.raise(where, "missing field 'tests' (or 'test' + 'entry_point')")
  end
  for _, k in ipairs({ "family", "level", "kind" }) do if present(rec[k]) then p[k] = rec[k] end end
  return p
end

-- HumanEval: the test defines check(candidate); the harness appends check(entry_point).
local function from_humaneval(rec, where)
  local prompt = need(rec, "prompt", "string", where)
  return { id = need(rec, "task_id", "string", where), prompt = prompt,
           test = need(rec, "test", "string", where), entry_point = need(rec, "entry_point", "string", where),
           solution = prompt .. need(rec, "canonical_solution", "string", where), language = "python" }
end

-- The function a test calls: the first name called in it that the code defines
-- (MBPP 912 reads `assert int(lobb_num(5, 3)) == 35`), else the first name called.
local function called_function(test, code)
  local first
  for name in test:gmatch("([%a_][%w_]*)%s*%(") do
    if name ~= "assert" then
      first = first or name
      if code and code:find("def%s+" .. name .. "%s*%(") then return name end
    end
  end
  return first
end
M.called_function = called_function

-- MBPP: the usual prompt shows the task text and the first test (which names the function).
local function from_mbpp(rec, where, opts)
  local id = need(rec, "task_id", "number", where)
  local text = need(rec, "text", "string", where)
  local tests = string_list(rec, "test_list", where)
  if opts.challenge and present(rec.challenge_test_list) then
    for _, t in ipairs(string_list(rec, "challenge_test_list", where, true)) do tests[#tests + 1] = t end
  end
  for i, t in ipairs(tests) do tests[i] = crlf(t) end
  local setup = opt_string(rec, "test_setup_code", where)
  if setup and not setup:match("%S") then setup = nil end
  local code = crlf(need(rec, "code", "string", where))
  return { id = string.format("MBPP/%d", id), task_id = id, prompt = '"""\n' .. text .. "\n" .. tests[1] .. '\n"""\n',
           text = text, tests = tests, setup = crlf(setup), solution = code,
           entry_point = called_function(tests[1], code), language = "python" }
end

-- MBPP's conventional splits by task_id (Austin et al. 2021).
local MBPP_SPLITS = { prompt = { 1, 10 }, test = { 11, 510 }, valid = { 511, 600 }, train = { 601, 974 } }

local function detect(rec)
  if present(rec.task_id) and present(rec.canonical_solution) then return "humaneval" end
  if present(rec.task_id) and present(rec.test_list) then return "mbpp" end
  if present(rec.prompt) and present(rec.id) then return "lpo" end
  return nil
end

local READERS = { lpo = from_lpo, humaneval = from_humaneval, mbpp = from_mbpp }

local function parse_spec(spec)
  local path, query = spec:match("^(.-)%?(.*)$")
  local opts = {}
  if not path then return spec, opts end
  for kv in query:gmatch("[^&]+") do
    local k, v = kv:match("^([%w_]+)=(.*)$")
    if not k then errors.raise(spec, "bad option '%s' (expected key=value)", kv) end
    opts[k] = tonumber(v) or (v == "true" and true) or (v ~= "false" and v or false)
  end
  return path, opts
end

local function read_text(path)
  local f, err = io.open(path, "rb")
  if not f then errors.raise(nil, "cannot open %s: %s", path, err) end
  local head = f:read(2)
  if head == "\31\139" then  -- gzip magic
    f:close()
    local p = io.popen("gzip -dc '" .. path:gsub("'", "'\\''") .. "' 2>/dev/null")
    local s = p:read("*a")
    p:close()
    if #s == 0 then errors.raise(path, "cannot decompress (gzip -dc gave nothing)") end
    return s
  end
  local s = (head or "") .. (f:read("*a") or "")
  f:close()
  return s
end

--- Reads problems from a file or a spec. Specs: "synthetic:train?n=500&seed=2" (lpo.tasks),
--- or "PATH?opt=v&..." with options n (keep the first n), format ("lpo"|"humaneval"|"mbpp",
--- detected from the first record otherwise), split (MBPP: prompt|test|valid|train by
--- task_id), challenge (MBPP: append challenge_test_list). .gz files are unpacked with gzip.
--- Errors name file:line and the missing or mistyped field.
function M.load(spec, opts)
  if type(spec) ~= "string" then error("data.load: expected a path or spec string", 2) end
  if spec:match("^synthetic:") then return require("lpo.tasks").load(spec) end
  local path, o = parse_spec(spec)
  for k, v in pairs(opts or {}) do o[k] = v end
  local text = read_text(path)
  local problems, fmt, n, seen = {}, o.format, 0, {}
  if fmt and not READERS[fmt] then errors.raise(spec, "unknown format '%s' (lpo, humaneval, mbpp)", tostring(fmt)) end
  local range
  if o.split then
    range = MBPP_SPLITS[o.split]
    if not range then errors.raise(spec, "unknown split '%s' (prompt, test, valid, train)", tostring(o.split)) end
  end
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    n = n + 1
    local where = path .. ":" .. n
    if line:match("%S") then
      local ok, rec = pcall(json.decode, line)
      if not ok then errors.raise(where, "%s", type(rec) == "table" and rec.message or tostring(rec)) end
      if type(rec) ~= "table" or rec[1] ~= nil then errors.raise(where, "expected a JSON object") end
      if not fmt then
        fmt = detect(rec)
        if not fmt then
          errors.raise(where, "unknown problem format: expected fields id+prompt (lpo), "
            .. "task_id+prompt+canonical_solution+test+entry_point (HumanEval) or task_id+text+code+test_list (MBPP)")
        end
      end
      local p = READERS[fmt](rec, where, o)
      if range and fmt == "mbpp" and (p.task_id < range[1] or p.task_id > range[2]) then p = nil end
      if p then
        if seen[p.id] then errors.raise(where, "duplicate id '%s' (first at line %d)", p.id, seen[p.id]) end
        seen[p.id] = n
        p.source = path
        problems[#problems + 1] = p
        if o.n and #problems >= o.n then break end
      end
    end
  end
  if #problems == 0 then errors.raise(spec, "no problems") end
  return problems, { format = fmt, path = path, hash = M.hash(path) }
end

--- The test statements of a problem as a list: tests[] as they are, or, for the
--- HumanEval form, the test code followed by check(entry_point) as one test.
function M.test_list(problem)
  if problem.tests then return problem.tests end
  return { problem.test .. "\ncheck(" .. problem.entry_point .. ")" }
end

--- Path of a file in the shared data directory beside the repository ($LPO_SHARED, else
--- ../shared or ../../shared from the lpo root), or nil when it is not there.
function M.shared(rel)
  local root = rawget(_G, "LPO_ROOT") or "."
  for _, base in ipairs({ os.getenv("LPO_SHARED") or false, root .. "/../shared", root .. "/../../shared" }) do
    if base then
      local f = io.open(base .. "/" .. rel, "rb")
      if f then f:close(); return base .. "/" .. rel end
    end
  end
  return nil
end

require("lpo.doc").module(M, "lpo.data", {
  shared = { "shared(rel) -> path | nil", "A file of the shared data directory ($LPO_SHARED, ../shared, ../../shared)." },
  __module = "Problems (our JSONL, HumanEval, MBPP), code/test extraction, DSTC sections, hashes, seeded streams",
  load = { "load(path_or_spec [, opts]) -> problems, info", "Reads problems; detects lpo/HumanEval/MBPP; spec options n, format, split, challenge; 'synthetic:...' goes to lpo.tasks." },
  extract_code = { "extract_code(completion [, {entry_point=, prompt=}]) -> code", "[Implementation] section, else the fenced block defining entry_point, else the first python block, else bare text; prompt prepended when the code does not define entry_point (HumanEval)." },
  extract_tests = { "extract_tests(completion) -> {assert...}", "Assert statements from the [Tests] section (or the whole text), multi-line ones kept whole." },
  parse_sections = { "parse_sections(text) -> {reasoning, implementation, explanation, tests} | nil", "Splits DSTC's four-part response." },
  format_sections = { "format_sections{reasoning=, implementation=, explanation=, tests=} -> text", "Writes DSTC's four-part response; code in ```python fences." },
  fenced_blocks = { "fenced_blocks(text) -> {{lang, body, closed}...}", "The ``` blocks of a text." },
  hash = { "hash(path) -> hex", "FNV-1a 64 of a file's bytes, for run records." },
  hash_string = { "hash_string(s) -> hex", "FNV-1a 64 of a string." },
  rng = { "rng(seed, a, b, c, d) -> stream", "Philox stream keyed by seed and up to four parts (strings hashed): :u32() :uniform() :below(n) :int(lo,hi) :pick(list) :shuffle(list)." },
  test_list = { "test_list(problem) -> {test...}", "tests[], or HumanEval's test + check(entry_point) as one test." },
})

return M
