-- Loops over a range 0..n. Level 2: one loop; level 3: a loop with a condition or a
-- second step.
local U = require "lpo.tasks.util"

local function n_input(lo, hi) return function(_, r) return { r:int(lo, hi) } end end

return {
  { kind = "sum_from", level = 2, args = "n", grid = U.grid { k = { 0, 30 } },
    name = function(p) return "sum_from_" .. p.k end,
    text = function(p) return "returns the sum of the integers from " .. p.k .. " to n." end,
    body = function(p) return { "t = 0", "for i in range(" .. p.k .. ", n + 1):", "    t += i", "return t" } end,
    ref = function(p, n) local t = 0; for i = p.k, n do t = t + i end; return t end,
    input = function(p, r) return { r:int(math.max(0, p.k - 1), p.k + 15) } end,
    idea = function(p) return "loop from " .. p.k .. " to n and add" end },

  { kind = "sum_mult", level = 2, args = "n", grid = U.grid { k = { 2, 20 } },
    name = function(p) return "sum_mult_" .. p.k end,
    text = function(p) return "returns the sum of the multiples of " .. p.k .. " below n." end,
    body = function(p) return { "t = 0", "for i in range(0, n, " .. p.k .. "):", "    t += i", "return t" } end,
    ref = function(p, n) local t = 0; for i = 0, n - 1, p.k do t = t + i end; return t end,
    input = n_input(0, 100),
    idea = function(p) return "step through range(0, n) by " .. p.k end },

  { kind = "power", level = 2, args = "n", grid = U.grid { k = { 2, 9 } },
    name = function(p) return "power_of_" .. p.k end,
    text = function(p) return "returns " .. p.k .. " to the power n." end,
    body = function(p) return { "r = 1", "for _ in range(n):", "    r *= " .. p.k, "return r" } end,
    ref = function(p, n) local x = 1; for _ = 1, n do x = x * p.k end; return x end,
    input = n_input(0, 8),
    idea = function(p) return "multiply by " .. p.k .. " n times" end },

  { kind = "countdown", level = 2, args = "n", grid = U.grid { k = { 0, 20 } },
    name = function(p) return "countdown_to_" .. p.k end,
    text = function(p) return "returns the list of integers from n down to " .. p.k .. "." end,
    body = function(p) return { "return list(range(n, " .. (p.k - 1) .. ", -1))" } end,
    ref = function(p, n) local o = {}; for i = n, p.k, -1 do o[#o + 1] = i end; return o end,
    input = function(p, r) return { r:int(math.max(0, p.k - 1), p.k + 6) } end,
    idea = function(p) return "count down from n to " .. p.k end },

  { kind = "multiples", level = 2, args = "n", grid = U.grid { k = { 1, 20 } },
    name = function(p) return "multiples_of_" .. p.k end,
    text = function(p) return "returns the list of multiples of " .. p.k .. " from " .. p.k .. " up to n." end,
    body = function(p) return { "return list(range(" .. p.k .. ", n + 1, " .. p.k .. "))" } end,
    ref = function(p, n) local o = {}; for i = p.k, n, p.k do o[#o + 1] = i end; return o end,
    input = function(p, r) return { r:int(0, p.k * 6) } end,
    idea = function(p) return "step from " .. p.k .. " to n by " .. p.k end },

  { kind = "count_mult", level = 3, args = "n", grid = U.grid { k = { 2, 20 } },
    name = function(p) return "count_mult_" .. p.k end,
    text = function(p) return "returns how many integers from 1 to n are divisible by " .. p.k .. "." end,
    body = function(p) return { "c = 0", "for i in range(1, n + 1):", "    if i % " .. p.k .. " == 0:", "        c += 1", "return c" } end,
    ref = function(p, n) local c = 0; for i = 1, n do if i % p.k == 0 then c = c + 1 end end; return c end,
    input = n_input(0, 100),
    idea = function(p) return "loop from 1 to n and count multiples of " .. p.k end },

  { kind = "sum_sq_plus", level = 3, args = "n", grid = U.grid { k = { 1, 30 } },
    name = function(p) return "sum_sq_plus_" .. p.k end,
    text = function(p) return "returns the sum of the squares of the integers from 1 to n, plus " .. p.k .. "." end,
    body = function(p) return { "t = " .. p.k, "for i in range(1, n + 1):", "    t += i * i", "return t" } end,
    ref = function(p, n) local t = p.k; for i = 1, n do t = t + i * i end; return t end,
    input = n_input(0, 12),
    idea = function(p) return "start at " .. p.k .. " and add each square" end },

  { kind = "fact_times", level = 3, args = "n", grid = U.grid { k = { 2, 9 } },
    name = function(p) return "fact_times_" .. p.k end,
    text = function(p) return "returns the product of the integers from 1 to n, times " .. p.k .. "." end,
    body = function(p) return { "r = " .. p.k, "for i in range(1, n + 1):", "    r *= i", "return r" } end,
    ref = function(p, n) local x = p.k; for i = 1, n do x = x * i end; return x end,
    input = n_input(0, 8),
    idea = function(p) return "start at " .. p.k .. " and multiply by 1 to n" end },
}
