-- Lists xs of integers. Level 1: membership, count, index; level 2: a filter or a map;
-- level 3: two steps (filter then sum, max then add, ...).
local U = require "lpo.tasks.util"

-- A list of 1..5 integers, half of them near k, sometimes containing k itself.
local function near_list(field, spread)
  return function(p, r)
    local k = p[field]
    local xs = {}
    for i = 1, r:int(1, 5) do xs[i] = U.near(r, k, spread or 5, 0, 99) end
    if r:below(3) == 0 then xs[r:int(1, #xs)] = k end
    return { xs }
  end
end
local function any_list(lo, hi)
  return function(_, r) return { U.rand_list(r, 1, 5, lo, hi) } end
end

return {
  { kind = "contains", level = 1, args = "xs", grid = U.grid { k = { 0, 99 } },
    name = function(p) return "contains_" .. p.k end,
    text = function(p) return "returns True if " .. p.k .. " is in xs, else False." end,
    body = function(p) return { "return " .. p.k .. " in xs" } end,
    ref = function(p, xs) for _, v in ipairs(xs) do if v == p.k then return true end end; return false end,
    input = near_list("k", 3),
    idea = function(p) return "test whether " .. p.k .. " is an element of xs" end },

  { kind = "count_item", level = 1, args = "xs", grid = U.grid { k = { 0, 99 } },
    name = function(p) return "count_item_" .. p.k end,
    text = function(p) return "returns how many times " .. p.k .. " occurs in xs." end,
    body = function(p) return { "return xs.count(" .. p.k .. ")" } end,
    ref = function(p, xs) local n = 0; for _, v in ipairs(xs) do if v == p.k then n = n + 1 end end; return n end,
    input = near_list("k", 1),
    idea = function(p) return "count the elements equal to " .. p.k end },

  { kind = "item_at", level = 1, args = "xs", grid = U.grid { k = { 0, 5 } },
    name = function(p) return "item_at_" .. p.k end,
    text = function(p) return "returns the element of xs at index " .. p.k .. "." end,
    body = function(p) return { "return xs[" .. p.k .. "]" } end,
    ref = function(p, xs) return xs[p.k + 1] end,
    input = function(p, r) return { U.rand_list(r, p.k + 1, p.k + 3, 0, 99) } end,
    idea = function(p) return "index xs at " .. p.k end },

  { kind = "keep_above", level = 2, args = "xs", grid = U.grid { k = { 0, 50 } },
    name = function(p) return "keep_above_" .. p.k end,
    text = function(p) return "returns the elements of xs that are greater than " .. p.k .. "." end,
    body = function(p) return { "return [v for v in xs if v > " .. p.k .. "]" } end,
    ref = function(p, xs) return U.filter(xs, function(v) return v > p.k end) end,
    input = near_list("k", 6),
    idea = function(p) return "filter xs with v > " .. p.k end },

  { kind = "keep_below", level = 2, args = "xs", grid = U.grid { k = { 0, 50 } },
    name = function(p) return "keep_below_" .. p.k end,
    text = function(p) return "returns the elements of xs that are less than " .. p.k .. "." end,
    body = function(p) return { "return [v for v in xs if v < " .. p.k .. "]" } end,
    ref = function(p, xs) return U.filter(xs, function(v) return v < p.k end) end,
    input = near_list("k", 6),
    idea = function(p) return "filter xs with v < " .. p.k end },

  { kind = "count_above", level = 2, args = "xs", grid = U.grid { k = { 0, 50 } },
    name = function(p) return "count_above_" .. p.k end,
    text = function(p) return "returns how many elements of xs are greater than " .. p.k .. "." end,
    body = function(p) return { "return len([v for v in xs if v > " .. p.k .. "])" } end,
    ref = function(p, xs) return #U.filter(xs, function(v) return v > p.k end) end,
    input = near_list("k", 6),
    idea = function(p) return "filter xs with v > " .. p.k .. " and take the length" end },

  { kind = "add_each", level = 2, args = "xs", grid = U.grid { k = { 1, 50 } },
    name = function(p) return "add_each_" .. p.k end,
    text = function(p) return "returns xs with " .. p.k .. " added to each element." end,
    body = function(p) return { "return [v + " .. p.k .. " for v in xs]" } end,
    ref = function(p, xs) return U.map(xs, function(v) return v + p.k end) end,
    input = any_list(-20, 50),
    idea = function(p) return "map v to v + " .. p.k end },

  { kind = "scale", level = 2, args = "xs", grid = U.grid { k = { 2, 20 } },
    name = function(p) return "scale_" .. p.k end,
    text = function(p) return "returns xs with each element multiplied by " .. p.k .. "." end,
    body = function(p) return { "return [v * " .. p.k .. " for v in xs]" } end,
    ref = function(p, xs) return U.map(xs, function(v) return v * p.k end) end,
    input = any_list(-10, 30),
    idea = function(p) return "map v to v * " .. p.k end },

  { kind = "sum_above", level = 3, args = "xs", grid = U.grid { k = { 0, 50 } },
    name = function(p) return "sum_above_" .. p.k end,
    text = function(p) return "returns the sum of the elements of xs that are greater than " .. p.k .. "." end,
    body = function(p) return { "return sum([v for v in xs if v > " .. p.k .. "])" } end,
    ref = function(p, xs) return U.sum(U.filter(xs, function(v) return v > p.k end)) end,
    input = near_list("k", 6),
    idea = function(p) return "keep the elements above " .. p.k .. ", then sum them" end },

  { kind = "max_plus", level = 3, args = "xs", grid = U.grid { k = { 1, 50 } },
    name = function(p) return "max_plus_" .. p.k end,
    text = function(p) return "returns the largest element of xs plus " .. p.k .. "." end,
    body = function(p) return { "return max(xs) + " .. p.k } end,
    ref = function(p, xs) return U.max(xs) + p.k end,
    input = any_list(-20, 99),
    idea = function(p) return "take the maximum, then add " .. p.k end },

  { kind = "min_minus", level = 3, args = "xs", grid = U.grid { k = { 1, 50 } },
    name = function(p) return "min_minus_" .. p.k end,
    text = function(p) return "returns the smallest element of xs minus " .. p.k .. "." end,
    body = function(p) return { "return min(xs) - " .. p.k } end,
    ref = function(p, xs) return U.min(xs) - p.k end,
    input = any_list(-20, 99),
    idea = function(p) return "take the minimum, then subtract " .. p.k end },

  { kind = "sum_times", level = 3, args = "xs", grid = U.grid { k = { 2, 20 } },
    name = function(p) return "sum_times_" .. p.k end,
    text = function(p) return "returns the sum of xs times " .. p.k .. "." end,
    body = function(p) return { "return sum(xs) * " .. p.k } end,
    ref = function(p, xs) return U.sum(xs) * p.k end,
    input = any_list(-10, 40),
    idea = function(p) return "sum xs, then multiply by " .. p.k end },
}
