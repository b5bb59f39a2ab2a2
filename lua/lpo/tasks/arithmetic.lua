-- Arithmetic on one integer x. Level 1: one operation; level 3: two operations.
-- Each kind: name/text/body/ref/grid/input/idea (see lpo.tasks for the contract).
local U = require "lpo.tasks.util"

local function x_input(lo, hi) return function(_, r) return { r:int(lo, hi) } end end

return {
  { kind = "add", level = 1, args = "x", grid = U.grid { k = { 1, 99 } },
    name = function(p) return "add_" .. p.k end,
    text = function(p) return "returns x plus " .. p.k .. "." end,
    body = function(p) return { "return x + " .. p.k } end,
    ref = function(p, x) return x + p.k end,
    input = x_input(-50, 100),
    idea = function(p) return "add " .. p.k .. " to x" end },

  { kind = "sub", level = 1, args = "x", grid = U.grid { k = { 1, 99 } },
    name = function(p) return "sub_" .. p.k end,
    text = function(p) return "returns x minus " .. p.k .. "." end,
    body = function(p) return { "return x - " .. p.k } end,
    ref = function(p, x) return x - p.k end,
    input = x_input(-50, 150),
    idea = function(p) return "subtract " .. p.k .. " from x" end },

  { kind = "mul", level = 1, args = "x", grid = U.grid { k = { 2, 50 } },
    name = function(p) return "mul_" .. p.k end,
    text = function(p) return "returns x times " .. p.k .. "." end,
    body = function(p) return { "return x * " .. p.k } end,
    ref = function(p, x) return x * p.k end,
    input = x_input(-20, 40),
    idea = function(p) return "multiply x by " .. p.k end },

  { kind = "mod", level = 1, args = "x", grid = U.grid { k = { 2, 30 } },
    name = function(p) return "mod_" .. p.k end,
    text = function(p) return "returns the remainder of x divided by " .. p.k .. "." end,
    body = function(p) return { "return x % " .. p.k } end,
    ref = function(p, x) return x % p.k end,
    input = x_input(0, 200),
    idea = function(p) return "take x modulo " .. p.k end },

  { kind = "div", level = 1, args = "x", grid = U.grid { k = { 2, 30 } },
    name = function(p) return "div_" .. p.k end,
    text = function(p) return "returns x divided by " .. p.k .. ", rounded down." end,
    body = function(p) return { "return x // " .. p.k } end,
    ref = function(p, x) return U.floordiv(x, p.k) end,
    input = x_input(0, 300),
    idea = function(p) return "use integer division of x by " .. p.k end },

  { kind = "lin", level = 3, args = "x", grid = U.grid { a = { 2, 9 }, b = { 1, 20 } },
    name = function(p) return "lin_" .. p.a .. "_" .. p.b end,
    text = function(p) return "returns x times " .. p.a .. " plus " .. p.b .. "." end,
    body = function(p) return { "return x * " .. p.a .. " + " .. p.b } end,
    ref = function(p, x) return x * p.a + p.b end,
    input = x_input(-20, 50),
    idea = function(p) return "multiply x by " .. p.a .. ", then add " .. p.b end },

  { kind = "addmul", level = 3, args = "x", grid = U.grid { a = { 1, 20 }, b = { 2, 9 } },
    name = function(p) return "addmul_" .. p.a .. "_" .. p.b end,
    text = function(p) return "returns x plus " .. p.a .. ", all times " .. p.b .. "." end,
    body = function(p) return { "return (x + " .. p.a .. ") * " .. p.b } end,
    ref = function(p, x) return (x + p.a) * p.b end,
    input = x_input(-20, 50),
    idea = function(p) return "add " .. p.a .. " to x, then multiply by " .. p.b end },

  { kind = "sqplus", level = 3, args = "x", grid = U.grid { k = { 1, 50 } },
    name = function(p) return "sqplus_" .. p.k end,
    text = function(p) return "returns x squared plus " .. p.k .. "." end,
    body = function(p) return { "return x * x + " .. p.k } end,
    ref = function(p, x) return x * x + p.k end,
    input = x_input(-30, 30),
    idea = function(p) return "square x, then add " .. p.k end },
}
