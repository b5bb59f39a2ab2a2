-- Strings s of lowercase letters. Level 1: one method or slice; level 2: a condition or a
-- filter; level 3: two steps.
local U = require "lpo.tasks.util"

local WORDS = { values = U.WORDS }
local COMMON = { values = { "a", "e", "i", "n", "o", "r", "s", "t", "u" } }

local function s_with(field)
  return function(p, r) return { U.rand_string(r, 0, 8, field and p[field]) } end
end
local function s_edge(field)   -- the letter at the start or the end half of the time
  return function(p, r)
    local s = U.rand_string(r, 0, 7)
    local k = r:below(4)
    if k == 0 then s = p[field] .. s elseif k == 1 then s = s .. p[field] end
    return { s }
  end
end

return {
  { kind = "count", level = 1, args = "s", grid = U.grid { c = U.letters() },
    name = function(p) return "count_" .. p.c end,
    text = function(p) return "returns how many times '" .. p.c .. "' occurs in s." end,
    body = function(p) return { "return s.count('" .. p.c .. "')" } end,
    ref = function(p, s) return U.count(s, p.c) end,
    input = s_with("c"),
    idea = function(p) return "count the letter " .. p.c .. " in s" end },

  { kind = "starts", level = 1, args = "s", grid = U.grid { c = U.letters() },
    name = function(p) return "starts_" .. p.c end,
    text = function(p) return "returns True if s starts with '" .. p.c .. "', else False." end,
    body = function(p) return { "return s.startswith('" .. p.c .. "')" } end,
    ref = function(p, s) return U.starts(s, p.c) end,
    input = s_edge("c"),
    idea = function(p) return "check the first letter of s against " .. p.c end },

  { kind = "ends", level = 1, args = "s", grid = U.grid { c = U.letters() },
    name = function(p) return "ends_" .. p.c end,
    text = function(p) return "returns True if s ends with '" .. p.c .. "', else False." end,
    body = function(p) return { "return s.endswith('" .. p.c .. "')" } end,
    ref = function(p, s) return U.ends(s, p.c) end,
    input = s_edge("c"),
    idea = function(p) return "check the last letter of s against " .. p.c end },

  { kind = "has", level = 1, args = "s", grid = U.grid { c = U.letters() },
    name = function(p) return "has_" .. p.c end,
    text = function(p) return "returns True if '" .. p.c .. "' occurs in s, else False." end,
    body = function(p) return { "return '" .. p.c .. "' in s" } end,
    ref = function(p, s) return U.count(s, p.c) > 0 end,
    input = s_with("c"),
    idea = function(p) return "test whether " .. p.c .. " is in s" end },

  { kind = "remove", level = 1, args = "s", grid = U.grid { c = U.letters() },
    name = function(p) return "remove_" .. p.c end,
    text = function(p) return "returns s with every '" .. p.c .. "' removed." end,
    body = function(p) return { "return s.replace('" .. p.c .. "', '')" } end,
    ref = function(p, s) return U.replace(s, p.c, "") end,
    input = s_with("c"),
    idea = function(p) return "replace " .. p.c .. " by nothing" end },

  { kind = "repeat", level = 1, args = "s", grid = U.grid { k = { 2, 9 } },
    name = function(p) return "repeat_" .. p.k end,
    text = function(p) return "returns s repeated " .. p.k .. " times." end,
    body = function(p) return { "return s * " .. p.k } end,
    ref = function(p, s) return s:rep(p.k) end,
    input = function(_, r) return { U.rand_string(r, 0, 3) } end,
    idea = function(p) return "multiply the string by " .. p.k end },

  { kind = "first", level = 1, args = "s", grid = U.grid { k = { 1, 9 } },
    name = function(p) return "first_" .. p.k end,
    text = function(p) return "returns the first " .. p.k .. " characters of s." end,
    body = function(p) return { "return s[:" .. p.k .. "]" } end,
    ref = function(p, s) return U.head(s, p.k) end,
    input = function(_, r) return { U.rand_string(r, 0, 12) } end,
    idea = function(p) return "slice s up to index " .. p.k end },

  { kind = "last", level = 1, args = "s", grid = U.grid { k = { 1, 9 } },
    name = function(p) return "last_" .. p.k end,
    text = function(p) return "returns the last " .. p.k .. " characters of s." end,
    body = function(p) return { "return s[-" .. p.k .. ":]" } end,
    ref = function(p, s) return U.tail(s, p.k) end,
    input = function(_, r) return { U.rand_string(r, 1, 12) } end,
    idea = function(p) return "slice the last " .. p.k .. " characters" end },

  { kind = "suffix", level = 1, args = "s", grid = U.grid { w = WORDS },
    name = function(p) return "suffix_" .. p.w end,
    text = function(p) return "returns s followed by '" .. p.w .. "'." end,
    body = function(p) return { "return s + '" .. p.w .. "'" } end,
    ref = function(p, s) return s .. p.w end,
    input = function(_, r) return { U.rand_string(r, 0, 6) } end,
    idea = function(p) return "append " .. p.w .. " to s" end },

  { kind = "prefix", level = 1, args = "s", grid = U.grid { w = WORDS },
    name = function(p) return "prefix_" .. p.w end,
    text = function(p) return "returns '" .. p.w .. "' followed by s." end,
    body = function(p) return { "return '" .. p.w .. "' + s" } end,
    ref = function(p, s) return p.w .. s end,
    input = function(_, r) return { U.rand_string(r, 0, 6) } end,
    idea = function(p) return "put " .. p.w .. " before s" end },

  { kind = "replace", level = 1, args = "s", grid = U.grid({ a = { values = { "a", "e", "i", "o", "u" } }, b = U.letters() }, function(p) return p.a ~= p.b end),
    name = function(p) return "replace_" .. p.a .. "_" .. p.b end,
    text = function(p) return "returns s with every '" .. p.a .. "' replaced by '" .. p.b .. "'." end,
    body = function(p) return { "return s.replace('" .. p.a .. "', '" .. p.b .. "')" } end,
    ref = function(p, s) return U.replace(s, p.a, p.b) end,
    input = s_with("a"),
    idea = function(p) return "replace " .. p.a .. " by " .. p.b end },

  { kind = "upper_if_longer", level = 2, args = "s", grid = U.grid { k = { 1, 9 } },
    name = function(p) return "upper_if_longer_" .. p.k end,
    text = function(p) return "returns s in upper case if it has more than " .. p.k .. " characters, else s." end,
    body = function(p) return { "if len(s) > " .. p.k .. ":", "    return s.upper()", "return s" } end,
    ref = function(p, s) return #s > p.k and s:upper() or s end,
    input = function(p, r) return { U.rand_string(r, math.max(0, p.k - 2), p.k + 2) } end,
    idea = function(p) return "compare the length of s with " .. p.k end },

  { kind = "count_after", level = 2, args = "s", grid = U.grid { c = { values = { "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y" } } },
    name = function(p) return "count_after_" .. p.c end,
    text = function(p) return "returns how many characters of s come after '" .. p.c .. "' in the alphabet." end,
    body = function(p) return { "return len([c for c in s if c > '" .. p.c .. "'])" } end,
    ref = function(p, s) local n = 0; for i = 1, #s do if s:sub(i, i) > p.c then n = n + 1 end end; return n end,
    input = function(_, r) return { U.rand_string(r, 0, 8) } end,
    idea = function(p) return "keep the letters greater than " .. p.c .. " and count them" end },

  { kind = "rev_suffix", level = 3, args = "s", grid = U.grid { w = WORDS },
    name = function(p) return "rev_suffix_" .. p.w end,
    text = function(p) return "returns s reversed, followed by '" .. p.w .. "'." end,
    body = function(p) return { "return s[::-1] + '" .. p.w .. "'" } end,
    ref = function(p, s) return s:reverse() .. p.w end,
    input = function(_, r) return { U.rand_string(r, 0, 6) } end,
    idea = function(p) return "reverse s, then append " .. p.w end },

  { kind = "count_two", level = 3, args = "s", grid = U.grid({ a = COMMON, b = COMMON }, function(p) return p.a < p.b end),
    name = function(p) return "count_" .. p.a .. "_or_" .. p.b end,
    text = function(p) return "returns how many times '" .. p.a .. "' or '" .. p.b .. "' occurs in s." end,
    body = function(p) return { "return s.count('" .. p.a .. "') + s.count('" .. p.b .. "')" } end,
    ref = function(p, s) return U.count(s, p.a) + U.count(s, p.b) end,
    input = function(p, r) return { U.rand_string(r, 0, 8, r:below(2) == 0 and p.a or p.b) } end,
    idea = function(p) return "count " .. p.a .. " and count " .. p.b .. ", then add" end },

  { kind = "first_upper", level = 3, args = "s", grid = U.grid { k = { 1, 9 } },
    name = function(p) return "first_" .. p.k .. "_upper" end,
    text = function(p) return "returns the first " .. p.k .. " characters of s in upper case." end,
    body = function(p) return { "return s[:" .. p.k .. "].upper()" } end,
    ref = function(p, s) return U.head(s, p.k):upper() end,
    input = function(_, r) return { U.rand_string(r, 0, 12) } end,
    idea = function(p) return "slice s up to " .. p.k .. ", then upper-case it" end },

  { kind = "count_not", level = 3, args = "s", grid = U.grid { c = U.letters() },
    name = function(p) return "count_not_" .. p.c end,
    text = function(p) return "returns how many characters of s are not '" .. p.c .. "'." end,
    body = function(p) return { "return len(s) - s.count('" .. p.c .. "')" } end,
    ref = function(p, s) return #s - U.count(s, p.c) end,
    input = s_with("c"),
    idea = function(p) return "subtract the count of " .. p.c .. " from the length" end },
}
