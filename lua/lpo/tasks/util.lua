-- lpo.tasks.util — helpers shared by the task families: Python literals of Lua values,
-- random inputs, and Python-exact integer arithmetic. Every expected value in a test is
-- computed in Lua by a family's reference function and written as a Python literal; the
-- test suite runs them all through python3, so a mismatch in semantics cannot hide.
local M = {}

--- A Python literal for a Lua value: integers, booleans, strings (lowercase letters, digits
--- and spaces only, so single quotes are always right) and lists (Lua arrays) of those.
function M.py(v)
  local t = type(v)
  if t == "number" then
    assert(v % 1 == 0 and math.abs(v) < 2 ^ 53, "tasks: only integers are used in tests")
    return string.format("%d", v)
  elseif t == "boolean" then return v and "True" or "False"
  elseif t == "string" then
    assert(not v:find("[^%w ]"), "tasks: string literal outside [a-z0-9 ]: " .. v)
    return "'" .. v .. "'"
  elseif t == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = M.py(x) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  error("tasks: cannot write a " .. t .. " as a Python literal")
end

--- Python's floor division and modulo for integers (Lua's % already floors).
function M.floordiv(a, b) return math.floor(a / b) end

M.LETTERS = "abcdefghijklmnopqrstuvwxyz"
function M.letter(i) return M.LETTERS:sub(i, i) end

--- Short words used as constants in string problems.
M.WORDS = { "ab", "cat", "dog", "xyz", "ing", "ed", "ly", "er", "pre", "un", "re", "sun", "top", "end",
            "bee", "zip", "fox", "owl", "red", "sky", "tea", "ink", "map", "pen", "hat", "cup", "box",
            "net", "jam", "log" }

--- A random lowercase string of length lo..hi; when `must` (a letter) is given, it is put
--- at a random position with probability 1/2 (so counts and tests are not all zero).
function M.rand_string(r, lo, hi, must, alphabet)
  alphabet = alphabet or M.LETTERS
  local n = r:int(lo, hi)
  local t = {}
  for i = 1, n do
    local k = r:below(#alphabet) + 1
    t[i] = alphabet:sub(k, k)
  end
  if must and r:below(2) == 0 then
    local reps = r:int(1, 2)
    for _ = 1, reps do table.insert(t, r:int(1, #t + 1), must) end
  end
  return table.concat(t)
end

--- A random list of integers in [lo, hi] of length nlo..nhi.
function M.rand_list(r, nlo, nhi, lo, hi)
  local n, out = r:int(nlo, nhi), {}
  for i = 1, n do out[i] = r:int(lo, hi) end
  return out
end

--- An integer near k (within spread) half of the time, else uniform in [lo, hi].
function M.near(r, k, spread, lo, hi)
  if r:below(2) == 0 then return k + r:int(-spread, spread) end
  return r:int(lo, hi)
end

-- Lua-side Python semantics for the string operations the families use.
function M.count(s, c)
  local n = 0
  for i = 1, #s do if s:sub(i, i) == c then n = n + 1 end end
  return n
end
function M.starts(s, p) return s:sub(1, #p) == p end
function M.ends(s, p) return #p == 0 or s:sub(-#p) == p end
function M.head(s, k) return s:sub(1, k) end                  -- s[:k], k >= 0
function M.tail(s, k) return k >= #s and s or s:sub(#s - k + 1) end  -- s[-k:], k >= 1
function M.replace(s, a, b) return (s:gsub(a:gsub("%p", "%%%0"), (b:gsub("%%", "%%%%")))) end
function M.sum(xs) local t = 0; for _, v in ipairs(xs) do t = t + v end; return t end
function M.max(xs) local m = xs[1]; for _, v in ipairs(xs) do if v > m then m = v end end; return m end
function M.min(xs) local m = xs[1]; for _, v in ipairs(xs) do if v < m then m = v end end; return m end
function M.map(xs, f) local o = {}; for i, v in ipairs(xs) do o[i] = f(v) end; return o end
function M.filter(xs, f) local o = {}; for _, v in ipairs(xs) do if f(v) then o[#o + 1] = v end end; return o end

--- Enumerates a parameter grid: grid({k = {1, 99}}) or grid({a = {1, 9}, b = {0, 20, 5}})
--- (inclusive ranges, optional step), or explicit value lists { c = {"a", "b"} } when the
--- entry has a `values` field. Returns a list of parameter tables in a fixed order.
function M.grid(spec, filter)
  local names = {}
  for k in pairs(spec) do names[#names + 1] = k end
  table.sort(names)
  local out = {}
  local function rec(i, cur)
    if i > #names then
      local p = {}
      for k, v in pairs(cur) do p[k] = v end
      if not filter or filter(p) then out[#out + 1] = p end
      return
    end
    local s = spec[names[i]]
    if s.values then
      for _, v in ipairs(s.values) do cur[names[i]] = v; rec(i + 1, cur) end
    else
      for v = s[1], s[2], s[3] or 1 do cur[names[i]] = v; rec(i + 1, cur) end
    end
  end
  rec(1, {})
  return out
end

function M.letters()
  local t = {}
  for i = 1, 26 do t[i] = M.letter(i) end
  return { values = t }
end

return M
