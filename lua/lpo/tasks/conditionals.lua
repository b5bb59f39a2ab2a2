-- Conditions on one integer x. Level 1: a boolean expression; level 2: if/else;
-- level 3: two conditions.
local U = require "lpo.tasks.util"

local LABELS = { { "big", "small" }, { "yes", "no" }, { "hot", "cold" } }
local LABEL_IDX = { values = { 1, 2, 3 } }

local function x_near(field, spread, lo, hi)
  return function(p, r) return { U.near(r, p[field], spread, lo, hi) } end
end

return {
  { kind = "is_above", level = 1, args = "x", grid = U.grid { k = { 0, 99 } },
    name = function(p) return "is_above_" .. p.k end,
    text = function(p) return "returns True if x is greater than " .. p.k .. ", else False." end,
    body = function(p) return { "return x > " .. p.k } end,
    ref = function(p, x) return x > p.k end,
    input = x_near("k", 3, -10, 120),
    idea = function(p) return "compare x with " .. p.k end },

  { kind = "divisible", level = 1, args = "x", grid = U.grid { k = { 2, 20 } },
    name = function(p) return "divisible_" .. p.k end,
    text = function(p) return "returns True if x is divisible by " .. p.k .. ", else False." end,
    body = function(p) return { "return x % " .. p.k .. " == 0" } end,
    ref = function(p, x) return x % p.k == 0 end,
    input = function(p, r) return { r:below(2) == 0 and p.k * r:int(0, 9) or r:int(0, 200) } end,
    idea = function(p) return "check that x modulo " .. p.k .. " is zero" end },

  { kind = "dist", level = 1, args = "x", grid = U.grid { k = { 0, 99 } },
    name = function(p) return "dist_" .. p.k end,
    text = function(p) return "returns the distance between x and " .. p.k .. "." end,
    body = function(p) return { "return abs(x - " .. p.k .. ")" } end,
    ref = function(p, x) return math.abs(x - p.k) end,
    input = x_near("k", 10, -20, 150),
    idea = function(p) return "take the absolute value of x minus " .. p.k end },

  { kind = "label", level = 2, args = "x", grid = U.grid { k = { 0, 49 }, l = LABEL_IDX },
    name = function(p) return LABELS[p.l][1] .. "_or_" .. LABELS[p.l][2] .. "_" .. p.k end,
    text = function(p) return "returns '" .. LABELS[p.l][1] .. "' if x is greater than " .. p.k .. ", otherwise '" .. LABELS[p.l][2] .. "'." end,
    body = function(p) return { "if x > " .. p.k .. ":", "    return '" .. LABELS[p.l][1] .. "'", "return '" .. LABELS[p.l][2] .. "'" } end,
    ref = function(p, x) return x > p.k and LABELS[p.l][1] or LABELS[p.l][2] end,
    input = x_near("k", 3, -10, 120),
    idea = function(p) return "compare x with " .. p.k .. " and pick a word" end },

  { kind = "cap", level = 2, args = "x", grid = U.grid { k = { 1, 99 } },
    name = function(p) return "cap_" .. p.k end,
    text = function(p) return "returns x if x is less than " .. p.k .. ", otherwise " .. p.k .. "." end,
    body = function(p) return { "if x < " .. p.k .. ":", "    return x", "return " .. p.k } end,
    ref = function(p, x) return x < p.k and x or p.k end,
    input = x_near("k", 4, -10, 120),
    idea = function(p) return "keep x below " .. p.k end },

  { kind = "at_least", level = 2, args = "x", grid = U.grid { k = { 1, 99 } },
    name = function(p) return "at_least_" .. p.k end,
    text = function(p) return "returns x if x is greater than " .. p.k .. ", otherwise " .. p.k .. "." end,
    body = function(p) return { "if x > " .. p.k .. ":", "    return x", "return " .. p.k } end,
    ref = function(p, x) return x > p.k and x or p.k end,
    input = x_near("k", 4, -10, 120),
    idea = function(p) return "keep x at or above " .. p.k end },

  { kind = "between", level = 2, args = "x", grid = U.grid { a = { 0, 40, 4 }, d = { 5, 50, 5 } },
    name = function(p) return "between_" .. p.a .. "_" .. (p.a + p.d) end,
    text = function(p) return "returns True if x is between " .. p.a .. " and " .. (p.a + p.d) .. " inclusive, else False." end,
    body = function(p) return { "return " .. p.a .. " <= x <= " .. (p.a + p.d) } end,
    ref = function(p, x) return p.a <= x and x <= p.a + p.d end,
    input = function(p, r) return { r:below(2) == 0 and U.near(r, p.a, 2, 0, 0) or U.near(r, p.a + p.d, 2, -10, 120) } end,
    idea = function(p) return "check both bounds, " .. p.a .. " and " .. (p.a + p.d) end },

  { kind = "even_double", level = 3, args = "x", grid = U.grid { k = { 1, 50 } },
    name = function(p) return "even_double_" .. p.k end,
    text = function(p) return "returns x times 2 if x is even, otherwise x plus " .. p.k .. "." end,
    body = function(p) return { "if x % 2 == 0:", "    return x * 2", "return x + " .. p.k } end,
    ref = function(p, x) return x % 2 == 0 and x * 2 or x + p.k end,
    input = function(_, r) return { r:int(-20, 60) } end,
    idea = function(p) return "test parity, then double or add " .. p.k end },

  { kind = "band", level = 3, args = "x", grid = U.grid { a = { 0, 40, 5 }, d = { 5, 40, 5 } },
    name = function(p) return "band_" .. p.a .. "_" .. (p.a + p.d) end,
    text = function(p) return "returns 'low' if x is less than " .. p.a .. ", 'high' if x is greater than " .. (p.a + p.d) .. ", else 'mid'." end,
    body = function(p) return { "if x < " .. p.a .. ":", "    return 'low'", "if x > " .. (p.a + p.d) .. ":", "    return 'high'", "return 'mid'" } end,
    ref = function(p, x) return x < p.a and "low" or (x > p.a + p.d and "high" or "mid") end,
    input = function(p, r) local e = r:below(2) == 0 and p.a or p.a + p.d; return { U.near(r, e, 3, -10, 120) } end,
    idea = function(p) return "compare x with " .. p.a .. " and with " .. (p.a + p.d) end },
}
