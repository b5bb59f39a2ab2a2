-- lpo.tensor_methods — the bulk of the tensor methods, installed into lpo.tensor by
-- calling this module's function with the module table, the method table and the
-- internals (handle checks, dim/index normalisation, error raising) of lua/lpo/tensor.lua.
-- Views, elementwise ops and operators, reductions, boolean comparisons, cat/stack and
-- t[i] indexing. Dims and indices are 1-based here (see lpo.tensor).
return function(M, methods, I)
local ffi, C, H, new, raise = I.ffi, I.C, I.H, I.new, I.raise
local norm_dim, norm_index, parse_shape, shape_buf, dims_buf = I.norm_dim, I.norm_index, I.parse_shape, I.shape_buf, I.dims_buf
local shape_of, shape_str, is_int, is_tensor = I.shape_of, I.shape_str, I.is_int, I.is_tensor
local read_at, cpu_only, last_error, values, DTYPE_NAME = I.read_at, I.cpu_only, I.last_error, I.values, I.DTYPE_NAME

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


I.binary, I.index_get, I.index_set, I.BINOP, I.UNOP = binary, index_get, index_set, BINOP, UNOP
end
