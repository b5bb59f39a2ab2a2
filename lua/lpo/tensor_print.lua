-- lpo.tensor_print — tostring(tensor), laid out the way torch prints:
--
--   tensor([[ 0.1234, -1.2345,  0.5000],
--           [ 0.3000,  2.0000, -0.0100]], dtype=f32, shape={2,3})
--
-- Same rules as torch's _tensor_str: one number format for the whole tensor (integers
-- as "3."; four decimals; scientific "1.2346e+05" when the magnitudes span more than
-- 1000x, exceed 1e8, or go below 1e-4), right-aligned to a common width, rows wrapped at
-- 80 columns, and above 1000 elements only the first and last 3 entries of each dim with
-- "..." between them.
local M = { threshold = 1000, edgeitems = 3, linewidth = 80 }

local function is_finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- Indices of a dim of size n that are shown.
local function shown(n, summarize)
  local e = M.edgeitems
  local out = {}
  if summarize and n > 2 * e then
    for i = 0, e - 1 do out[#out + 1] = i end
    out[#out + 1] = false          -- the "..." slot
    for i = n - e, n - 1 do out[#out + 1] = i end
  else
    for i = 0, n - 1 do out[#out + 1] = i end
  end
  return out
end

-- Calls fn(value) for every shown element.
local function each_shown(read, shape, summarize, fn)
  local idx = {}
  local function rec(d)
    if d > #shape then fn(read(idx)); return end
    for _, i in ipairs(shown(shape[d], summarize)) do
      if i then idx[d] = i; rec(d + 1) end
    end
    idx[d] = nil
  end
  rec(1)
end

-- Numbers go through C's snprintf: LuaJIT's own %f rounds ties away from zero
-- (2.03125 -> "2.0313") where C and Python round the exact binary value ("2.0312").
local ffi = require "ffi"
pcall(ffi.cdef, "int snprintf(char *s, size_t n, const char *fmt, ...);")
local numbuf = ffi.new("char[64]")
local function cfmt(fmt, v)
  ffi.C.snprintf(numbuf, 64, fmt, ffi.cast("double", v))
  return ffi.string(numbuf)
end

-- Formatter for a float tensor from the values it will show (torch's _Formatter): the
-- mode and the width come from the finite non-zero values only; zeros, nan and inf are
-- then padded to that width (or overflow it).
local function float_formatter(vals)
  local int_mode, lo, hi, any = true, math.huge, 0, false
  for _, v in ipairs(vals) do
    if is_finite(v) and v ~= 0 then
      any = true
      if v ~= math.floor(v) then int_mode = false end
      local a = math.abs(v)
      lo = math.min(lo, a); hi = math.max(hi, a)
    end
  end
  local sci = false
  if any then
    if int_mode then sci = hi / lo > 1000 or hi > 1e8
    else sci = hi / lo > 1000 or hi > 1e8 or lo < 1e-4 end
  end
  local function f(v)
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    if sci then return cfmt("%.4e", v) end
    if int_mode then return cfmt("%.0f", v) .. "." end
    return cfmt("%.4f", v)
  end
  local width = 1
  for _, v in ipairs(vals) do
    if is_finite(v) and v ~= 0 then width = math.max(width, #f(v)) end
  end
  return f, width
end

local function int_formatter(vals)
  local function f(v) return cfmt("%.0f", v) end
  local width = 1
  for _, v in ipairs(vals) do width = math.max(width, #f(v)) end
  return f, width
end

function M.format(t, T)
  local h = t.handle
  local dtype, device = t:dtype(), t:device()
  local src = t
  if device ~= "cpu" then src = t:to("cpu") end
  local hs = src.handle
  local shape = src:size()
  local numel = src:numel()
  local suffix = ", dtype=" .. dtype .. (device ~= "cpu" and (", device=" .. device) or "") ..
                 ", shape={" .. table.concat(shape, ",") .. "})"
  if numel == 0 then return "tensor([]" .. suffix end
  local read = function(idx) return T._read_index(hs, idx) end
  local summarize = numel > M.threshold
  local vals = {}
  each_shown(read, shape, summarize, function(v) vals[#vals + 1] = v end)
  local f, width
  if dtype == "i32" or dtype == "i64" then f, width = int_formatter(vals) else f, width = float_formatter(vals) end
  local function cell(v)
    local s = f(v)
    return string.rep(" ", width - #s) .. s
  end
  if #shape == 0 then return "tensor(" .. cell(read({})) .. suffix end

  local idx = {}
  local function vector(d, indent)
    local items = {}
    for _, i in ipairs(shown(shape[d], summarize)) do
      if i then idx[d] = i; items[#items + 1] = cell(read(idx)) else items[#items + 1] = " ..." end
    end
    local per_line = math.max(1, math.floor((M.linewidth - indent) / (width + 2)))
    local lines = {}
    for k = 1, #items, per_line do
      lines[#lines + 1] = table.concat(items, ", ", k, math.min(#items, k + per_line - 1))
    end
    return "[" .. table.concat(lines, ",\n" .. string.rep(" ", indent + 1)) .. "]"
  end
  local function block(d, indent)
    if d == #shape then return vector(d, indent) end
    local parts = {}
    for _, i in ipairs(shown(shape[d], summarize)) do
      if i then idx[d] = i; parts[#parts + 1] = block(d + 1, indent + 1) else parts[#parts + 1] = "..." end
    end
    idx[d] = nil
    local sep = "," .. string.rep("\n", #shape - d) .. string.rep(" ", indent + 1)
    return "[" .. table.concat(parts, sep) .. "]"
  end
  local _ = h
  return "tensor(" .. block(1, #"tensor(") .. suffix
end

return M
