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
local doc = require "lpo.doc"
local C = lffi.load("lpo_tensor.h")

ffi.cdef [[ typedef struct lpo_tensor_ref { lpo_tensor *handle; } lpo_tensor_ref; ]]

local M = {}
local methods = {}
local MAX_DIMS = 8

-- ---------------------------------------------------------------- errors

local THIS_FILE = debug.getinfo(1, "S").source
local PRINT_FILE = THIS_FILE:gsub("tensor%.lua$", "tensor_print.lua")

-- Raises msg at the first caller outside this module, so the message starts with the
-- user's file:line (operators and internal helpers are skipped).
local function raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then level = 1; break end
    if info.source ~= THIS_FILE and info.source ~= PRINT_FILE and info.what ~= "C" then break end
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
      raise(string.format("%s: size %s at position %d of shape {%s} is not a %s integer", what, tostring(v), i,
                          table.concat(parts, ","), allow_neg1 and "non-negative (or -1)" or "non-negative"))
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
  return new(C.lpo_tensor_full, float_or_given(opts, "zeros"), #shape, shape_buf, 0)
end

function M.ones(...)
  local shape, opts = parse_shape("ones", false, ...)
  return new(C.lpo_tensor_full, float_or_given(opts, "ones"), #shape, shape_buf, 1)
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
  return new(C.lpo_tensor_from_f64, dt, #shape, shape_buf, buf)
end
M.from_table = M.tensor

--- Takes ownership of an lpo_tensor* returned by another engine function.
function M.wrap(handle)
  if type(handle) ~= "cdata" then raise("wrap: expected an lpo_tensor* handle") end
  return wrap(ffi.cast("lpo_tensor*", handle))
end

-- ---------------------------------------------------------------- views

local function view_shape(what, h, ...)
  local shape = parse_shape(what, true, ...)
  return #shape
end

function methods.reshape(t, ...)
  local h = H(t, "reshape")
  return new(C.lpo_tensor_reshape, h, view_shape("reshape", h, ...), shape_buf)
end

function methods.view(t, ...)
  local h = H(t, "view")
  return new(C.lpo_tensor_view, h, view_shape("view", h, ...), shape_buf)
end

function methods.expand(t, ...)
  local h = H(t, "expand")
  return new(C.lpo_tensor_expand, h, view_shape("expand", h, ...), shape_buf)
end

function methods.transpose(t, d1, d2)
  local h = H(t, "transpose")
  return new(C.lpo_tensor_transpose, h, norm_dim(h, d1, "transpose"), norm_dim(h, d2, "transpose"))
end

function methods.t(t)
  local h = H(t, "t")
  if h.ndim > 2 then raise(string.format("t: expects a tensor with at most 2 dims, got shape %s (use transpose)", shape_str(h))) end
  if h.ndim < 2 then return new(C.lpo_tensor_alias, h) end
  return new(C.lpo_tensor_transpose, h, 0, 1)
end

function methods.permute(t, ...)
  local h = H(t, "permute")
  local dims = type(...) == "table" and (...) or { ... }
  if #dims ~= h.ndim then raise(string.format("permute: got %d dims for a tensor of shape %s", #dims, shape_str(h))) end
  for i, d in ipairs(dims) do dims_buf[i - 1] = norm_dim(h, d, "permute") end
  return new(C.lpo_tensor_permute, h, dims_buf)
end

function methods.narrow(t, dim, start, length)
  local h = H(t, "narrow")
  local d = norm_dim(h, dim, "narrow")
  local n = tonumber(h.shape[d])
  if not is_int(start) or not is_int(length) or start < 1 or length < 0 or start - 1 + length > n then
    raise(string.format("narrow: start %s length %s out of range for dim %d of size %d (shape %s; start is 1-based)",
                        tostring(start), tostring(length), dim, n, shape_str(h)))
  end
  return new(C.lpo_tensor_narrow, h, d, start - 1, length)
end

function methods.slice(t, dim, first, last, step)
  local h = H(t, "slice")
  local d = norm_dim(h, dim, "slice")
  local n = tonumber(h.shape[d])
  first, last, step = first or 1, last or -1, step or 1
  if not (is_int(first) and is_int(last) and is_int(step)) then raise("slice: first, last and step must be integers") end
  if step < 1 then raise(string.format("slice: step %d must be positive", step)) end
  local f = first < 0 and n + first + 1 or first
  local l = last < 0 and n + last + 1 or last
  if f < 1 or l > n or l < f - 1 then
    raise(string.format("slice: range %d..%d out of range for dim %d of size %d (shape %s; inclusive, 1-based)",
                        first, last, dim, n, shape_str(h)))
  end
  return new(C.lpo_tensor_slice, h, d, f - 1, l, step)
end

function methods.select(t, dim, index)
  local h = H(t, "select")
  local d = norm_dim(h, dim, "select")
  return new(C.lpo_tensor_select, h, d, norm_index(h, d, index, "select"))
end

function methods.squeeze(t, dim)
  local h = H(t, "squeeze")
  return new(C.lpo_tensor_squeeze, h, dim == nil and -100 or norm_dim(h, dim, "squeeze"))
end

function methods.unsqueeze(t, dim)
  local h = H(t, "unsqueeze")
  return new(C.lpo_tensor_unsqueeze, h, norm_dim(h, dim, "unsqueeze", true))
end

function methods.contiguous(t) return new(C.lpo_tensor_contiguous, H(t, "contiguous")) end
function methods.clone(t) return new(C.lpo_tensor_clone, H(t, "clone")) end

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

-- ---------------------------------------------------------------- elementwise

local BINOP = { add = 0, sub = 1, mul = 2, div = 3, pow = 4, maximum = 5, minimum = 6,
                eq = 7, ne = 8, lt = 9, le = 10, gt = 11, ge = 12 }

local function binary(name, a, b)
  local op = BINOP[name]
  if type(a) == "number" then
    return new(C.lpo_tensor_binary_scalar, op, H(b, name), a, 1)
  elseif type(b) == "number" then
    return new(C.lpo_tensor_binary_scalar, op, H(a, name), b, 0)
  end
  if not is_tensor(b) then raise(string.format("%s: expected a tensor or a number, got %s", name, type(b))) end
  return new(C.lpo_tensor_binary, op, H(a, name), H(b, name))
end

for name in pairs(BINOP) do
  methods[name] = function(a, b) return binary(name, a, b) end
  M[name] = methods[name]
end

local UNOP = { neg = 0, abs = 1, exp = 2, log = 3, sqrt = 4, tanh = 5, sigmoid = 6, relu = 7 }
for name, op in pairs(UNOP) do
  methods[name] = function(t) return new(C.lpo_tensor_unary, op, H(t, name)) end
  M[name] = methods[name]
end

-- ---------------------------------------------------------------- reductions

local REDUCE = { sum = 0, mean = 1, max = 2, min = 3, argmax = 4, argmin = 5 }

local function reduce(name, t, dim, keepdim)
  local h = H(t, name)
  if dim == nil then return new(C.lpo_tensor_reduce_all, REDUCE[name], h) end
  return new(C.lpo_tensor_reduce, REDUCE[name], h, norm_dim(h, dim, name), keepdim and 1 or 0)
end

-- 0-based engine indices -> 1-based Lua indices
local function plus_one(idx)
  local r = new(C.lpo_tensor_binary_scalar, 0, idx.handle, 1, 0)
  idx:free()
  return r
end

function methods.sum(t, dim, keepdim) return reduce("sum", t, dim, keepdim) end
function methods.mean(t, dim, keepdim) return reduce("mean", t, dim, keepdim) end
function methods.argmax(t, dim, keepdim) return plus_one(reduce("argmax", t, dim, keepdim)) end
function methods.argmin(t, dim, keepdim) return plus_one(reduce("argmin", t, dim, keepdim)) end
-- max/min over all elements give a 0-d tensor; along a dim they give (values, indices).
function methods.max(t, dim, keepdim)
  if dim == nil then return reduce("max", t) end
  return reduce("max", t, dim, keepdim), methods.argmax(t, dim, keepdim)
end
function methods.min(t, dim, keepdim)
  if dim == nil then return reduce("min", t) end
  return reduce("min", t, dim, keepdim), methods.argmin(t, dim, keepdim)
end

function methods.softmax(t, dim)
  local h = H(t, "softmax")
  return new(C.lpo_tensor_softmax, h, norm_dim(h, dim or -1, "softmax"))
end
function methods.log_softmax(t, dim)
  local h = H(t, "log_softmax")
  return new(C.lpo_tensor_log_softmax, h, norm_dim(h, dim or -1, "log_softmax"))
end

function methods.matmul(a, b) return new(C.lpo_tensor_matmul, H(a, "matmul"), H(b, "matmul")) end

for _, name in ipairs({ "sum", "mean", "max", "min", "argmax", "argmin", "softmax", "log_softmax", "matmul",
                        "reshape", "transpose", "clone" }) do
  M[name] = methods[name]
end

-- ---------------------------------------------------------------- comparisons as booleans

--- True when both have the same shape and every element is equal (NaN never equals).
function methods.equal(a, b)
  local ha, hb = H(a, "equal"), H(b, "equal")
  if ha.ndim ~= hb.ndim then return false end
  for i = 0, ha.ndim - 1 do if ha.shape[i] ~= hb.shape[i] then return false end end
  local va, n = values(ha, "equal")
  local vb = values(hb, "equal")
  for i = 0, n - 1 do if va[i] ~= vb[i] then return false end end
  return true
end

--- True when shapes broadcast and |a - b| <= atol + rtol * |b| everywhere.
function methods.allclose(a, b, rtol, atol)
  rtol, atol = rtol or 1e-5, atol or 1e-8
  local bb = is_tensor(b) and b or M.full(methods.size(a), b, { dtype = "f32" })
  local diff = binary("sub", a:float(), bb:float()):abs()
  local bound = (bb:float():abs() * rtol) + atol
  local ok = binary("le", diff, bound):min():item() == 1
  return ok
end

-- ---------------------------------------------------------------- concatenation

function M.cat(list, dim)
  if type(list) ~= "table" or #list == 0 then raise("cat: expected a non-empty list of tensors") end
  local h1 = H(list[1], "cat")
  dim = dim or 1
  local d = norm_dim(h1, dim, "cat")
  local shape = shape_of(h1)
  local total, dt = 0, h1.dtype
  for i, t in ipairs(list) do
    local h = H(t, "cat")
    if h.ndim ~= h1.ndim then
      raise(string.format("cat: tensor %d has shape %s, tensor 1 has %s (ranks differ)", i, shape_str(h), shape_str(h1)))
    end
    for k = 0, h.ndim - 1 do
      if k ~= d and h.shape[k] ~= h1.shape[k] then
        raise(string.format("cat: tensor %d has shape %s, tensor 1 has %s (they must match except in dim %d)",
                            i, shape_str(h), shape_str(h1), dim))
      end
    end
    total = total + tonumber(h.shape[d])
    dt = C.lpo_promote_types(dt, h.dtype)
  end
  shape[d + 1] = total
  local out = M.zeros(shape, { dtype = DTYPE_NAME[dt] })
  local at = 1
  for _, t in ipairs(list) do
    local n = tonumber(t.handle.shape[d])
    if n > 0 then
      local v = out:narrow(d + 1, at, n)
      v:copy_(t)
      v:free()
    end
    at = at + n
  end
  return out
end

function M.stack(list, dim)
  if type(list) ~= "table" or #list == 0 then raise("stack: expected a non-empty list of tensors") end
  dim = dim or 1
  local parts = {}
  for i, t in ipairs(list) do parts[i] = t:unsqueeze(dim) end
  local out = M.cat(parts, dim)
  for _, p in ipairs(parts) do p:free() end
  return out
end

-- ---------------------------------------------------------------- indexing

-- t[i]: a number for a 1-D tensor, a view (row i) otherwise; t[{i, j, ...}] indexes
-- several dims at once.
local function index_get(t, k)
  local h = H(t, "index")
  if type(k) == "table" then
    local cur = t
    for n, i in ipairs(k) do
      local nxt = index_get(cur, i)
      if cur ~= t then cur:free() end
      if type(nxt) == "number" then
        if n < #k then raise(string.format("index: %d indices for a tensor of shape %s", #k, shape_str(h))) end
        return nxt
      end
      cur = nxt
    end
    return cur
  end
  if h.ndim == 0 then raise("index: cannot index a 0-d tensor (use :item())") end
  local z = norm_index(h, 0, k, "index")
  if h.ndim == 1 then
    cpu_only(h, "index")
    return read_at(h, tonumber(h.offset) + z * tonumber(h.strides[0]))
  end
  return new(C.lpo_tensor_select, h, 0, z)
end

local set_idx = ffi.new("int64_t[8]")

local function index_set(t, k, v)
  local h = H(t, "index")
  if type(k) == "table" then
    if #k == h.ndim and type(v) == "number" then
      for i = 1, #k do set_idx[i - 1] = norm_index(h, i - 1, k[i], "index") end
      if C.lpo_tensor_set(h, set_idx, v) ~= 0 then raise(last_error()) end
      return
    end
    local view = index_get(t, k)
    if type(view) == "number" then raise("index: cannot assign through a partial index") end
    methods.copy_(view, v)
    view:free()
    return
  end
  if h.ndim == 0 then raise("index: cannot index a 0-d tensor (use :fill_())") end
  local z = norm_index(h, 0, k, "index")
  if h.ndim == 1 then
    if type(v) ~= "number" then raise("index: assigning to an element needs a number, got " .. type(v)) end
    set_idx[0] = z
    if C.lpo_tensor_set(h, set_idx, v) ~= 0 then raise(last_error()) end
    return
  end
  local row = new(C.lpo_tensor_select, h, 0, z)
  methods.copy_(row, v)
  row:free()
end

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

local D = [[
lpo.tensor — tensors with dtype (f32, bf16, f16, i32, i64), shape, strides and shared
storage. INDEXING IS 1-BASED: dims 1..ndim (-1 = last), t[i] is row/element i, slices are
inclusive, argmax returns 1-based indices. Operators: a + b, a - b, a * b, a / b, a ^ b,
-a (elementwise, numpy broadcasting, torch type promotion); #t = size of dim 1; t[i];
t[{i, j}]; t[i] = v; tostring prints like torch. a == b is identity; use a:eq(b).
Creation: zeros ones full arange randn rand tensor cat stack; help(t.randn) etc.]]

doc.module(M, "lpo.tensor", {
  __module = D,
  zeros = { "zeros(shape [, {dtype=}]) -> tensor", "Zeros; shape as {2,3} or 2, 3. dtype defaults to f32." },
  ones = { "ones(shape [, {dtype=}]) -> tensor", "Ones; dtype defaults to f32." },
  full = { "full(shape, value [, {dtype=}]) -> tensor", "Filled with value; i64 for an integral value, else f32 (as torch)." },
  arange = { "arange([start,] stop [, step] [, {dtype=}]) -> tensor",
             "Values start, start+step, ... below stop (stop excluded, as torch). i64 when all arguments are integers." },
  randn = { "randn(shape [, {seed=, dtype=}]) -> tensor",
            "Standard normal values from Philox keyed by seed: a pure function of (seed, shape), identical on every run.\n" ..
            "Without a seed, draws from a per-process sequence set by manual_seed (default 0)." },
  rand = { "rand(shape [, {seed=, dtype=}]) -> tensor", "Uniform values in [0, 1) from Philox keyed by seed." },
  manual_seed = { "manual_seed(seed)", "Restarts the sequence used by randn/rand calls that give no seed." },
  tensor = { "tensor(value [, {dtype=}]) -> tensor",
             "From a number or nested tables of numbers (rectangular). i64 if all values are integers, else f32." },
  from_table = { "from_table(value [, {dtype=}]) -> tensor", "Same as tensor(value)." },
  cat = { "cat({t1, t2, ...} [, dim=1]) -> tensor", "Concatenates along dim (1-based); other dims must match." },
  stack = { "stack({t1, t2, ...} [, dim=1]) -> tensor", "Stacks equal-shaped tensors along a new dim." },
  matmul = { "matmul(a, b) -> tensor", "Matrix product with torch's rules (1-D operands, broadcast batches), via OpenBLAS sgemm." },
  is_tensor = { "is_tensor(x) -> boolean", "True for lpo tensors." },
  wrap = { "wrap(handle) -> tensor", "Takes ownership of an lpo_tensor* returned by an engine function (raises on NULL)." },
  live_bytes = { "live_bytes([device=0]) -> number", "Bytes the engine has allocated and not freed (0 = CPU, 1 = cuda:0)." },
  gc_config = { "gc_config([{min=, factor=}]) -> table",
                "Collection rule: when live bytes exceed the threshold, collect garbage and set the threshold to\n" ..
                "max(min, factor * live bytes). Defaults: min = 128 MiB, factor = 2." },
})

local mdocs = {
  size = { "t:size([dim]) -> table | number", "Shape as a table, or the size of one dim (1-based). Also t.shape." },
  dim = { "t:dim() -> number", "Number of dims (0 for a scalar tensor). Also t.ndim." },
  numel = { "t:numel() -> number", "Number of elements." },
  dtype = { "t:dtype() -> string", "'f32', 'bf16', 'f16', 'i32' or 'i64'." },
  device = { "t:device() -> string", "'cpu' or 'cuda:0'." },
  stride = { "t:stride([dim]) -> table | number", "Strides in elements." },
  is_contiguous = { "t:is_contiguous() -> boolean", "Row-major without gaps." },
  reshape = { "t:reshape(shape) -> tensor", "Same elements, new shape (one size may be -1); a view when the layout allows, else a copy." },
  view = { "t:view(shape) -> tensor", "Like reshape but never copies: raises when the layout does not allow a view." },
  transpose = { "t:transpose(dim1, dim2) -> tensor", "View with two dims swapped (1-based dims)." },
  t = { "t:t() -> tensor", "Transpose of a matrix (view)." },
  permute = { "t:permute(d1, d2, ...) -> tensor", "View with dims reordered (1-based)." },
  narrow = { "t:narrow(dim, start, length) -> tensor", "View of `length` entries of dim starting at `start` (1-based)." },
  slice = { "t:slice(dim [, first=1 [, last=-1 [, step=1]]]) -> tensor",
            "View of entries first..last (inclusive, 1-based, negative from the end) every step along dim." },
  select = { "t:select(dim, index) -> tensor", "View of one entry of dim (1-based), dim removed. t[i] is select(1, i)." },
  squeeze = { "t:squeeze([dim]) -> tensor", "Removes size-1 dims (or just dim)." },
  unsqueeze = { "t:unsqueeze(dim) -> tensor", "Inserts a size-1 dim at position dim (1..ndim+1; -1 appends)." },
  expand = { "t:expand(shape) -> tensor", "Broadcast view: size-1 dims repeat without copying (-1 keeps a size)." },
  contiguous = { "t:contiguous() -> tensor", "Itself (a new handle) when contiguous, else a contiguous copy." },
  clone = { "t:clone() -> tensor", "A contiguous copy." },
  to = { "t:to(dtype | 'cpu' | 'cuda') -> tensor", "Converts dtype (floats to ints truncate and saturate) or moves between devices." },
  float = { "t:float() -> tensor", "t:to('f32')." },
  totable = { "t:totable() -> table | number", "Nested Lua tables of the values (a number for a 0-d tensor)." },
  item = { "t:item() -> number", "The value of a one-element tensor." },
  fill_ = { "t:fill_(value) -> t", "Sets every element (through views)." },
  copy_ = { "t:copy_(src) -> t", "Copies src (tensor, table or number; broadcast, converted) into t." },
  sum = { "t:sum([dim [, keepdim]]) -> tensor", "Sum over dim (1-based) or all elements. Fixed order: deterministic." },
  mean = { "t:mean([dim [, keepdim]]) -> tensor", "Mean over dim or all elements." },
  max = { "t:max([dim [, keepdim]]) -> tensor [, indices]", "Max over all (0-d tensor) or along dim: values and 1-based indices." },
  min = { "t:min([dim [, keepdim]]) -> tensor [, indices]", "Min over all, or along dim: values and 1-based indices." },
  argmax = { "t:argmax([dim [, keepdim]]) -> tensor", "1-based index of the first maximum (flat index when no dim)." },
  argmin = { "t:argmin([dim [, keepdim]]) -> tensor", "1-based index of the first minimum." },
  softmax = { "t:softmax([dim=-1]) -> tensor", "exp(x - max) / sum along dim." },
  log_softmax = { "t:log_softmax([dim=-1]) -> tensor", "x - max - log(sum(exp(x - max))) along dim." },
  matmul = { "t:matmul(b) -> tensor", "Matrix product (see lpo.tensor.matmul)." },
  equal = { "t:equal(u) -> boolean", "Same shape and all elements equal." },
  allclose = { "t:allclose(u [, rtol=1e-5 [, atol=1e-8]]) -> boolean", "|t - u| <= atol + rtol * |u| everywhere." },
  free = { "t:free()", "Releases the handle now (views keep their storage); later use raises 'tensor was freed'." },
}
for name, d in pairs(mdocs) do doc.add(methods[name], "t:" .. d[1]:gsub("^t:", ""), d[2]) end
for name in pairs(BINOP) do
  doc.add(methods[name], "t:" .. name .. "(other) -> tensor", "Elementwise " .. name .. " with a tensor (broadcast) or a number.")
end
for name in pairs(UNOP) do doc.add(methods[name], "t:" .. name .. "() -> tensor", "Elementwise " .. name .. ".") end

return M
