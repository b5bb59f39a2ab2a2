-- lpo.tensor — n-dimensional tensors from Lua, bound to engine/core/tensor*.c via the FFI.
--
--   local T = require "lpo.tensor"
--   local x = T.randn({2, 3}, { seed = 1 })       -- same values on every run
--   local y = (x * 2 + 1):softmax(2)              -- operators + - * / ^ and unary -
--   print(y, #y, y[1][2], y:sum(2))
--
-- INDEXING IS 1-BASED, like Lua: dims are 1..ndim (negative counts from the end: -1 is the
-- last dim), element and row indices are 1..size, slice ranges are inclusive like
-- string.sub, and argmax/argmin return 1-based indices. (The C API underneath is 0-based.)
--
-- A tensor value is a small cdata wrapper around an lpo_tensor* (field `handle`); views
-- (reshape when possible, transpose, narrow, slice, select, t[i] on a matrix, ...) share
-- storage with their source. Memory is freed when the wrapper is collected, or at once by
-- t:free(). The collector cannot see C memory, so after every allocation we compare the
-- engine's live bytes with a threshold and run a full collection when it is crossed
-- (torch7's rule); the threshold then becomes twice what survived.
local ffi = require "ffi"
local lffi = require "lpo.ffi"
local C = lffi.load("lpo_tensor.h")

ffi.cdef [[ typedef struct lpo_tensor_ref { lpo_tensor *handle; } lpo_tensor_ref; ]]

local M = {}
local methods = {}
local MAX_DIMS = 8

-- ---------------------------------------------------------------- errors

local DIR = debug.getinfo(1, "S").source:match("^(.*)tensor%.lua$")
local OWN = { [DIR .. "tensor.lua"] = true, [DIR .. "tensor_methods.lua"] = true, [DIR .. "tensor_print.lua"] = true }

-- Raises msg at the first caller outside these modules, so the message starts with the
-- user's file:line (operators, methods and internal helpers are skipped).
local function raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then level = 1; break end
    if not OWN[info.source] and info.what ~= "C" then break end
    level = level + 1
  end
  error(msg, level)
end
M._raise = raise

local function last_error() return ffi.string(C.lpo_last_error()) end

-- ---------------------------------------------------------------- dtypes

local DTYPE = { f32 = 0, bf16 = 1, f16 = 2, i32 = 3, i64 = 4,
                float32 = 0, float = 0, bfloat16 = 1, float16 = 2, half = 2,
                int32 = 3, int = 3, int64 = 4, long = 4 }
local DTYPE_NAME = { [0] = "f32", "bf16", "f16", "i32", "i64" }
M.dtypes = { "f32", "bf16", "f16", "i32", "i64" }

local function dtype_of(name, what)
  if name == nil then return nil end
  local d = DTYPE[name]
  if not d then raise(string.format("%s: unknown dtype '%s' (use f32, bf16, f16, i32 or i64)", what, tostring(name))) end
  return d
end

local function is_float_dtype(d) return d <= 2 end

-- ---------------------------------------------------------------- memory pressure

local gc = { min = 128 * 1024 * 1024, factor = 2 }
gc.threshold = gc.min

local function pressure()
  local live = tonumber(C.lpo_mem_live_bytes(0))
  if live > gc.threshold then
    collectgarbage("collect")
    live = tonumber(C.lpo_mem_live_bytes(0))
    gc.threshold = math.max(gc.min, live * gc.factor)
  end
end

-- ---------------------------------------------------------------- handles

local Ref   -- the metatype, set below
local shape_buf = ffi.new("int64_t[8]")
local dims_buf = ffi.new("int[8]")

-- Wraps a new lpo_tensor* (ownership moves to Lua); NULL raises the engine's message.
-- `retry` re-runs the C call once after a full collection when memory ran out.
local function wrap(p, retry, ...)
  if p == nil then
    local msg = last_error()
    if retry and msg:find("out of memory", 1, true) then
      collectgarbage("collect")
      p = retry(...)
    end
    if p == nil then raise(last_error()) end
  end
  local r = Ref()
  r.handle = p
  pressure()
  return r
end

local function new(fn, ...) return wrap(fn(...), fn, ...) end

-- Like new, but an engine error names the Lua function (zeros, not full).
local function new_as(name, fn, ...)
  local p = fn(...)
  if p == nil and last_error():find("out of memory", 1, true) then collectgarbage("collect"); p = fn(...) end
  if p == nil then raise(name .. ": " .. last_error():gsub("^[%w_]+: ", "")) end
  return wrap(p)
end

local function is_tensor(x) return type(x) == "cdata" and ffi.istype(Ref, x) end
M.is_tensor = is_tensor

local function H(t, what)
  if not is_tensor(t) then raise(string.format("%s: expected a tensor, got %s", what, type(t))) end
  local h = t.handle
  if h == nil then raise(what .. ": tensor was freed") end
  return h
end

local function shape_of(h)
  local s = {}
  for i = 0, h.ndim - 1 do s[i + 1] = tonumber(h.shape[i]) end
  return s
end

local function shape_str(h)
  local s = shape_of(h)
  return "[" .. table.concat(s, ",") .. "]"
end
M._shape_str = function(t) return shape_str(H(t, "shape")) end

-- ---------------------------------------------------------------- argument parsing

local function is_int(x) return type(x) == "number" and x % 1 == 0 and x > -2^53 and x < 2^53 end

-- Shape from either a table {2,3} or numbers 2, 3; returns shape, opts (a trailing table).
local function parse_shape(what, allow_neg1, ...)
  local n = select("#", ...)
  local first = ...
  local shape, opts
  if type(first) == "table" then
    shape, opts = first, select(2, ...)
  else
    shape = {}
    for i = 1, n do
      local v = select(i, ...)
      if type(v) == "table" then opts = v; break end
      shape[#shape + 1] = v
    end
  end
  if #shape > MAX_DIMS then raise(string.format("%s: %d dims (at most %d)", what, #shape, MAX_DIMS)) end
  for i, v in ipairs(shape) do
    if not is_int(v) or (v < 0 and not (allow_neg1 and v == -1)) then
      local parts = {}
      for j, x in ipairs(shape) do parts[j] = tostring(x) end
      raise(string.format("%s: size %s at position %d of shape {%s} must be an integer in 0..2^53%s", what, tostring(v), i,
                          table.concat(parts, ","), allow_neg1 and " (or -1)" or ""))
    end
    shape_buf[i - 1] = v
  end
  if opts ~= nil and type(opts) ~= "table" then raise(what .. ": options must be a table, got " .. type(opts)) end
  return shape, opts or {}
end

-- 1-based (or negative) dim -> 0-based; extra allows one past the end (unsqueeze).
local function norm_dim(h, d, what, extra)
  local n = h.ndim + (extra and 1 or 0)
  if not is_int(d) then raise(string.format("%s: dim must be an integer, got %s", what, tostring(d))) end
  local z = d > 0 and d - 1 or (d < 0 and n + d or -1)
  if n == 0 then raise(string.format("%s: dim %d given for a 0-d tensor, which has no dims", what, d)) end
  if z < 0 or z >= n then
    raise(string.format("%s: dim %d out of range for shape %s (dims are 1-based: 1..%d, or -%d..-1 from the end)",
                        what, d, shape_str(h), n, n))
  end
  return z
end

-- 1-based (or negative) index into a dim of size n -> 0-based.
local function norm_index(h, dim0, i, what)
  local n = tonumber(h.shape[dim0])
  if not is_int(i) then raise(string.format("%s: index must be an integer, got %s", what, tostring(i))) end
  local z = i > 0 and i - 1 or (i < 0 and n + i or -1)
  if z < 0 or z >= n then
    raise(string.format("%s: index %d out of range for dim %d of size %d (shape %s; indices are 1..%d or -%d..-1)",
                        what, i, dim0 + 1, n, shape_str(h), n, n))
  end
  return z
end

-- ---------------------------------------------------------------- elements

local ptr_type = { [0] = ffi.typeof("float*"), ffi.typeof("uint16_t*"), ffi.typeof("uint16_t*"),
                   ffi.typeof("int32_t*"), ffi.typeof("int64_t*") }

-- Value at element offset `off` (in elements, from data).
local function read_at(h, off)
  local dt = h.dtype
  local p = ffi.cast(ptr_type[dt], h.data)
  if dt == 0 or dt == 3 then return p[off]
  elseif dt == 4 then return tonumber(p[off])
  elseif dt == 1 then return C.lpo_bf16_to_f32(p[off])
  else return C.lpo_f16_to_f32(p[off]) end
end

local function cpu_only(h, what)
  if h.device ~= 0 then raise(string.format("%s: tensor is on cuda:%d; move it with :to('cpu')", what, h.device - 1)) end
end

-- Reads element at 0-based index list idx (for the printer); h must be on the CPU.
local function read_index(h, idx)
  local off = tonumber(h.offset)
  for i = 1, #idx do off = off + idx[i] * tonumber(h.strides[i - 1]) end
  return read_at(h, off)
end
M._read_index = read_index

-- ---------------------------------------------------------------- creation

local function float_or_given(opts, what, default)
  return dtype_of(opts.dtype, what) or default or 0
end

local seed_state = { base = 0, counter = 0 }

local function resolve_seed(opts, what)
  local s = opts.seed
  if s == nil then
    -- Unseeded calls draw from a deterministic per-process sequence (see manual_seed).
    seed_state.counter = seed_state.counter + 1
    return C.lpo_philox_key(seed_state.base, 7, seed_state.counter, 0, 0)
  end
  if not is_int(s) or s < 0 then raise(string.format("%s: seed must be a non-negative integer, got %s", what, tostring(s))) end
  return ffi.cast("uint64_t", s)
end

function M.manual_seed(seed)
  if not is_int(seed) or seed < 0 then raise("manual_seed: seed must be a non-negative integer") end
  seed_state.base, seed_state.counter = seed, 0
end

function M.zeros(...)
  local shape, opts = parse_shape("zeros", false, ...)
  return new_as("zeros", C.lpo_tensor_full, float_or_given(opts, "zeros"), #shape, shape_buf, 0)
end

function M.ones(...)
  local shape, opts = parse_shape("ones", false, ...)
  return new_as("ones", C.lpo_tensor_full, float_or_given(opts, "ones"), #shape, shape_buf, 1)
end

function M.full(shape, value, opts)
  if type(shape) ~= "table" then raise("full: shape must be a table, e.g. full({2,3}, 7)") end
  if type(value) ~= "number" then raise("full: value must be a number, got " .. type(value)) end
  local s, o = parse_shape("full", false, shape, opts)
  -- like torch: an integral fill value gives i64 unless a dtype is given
  return new(C.lpo_tensor_full, dtype_of(o.dtype, "full") or (is_int(value) and 4 or 0), #s, shape_buf, value)
end

function M.randn(...)
  local shape, opts = parse_shape("randn", false, ...)
  local dt = float_or_given(opts, "randn")
  return new(C.lpo_tensor_randn, dt, #shape, shape_buf, resolve_seed(opts, "randn"))
end

function M.rand(...)
  local shape, opts = parse_shape("rand", false, ...)
  local dt = float_or_given(opts, "rand")
  return new(C.lpo_tensor_rand, dt, #shape, shape_buf, resolve_seed(opts, "rand"))
end

function M.arange(a, b, c, opts)
  if type(c) == "table" then opts, c = c, nil end
  if type(b) == "table" then opts, b = b, nil end
  local start, stop, step = a, b, c
  if stop == nil then start, stop = 0, a end
  step = step or 1
  for _, v in ipairs({ start, stop, step }) do
    if type(v) ~= "number" then raise("arange: start, stop and step must be numbers") end
  end
  opts = opts or {}
  local dt = dtype_of(opts.dtype, "arange") or ((is_int(start) and is_int(stop) and is_int(step)) and 4 or 0)
  return new(C.lpo_tensor_arange, start, stop, step, dt)
end

-- Nested Lua tables -> shape and a flat array of doubles.
local function flatten(value, what)
  local shape = {}
  local probe = value
  while type(probe) == "table" do
    shape[#shape + 1] = #probe
    if #shape > MAX_DIMS then raise(string.format("%s: more than %d levels of nesting", what, MAX_DIMS)) end
    if #probe == 0 then break end
    probe = probe[1]
  end
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local buf = ffi.new("double[?]", math.max(n, 1))
  local k, all_int = 0, true
  local function walk(v, depth, path)
    if depth > #shape then
      if type(v) == "boolean" then v = v and 1 or 0 end
      if type(v) ~= "number" then
        raise(string.format("%s: element %s is a %s, expected a number", what, path, type(v)))
      end
      if not is_int(v) then all_int = false end
      buf[k] = v
      k = k + 1
      return
    end
    if type(v) ~= "table" then
      raise(string.format("%s: element %s is a %s, expected a table of %d (ragged nesting)", what, path, type(v), shape[depth]))
    end
    if #v ~= shape[depth] then
      raise(string.format("%s: ragged nested table: %s has %d elements, expected %d", what,
                          path == "" and "the top level" or path, #v, shape[depth]))
    end
    for i = 1, #v do walk(v[i], depth + 1, path .. "[" .. i .. "]") end
  end
  walk(value, 1, "")
  return shape, buf, all_int and n > 0
end

function M.tensor(value, opts)
  opts = opts or {}
  if is_tensor(value) then
    local h = H(value, "tensor")
    local c = new(C.lpo_tensor_clone, h)
    return opts.dtype and c:to(opts.dtype) or c
  end
  if type(value) ~= "table" and type(value) ~= "number" then
    raise("tensor: expected a number or a (nested) table of numbers, got " .. type(value))
  end
  local shape, buf, all_int = flatten(value, "tensor")
  for i, s in ipairs(shape) do shape_buf[i - 1] = s end
  -- like torch: all-integer values give i64, anything else (or nothing) f32
  local dt = dtype_of(opts.dtype, "tensor") or (all_int and 4 or 0)
  return new_as("tensor", C.lpo_tensor_from_f64, dt, #shape, shape_buf, buf)
end
M.from_table = M.tensor

--- Takes ownership of an lpo_tensor* returned by another engine function.
function M.wrap(handle)
  if type(handle) ~= "cdata" then raise("wrap: expected an lpo_tensor* handle") end
  return wrap(ffi.cast("lpo_tensor*", handle))
end

-- ---------------------------------------------------------------- info

function methods.size(t, dim)
  local h = H(t, "size")
  if dim == nil then return shape_of(h) end
  return tonumber(h.shape[norm_dim(h, dim, "size")])
end

function methods.stride(t, dim)
  local h = H(t, "stride")
  if dim ~= nil then return tonumber(h.strides[norm_dim(h, dim, "stride")]) end
  local s = {}
  for i = 0, h.ndim - 1 do s[i + 1] = tonumber(h.strides[i]) end
  return s
end

function methods.dim(t) return H(t, "dim").ndim end
function methods.numel(t) return tonumber(H(t, "numel").numel) end
function methods.dtype(t) return DTYPE_NAME[H(t, "dtype").dtype] end
function methods.device(t) local d = H(t, "device").device; return d == 0 and "cpu" or ("cuda:" .. (d - 1)) end
function methods.is_contiguous(t) return C.lpo_tensor_is_contiguous(H(t, "is_contiguous")) == 1 end

function methods.free(t)
  if is_tensor(t) and t.handle ~= nil then
    C.lpo_tensor_free(t.handle)
    t.handle = nil
  end
end

-- ---------------------------------------------------------------- conversion

function methods.to(t, target)
  local h = H(t, "to")
  if target == "cpu" then return new(C.lpo_tensor_to_device, h, 0) end
  if target == "cuda" or target == "cuda:0" or target == "gpu" then return new(C.lpo_tensor_to_device, h, 1) end
  return new(C.lpo_tensor_to_dtype, h, dtype_of(target, "to"))
end
function methods.float(t) return methods.to(t, "f32") end
function methods.half(t) return methods.to(t, "f16") end
function methods.bfloat16(t) return methods.to(t, "bf16") end
function methods.int(t) return methods.to(t, "i32") end
function methods.long(t) return methods.to(t, "i64") end

-- Logical (row-major) values of a CPU tensor as a flat double array.
local function values(h, what)
  cpu_only(h, what)
  local n = tonumber(h.numel)
  local buf = ffi.new("double[?]", math.max(n, 1))
  if C.lpo_tensor_to_f64(h, buf) ~= 0 then raise(last_error()) end
  return buf, n
end

function methods.totable(t)
  local h = H(t, "totable")
  local buf = values(h, "totable")
  if h.ndim == 0 then return buf[0] end
  local shape, k = shape_of(h), 0
  local function build(depth)
    local out = {}
    if depth == #shape then
      for i = 1, shape[depth] do out[i] = buf[k]; k = k + 1 end
    else
      for i = 1, shape[depth] do out[i] = build(depth + 1) end
    end
    return out
  end
  return build(1)
end

function methods.item(t)
  local h = H(t, "item")
  if h.numel ~= 1 then
    raise(string.format("item: tensor has %d elements (shape %s); item() needs exactly one", tonumber(h.numel), shape_str(h)))
  end
  cpu_only(h, "item")
  return read_at(h, tonumber(h.offset))
end

-- ---------------------------------------------------------------- in place

function methods.fill_(t, value)
  local h = H(t, "fill_")
  if type(value) ~= "number" then raise("fill_: value must be a number, got " .. type(value)) end
  if C.lpo_tensor_fill_(h, value) ~= 0 then raise(last_error()) end
  return t
end
function methods.zero_(t) return methods.fill_(t, 0) end

function methods.copy_(t, src)
  local h = H(t, "copy_")
  if type(src) == "number" then return methods.fill_(t, src) end
  local s = src
  if type(src) == "table" then s = M.tensor(src) end
  if C.lpo_tensor_copy_(h, H(s, "copy_")) ~= 0 then raise(last_error()) end
  return t
end

-- ---------------------------------------------------------------- the rest of the methods

-- Internals shared with lpo.tensor_methods (views, elementwise, reductions, indexing).
local I = { ffi = ffi, C = C, H = H, new = new, raise = raise, norm_dim = norm_dim, norm_index = norm_index,
            parse_shape = parse_shape, shape_buf = shape_buf, dims_buf = dims_buf, shape_of = shape_of,
            shape_str = shape_str, is_int = is_int, is_tensor = is_tensor, read_at = read_at, cpu_only = cpu_only,
            last_error = last_error, values = values, DTYPE_NAME = DTYPE_NAME }
require("lpo.tensor_methods")(M, methods, I)
local binary, index_get, index_set = I.binary, I.index_get, I.index_set

-- ---------------------------------------------------------------- metatype

local printer   -- lpo.tensor_print, loaded on first use

local mt = {
  __index = function(t, k)
    local m = methods[k]
    if m then return m end
    if type(k) == "number" or type(k) == "table" then return index_get(t, k) end
    if k == "shape" then return methods.size(t) end
    if k == "ndim" then return methods.dim(t) end
    raise(string.format("tensor has no field or method '%s'", tostring(k)))
  end,
  __newindex = function(t, k, v)
    if type(k) == "number" or type(k) == "table" then return index_set(t, k, v) end
    raise(string.format("cannot set field '%s' of a tensor", tostring(k)))
  end,
  __len = function(t)
    local h = H(t, "#")
    if h.ndim == 0 then raise("#: a 0-d tensor has no length (use :numel())") end
    return tonumber(h.shape[0])
  end,
  __tostring = function(t)
    if not is_tensor(t) or t.handle == nil then return "tensor(<freed>)" end
    printer = printer or require("lpo.tensor_print")
    return printer.format(t, M)
  end,
  __add = function(a, b) return binary("add", a, b) end,
  __sub = function(a, b) return binary("sub", a, b) end,
  __mul = function(a, b) return binary("mul", a, b) end,
  __div = function(a, b) return binary("div", a, b) end,
  __pow = function(a, b) return binary("pow", a, b) end,
  __unm = function(a) return new(C.lpo_tensor_unary, 0, H(a, "neg")) end,
  -- `==` is identity (same handle), never elementwise: LuaJIT also calls __eq for
  -- `t == nil`, which must stay false. Use t:eq(u) for elementwise comparison.
  __eq = function(a, b) return is_tensor(a) and is_tensor(b) and a.handle == b.handle end,
  __gc = function(t)
    if t.handle ~= nil then C.lpo_tensor_free(t.handle); t.handle = nil end
  end,
}
Ref = ffi.metatype("lpo_tensor_ref", mt)
M._methods = methods

-- ---------------------------------------------------------------- memory

--- Engine live bytes on the CPU (device 0) or a GPU (1 = cuda:0).
function M.live_bytes(device) return tonumber(C.lpo_mem_live_bytes(device or 0)) end

--- Reads or changes the collection threshold: { min = bytes, factor = x }.
function M.gc_config(opts)
  if opts then
    if opts.min then gc.min = opts.min; gc.threshold = math.max(gc.min, tonumber(C.lpo_mem_live_bytes(0)) * gc.factor) end
    if opts.factor then gc.factor = opts.factor end
  end
  return { min = gc.min, factor = gc.factor, threshold = gc.threshold }
end

-- ---------------------------------------------------------------- docs

require("lpo.tensor_doc")(M, methods, I)

return M
