-- lpo.loss_dual — forward-mode dual numbers for user-defined losses (lpo.loss.custom).
-- A dual number carries a value and its derivatives with respect to one pair's two policy
-- log-probs, {v, d/dpc, d/dpr}; arithmetic propagates them exactly (no step size, no
-- truncation error), at the cost of the loss function using this module's math (exposed as
-- loss.math) instead of Lua's math for transcendental functions. Comparisons between a dual
-- and a plain number need math.value(x) (Lua 5.1 has no mixed-type __lt).
local ffi = require "ffi"
local C = require("lpo.ffi").load("lpo_loss.h")

local M = {}
local Dual = {}
Dual.__index = Dual
local function dual(v, a, b) return setmetatable({ v, a, b }, Dual) end
local function lift(x) if getmetatable(x) == Dual then return x end return dual(x, 0, 0) end
Dual.__add = function(x, y) x, y = lift(x), lift(y); return dual(x[1] + y[1], x[2] + y[2], x[3] + y[3]) end
Dual.__sub = function(x, y) x, y = lift(x), lift(y); return dual(x[1] - y[1], x[2] - y[2], x[3] - y[3]) end
Dual.__mul = function(x, y)
  x, y = lift(x), lift(y)
  return dual(x[1] * y[1], x[2] * y[1] + x[1] * y[2], x[3] * y[1] + x[1] * y[3])
end
Dual.__div = function(x, y)
  x, y = lift(x), lift(y)
  local q = x[1] / y[1]
  return dual(q, (x[2] - q * y[2]) / y[1], (x[3] - q * y[3]) / y[1])
end
Dual.__unm = function(x) return dual(-x[1], -x[2], -x[3]) end
Dual.__pow = function(x, y)
  if getmetatable(y) == Dual then error("loss.math: x ^ y with a dual exponent is not supported; use loss.math.exp(y * loss.math.log(x))", 2) end
  local v = x[1] ^ y
  local d = y * x[1] ^ (y - 1)
  return dual(v, d * x[2], d * x[3])
end
Dual.__lt = function(x, y) return lift(x)[1] < lift(y)[1] end
Dual.__le = function(x, y) return lift(x)[1] <= lift(y)[1] end
Dual.__eq = function(x, y) return x[1] == y[1] end
Dual.__tostring = function(x) return string.format("dual(%.17g; %.17g, %.17g)", x[1], x[2], x[3]) end

-- f(x) with derivative df(v) applied by the chain rule; plain numbers pass straight through.
local function unary(f, df)
  return function(x)
    if getmetatable(x) ~= Dual then return f(x) end
    local d = df(x[1])
    return dual(f(x[1]), d * x[2], d * x[3])
  end
end

-- libm's log1p / expm1 (Lua 5.1's math lacks them); pcall: another module may declare them too.
pcall(ffi.cdef, "double log1p(double x); double expm1(double x);")
local log1p = function(x) return tonumber(ffi.C.log1p(x)) end
local expm1 = function(x) return tonumber(ffi.C.expm1(x)) end
local function log_sigmoid(x) return tonumber(C.lpo_log_sigmoid(x)) end
local function sigmoid(x) return tonumber(C.lpo_sigmoid(x)) end

--- Math that works on plain numbers and on the dual numbers a custom loss receives.
M.math = {
  exp = unary(math.exp, math.exp),
  log = unary(math.log, function(v) return 1 / v end),
  log1p = unary(log1p, function(v) return 1 / (1 + v) end),
  expm1 = unary(expm1, math.exp),
  sqrt = unary(math.sqrt, function(v) return 0.5 / math.sqrt(v) end),
  abs = unary(math.abs, function(v) return v > 0 and 1 or (v < 0 and -1 or 0) end),
  tanh = unary(function(v) local e = math.exp(-2 * math.abs(v)); local t = (1 - e) / (1 + e); return v < 0 and -t or t end,
               function(v) local e = math.exp(-2 * math.abs(v)); local t = (1 - e) / (1 + e); return 1 - t * t end),
  sigmoid = unary(sigmoid, function(v) local s = sigmoid(v); return s * (1 - s) end),
  logsigmoid = unary(log_sigmoid, function(v) return sigmoid(-v) end),
  softplus = unary(function(v) return -log_sigmoid(-v) end, sigmoid),
  log1mexp = unary(function(v) return tonumber(C.lpo_log1mexp(v)) end, function(v) return -1 / expm1(-v) end),
  relu = unary(function(v) return v > 0 and v or 0 end, function(v) return v > 0 and 1 or 0 end),  -- torch: 0 at the kink
  value = function(x) if getmetatable(x) == Dual then return x[1] end return x end,
}
function M.math.max(a, b) return M.math.value(a) >= M.math.value(b) and a or b end
function M.math.min(a, b) return M.math.value(a) <= M.math.value(b) and a or b end
function M.is_dual(x) return getmetatable(x) == Dual end
M.dual, M.Dual = dual, Dual

return M
