-- lpo.safetensors — a small Lua view of safetensors checkpoints (handy in the REPL):
--
--   local st = require "lpo.safetensors"
--   local f = st.open("checkpoints/tiny")            -- a file, an index.json, or a model dir
--   for _, name in ipairs(f:names()) do print(name, f:info(name).dtype) end
--   local t = f:read("model.norm.weight")             -- { shape = {...}, data = float[?], numel = n }
--   print(t[1], t:table())                            -- 1-based element access; a Lua table copy
--   f:close()
--   st.write("x.safetensors", { w = { dtype = "f32", shape = {2, 2}, data = {1, 2, 3, 4} } })
--
-- Everything is validated by the C reader (engine/model/safetensors.c); errors name the
-- file and the tensor.
local ffi = require "ffi"
local lffi = require "lpo.ffi"
local errors = require "lpo.errors"
local json = require "lpo.json"

local C = lffi.load("lpo_safetensors.h")

local M = {}

local dtypes = { f32 = 0, bf16 = 1, f16 = 2, i32 = 3, i64 = 4 }
local dtype_names = { [0] = "f32", "bf16", "f16", "i32", "i64" }
local ctypes = { [0] = "float", "uint16_t", "uint16_t", "int32_t", "int64_t" }

local File = {}
File.__index = File

--- open(path) -> file: a .safetensors file, a model.safetensors.index.json, or a directory.
function M.open(path)
  local h = C.lpo_st_open(path)
  if h == nil then errors.raise(nil, "%s", lffi.last_error()) end
  return setmetatable({ h = ffi.gc(h, C.lpo_st_close), path = path }, File)
end

function File:close()
  if self.h then C.lpo_st_close(ffi.gc(self.h, nil)); self.h = nil end
end

local function handle(self)
  if not self.h then errors.raise(self.path, "checkpoint is closed") end
  return self.h
end

function File:count() return C.lpo_st_count(handle(self)) end

--- Tensor names, sorted.
function File:names()
  local h, out = handle(self), {}
  for i = 0, C.lpo_st_count(h) - 1 do out[#out + 1] = ffi.string(C.lpo_st_name(h, i)) end
  return out
end

local function index_of(self, name)
  local i = C.lpo_st_find(handle(self), name)
  if i < 0 then errors.raise(self.path, "tensor '%s' is not in this checkpoint", name) end
  return i
end

--- info(name) -> { dtype = "bf16", shape = {...}, numel =, nbytes =, file = }
function File:info(name)
  local h, i = handle(self), index_of(self, name)
  local shape = ffi.new("int64_t[8]")
  local nd = C.lpo_st_shape(h, i, shape)
  local s = {}
  for d = 0, nd - 1 do s[#s + 1] = tonumber(shape[d]) end
  return { dtype = dtype_names[C.lpo_st_dtype(h, i)], shape = s, numel = tonumber(C.lpo_st_numel(h, i)),
           nbytes = tonumber(C.lpo_st_nbytes(h, i)), file = ffi.string(C.lpo_st_file(h, i)) }
end

--- metadata(key) -> string or nil (from __metadata__)
function File:metadata(key)
  local v = C.lpo_st_metadata(handle(self), key)
  return v ~= nil and ffi.string(v) or nil
end

local Tensor = {}
Tensor.__index = function(t, k)
  if type(k) == "number" then
    if k < 1 or k > t.numel then error("index " .. k .. " out of range 1.." .. t.numel, 2) end
    return tonumber(t.data[k - 1])
  end
  return Tensor[k]
end
function Tensor:table()
  local out = {}
  for i = 0, self.numel - 1 do out[i + 1] = tonumber(self.data[i]) end
  return out
end
Tensor.__tostring = function(t)
  local parts = {}
  for i = 0, math.min(t.numel, 6) - 1 do parts[#parts + 1] = string.format("%.6g", tonumber(t.data[i])) end
  return string.format("tensor %s [%s] { %s%s }", t.dtype, table.concat(t.shape, ", "), table.concat(parts, ", "),
                       t.numel > 6 and ", ..." or "")
end

--- read(name) -> tensor: floats (f32/bf16/f16 converted to f32) or integers, with
--- .shape, .numel, .dtype, .data (cdata array), t[i] (1-based) and t:table().
function File:read(name)
  local h = handle(self)
  local info = self:info(name)
  local n = math.max(1, info.numel)
  local data, rc
  if info.dtype == "i32" or info.dtype == "i64" then
    data = ffi.new(ctypes[dtypes[info.dtype]] .. "[?]", n)
    rc = C.lpo_st_read_raw(h, name, data, dtypes[info.dtype], -1, nil)
  else
    data = ffi.new("float[?]", n)
    rc = C.lpo_st_read_f32(h, name, data, -1, nil)
  end
  if rc ~= 0 then errors.raise(nil, "%s", lffi.last_error()) end
  return setmetatable({ name = name, dtype = info.dtype == "i32" and "i32" or info.dtype == "i64" and "i64" or "f32",
                        shape = info.shape, numel = info.numel, data = data }, Tensor)
end

File.__tostring = function(self)
  if not self.h then return "safetensors(" .. self.path .. ", closed)" end
  return string.format("safetensors(%s, %d tensors)", self.path, self:count())
end

-- Writing -------------------------------------------------------------------------------

-- tensors: { name = { dtype, shape, data } } or a list of { name =, dtype, shape, data };
-- data is a cdata pointer of the dtype's C type, or a Lua table of numbers (converted).
local function pack(tensors)
  local list = {}
  if #tensors > 0 then list = tensors
  else for name, t in pairs(tensors) do list[#list + 1] = setmetatable({ name = name }, { __index = t }) end end
  local arr = ffi.new("lpo_st_tensor[?]", math.max(1, #list))
  local keep = {}
  for i, t in ipairs(list) do
    local dt = dtypes[t.dtype or "f32"]
    if not dt then errors.raise("safetensors", "tensor '%s': dtype '%s' is not one of f32, bf16, f16, i32, i64", tostring(t.name), tostring(t.dtype)) end
    local shape = t.shape or { type(t.data) == "table" and #t.data or 0 }
    local numel = 1
    for _, d in ipairs(shape) do numel = numel * d end
    local data = t.data
    if type(data) == "table" then
      if #data ~= numel then errors.raise("safetensors", "tensor '%s': %d values for shape of %d elements", t.name, #data, numel) end
      local buf = ffi.new(ctypes[dt] .. "[?]", math.max(1, numel))
      for k = 1, numel do
        local v = data[k]
        if dt == 1 then buf[k - 1] = C.lpo_f32_to_bf16(v) elseif dt == 2 then buf[k - 1] = C.lpo_f32_to_f16(v) else buf[k - 1] = v end
      end
      data = buf
    end
    local name = ffi.new("char[?]", #t.name + 1, t.name)
    keep[#keep + 1], keep[#keep + 2] = name, data
    local e = arr[i - 1]
    e.name, e.dtype, e.ndim, e.data = name, dt, #shape, data
    for d = 1, #shape do e.shape[d - 1] = shape[d] end
  end
  return arr, #list, keep
end

local function meta_json(meta)
  if meta == nil then return nil end
  return json.encode(meta)
end

--- write(path, tensors, metadata) — one file, atomically. metadata: { key = "string" }.
function M.write(path, tensors, metadata)
  local arr, n, keep = pack(tensors)
  local rc = C.lpo_st_write(path, arr, n, meta_json(metadata))
  keep = nil
  if rc ~= 0 then errors.raise(nil, "%s", lffi.last_error()) end
end

--- write_sharded(dir, tensors, max_shard_bytes, metadata) — HF layout (shards + index).
function M.write_sharded(dir, tensors, max_shard_bytes, metadata)
  local arr, n, keep = pack(tensors)
  local rc = C.lpo_st_write_sharded(dir, arr, n, max_shard_bytes or 0, meta_json(metadata))
  keep = nil
  if rc ~= 0 then errors.raise(nil, "%s", lffi.last_error()) end
end

require("lpo.doc").module(M, "lpo.safetensors", {
  __module = "inspect, read and write safetensors checkpoints (files, shards, HF model dirs)",
  open = { "open(path) -> file", "f:names(), f:info(name), f:read(name) -> tensor, f:metadata(key), f:close()" },
  write = { "write(path, tensors, metadata)", "tensors: { name = { dtype = 'f32', shape = {..}, data = table|cdata } }" },
  write_sharded = { "write_sharded(dir, tensors, max_shard_bytes, metadata)", "model.safetensors or HF shards + index" },
})

return M
