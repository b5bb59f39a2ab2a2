-- lpo.safetensors from Lua: the fixture written by torch reads back with the values torch
-- reported, Lua tables write and read back (bf16/f16 rounded as torch rounds), shards,
-- and errors that name the file and tensor.
local ffi = require "ffi"
local T = require "lpo.testing"
local json = require "lpo.json"
local st = require "lpo.safetensors"

local FIX = "tests/fixtures/ckpt/"

local function f32_bits(x)
  local u = ffi.new("union { float f; uint32_t u; }")
  u.f = x
  return tonumber(u.u)
end

T.case("fixture values equal torch's", function()
  local f = st.open(FIX .. "small.safetensors")
  local exp = json.read_file(FIX .. "small.json")
  local names = f:names()
  T.eq(#names, 8, "tensor count")
  T.eq(f:count(), 8, "count")
  T.eq(f:metadata("note"), "lpo fixture", "metadata")
  for _, name in ipairs(names) do
    local e, t = exp[name], f:read(name)
    T.eq(#t.shape, #e.shape, name .. " ndim")
    if e.f32_bits then
      for i, b in ipairs(e.f32_bits) do
        local x = t[i]
        if x == x then T.eq(f32_bits(x), b, name .. "[" .. i .. "]") end
      end
    else
      for i, v in ipairs(e.values) do T.eq(t[i], v, name .. "[" .. i .. "]") end
    end
  end
  local info = f:info("bf16.mat")
  T.eq(info.dtype, "bf16", "dtype"); T.eq(info.shape[1], 4, "shape"); T.eq(info.nbytes, 24, "nbytes")
  T.raises(function() f:read("model.norm.weight") end, "'model.norm.weight'")
  f:close()
  T.raises(function() f:names() end, "closed")
end)

T.case("write tables, read back; shards", function()
  local dir = os.tmpname()
  os.remove(dir)
  local tensors = {
    w = { dtype = "f32", shape = { 2, 3 }, data = { 1, 2, 3, 4, 5, 6.5 } },
    h = { dtype = "bf16", shape = { 3 }, data = { 1.00390625, 1.01171875, -2 } },  -- ties to even
    i = { dtype = "i64", shape = { 2 }, data = { -3, 2 ^ 40 } },
  }
  st.write_sharded(dir, tensors, 40, { note = "lua" })
  local f = st.open(dir)
  T.eq(f:count(), 3, "count")
  T.eq(f:metadata("note"), "lua", "metadata")
  T.eq(f:read("w")[6], 6.5, "f32")
  local h = f:read("h"):table()
  T.eq(h[1], 1.0, "bf16 tie rounds to even (down)"); T.eq(h[2], 1.015625, "bf16 tie rounds to even (up)"); T.eq(h[3], -2, "bf16")
  T.eq(f:read("i")[2], 2 ^ 40, "i64")
  T.truthy(f:info("i").file:find("model%-0000%d%-of%-0000%d%.safetensors"), "sharded file names")
  T.truthy(tostring(f:read("w")):find("tensor f32 %[2, 3%]"), "tostring")
  f:close()
  os.execute("rm -rf '" .. dir .. "'")
  T.raises(function() st.write(dir .. ".x", { a = { dtype = "f64", shape = { 1 }, data = { 1 } } }) end, "f64")
  T.raises(function() st.write(dir .. ".x", { a = { dtype = "f32", shape = { 2 }, data = { 1 } } }) end, "'a'")
  T.raises(function() st.open(dir .. ".missing") end, dir .. ".missing")
end)

T.done()
