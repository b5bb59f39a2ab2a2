-- lpo.tensor from Lua: creation, table round trips, operators with broadcasting, 1-based
-- indexing and views, reductions, softmax, matmul, determinism of randn, error messages,
-- identity semantics of ==, explicit free, help docs. References are plain Lua loops over
-- nested tables.
local T = require "lpo.testing"
local tensor = require "lpo.tensor"
local ffi = require "ffi"
local C = require("lpo.ffi").load("lpo_tensor.h")

-- deterministic test values (an LCG, independent of the engine's generator)
local state = 12345
local function rnd()
  state = (state * 1103515245 + 12345) % 2147483648
  return state / 2147483648 * 6 - 3
end
local function rand_table(shape, depth)
  depth = depth or 1
  local t = {}
  for i = 1, shape[depth] do t[i] = depth == #shape and math.floor(rnd() * 100) / 64 or rand_table(shape, depth + 1) end
  return t
end
-- maps f over nested tables (elementwise, same shape)
local function map(a, f, b)
  if type(a) ~= "table" then return f(a, b) end
  local out = {}
  for i = 1, #a do out[i] = map(a[i], f, b and (type(b) == "table" and b[i] or b)) end
  return out
end
local function assert_close(got, want, tol, what)
  if type(want) ~= "table" then
    T.close(got, want, tol or 1e-6, tol or 1e-6, what)
    return
  end
  T.eq(type(got), "table", what)
  T.eq(#got, #want, (what or "") .. " length")
  for i = 1, #want do assert_close(got[i], want[i], tol, (what or "") .. "[" .. i .. "]") end
end
local f32 = function(x) return tonumber(ffi.cast("float", x)) end   -- rounds a double to f32 like the engine

T.case("creation and dtypes", function()
  T.eq(tensor.zeros(2, 3):dtype(), "f32", "zeros dtype")
  T.eq(tensor.ones({ 4 }, { dtype = "i32" }):sum():item(), 4, "ones i32 sum")
  T.eq(tensor.full({ 2 }, 7):dtype(), "i64", "full integral -> i64")
  T.eq(tensor.full({ 2 }, 0.5):dtype(), "f32", "full fractional -> f32")
  assert_close(tensor.arange(5):totable(), { 0, 1, 2, 3, 4 }, 0, "arange(5)")
  T.eq(tensor.arange(5):dtype(), "i64", "arange int dtype")
  assert_close(tensor.arange(0, 1, 0.25):totable(), { 0, 0.25, 0.5, 0.75 }, 0, "arange float")
  T.eq(tensor.arange(0, 1, 0.25):dtype(), "f32", "arange float dtype")
  T.eq(tensor.tensor(2.5):dim(), 0, "scalar tensor")
  T.eq(tensor.tensor(2.5):item(), 2.5, "scalar item")
  T.eq(tensor.tensor({ 1, 2 }):dtype(), "i64", "int table -> i64")
  T.eq(tensor.tensor({ 1, 2.5 }):dtype(), "f32", "float table -> f32")
  T.eq(tensor.tensor({}):dtype(), "f32", "empty table -> f32")
  T.eq(tensor.randn(3, 4, { dtype = "f16" }):dtype(), "f16", "randn dtype")
end)

T.case("table round trip, every dtype", function()
  local v = rand_table({ 2, 3, 4 })
  for _, dt in ipairs(tensor.dtypes) do
    local t = tensor.tensor(v, { dtype = dt })
    T.eq(table.concat(t:size(), ","), "2,3,4", dt .. " shape")
    local want = map(v, function(x)
      if dt == "f32" then return f32(x) end
      if dt == "bf16" then return C.lpo_bf16_to_f32(C.lpo_f32_to_bf16(x)) end
      if dt == "f16" then return C.lpo_f16_to_f32(C.lpo_f32_to_f16(x)) end
      return x < 0 and math.ceil(x) or math.floor(x)          -- ints truncate toward zero
    end)
    assert_close(t:totable(), want, 0, dt .. " values")
    assert_close(tensor.tensor(t:totable(), { dtype = dt }):totable(), want, 0, dt .. " second trip")
  end
  T.eq(tensor.tensor({ true, false }):totable()[1], 1, "booleans become 1/0")
  T.eq(tensor.tensor(7):totable(), 7, "0-d totable is a number")
end)

T.case("operators with broadcasting against Lua loops", function()
  local av, bv = rand_table({ 2, 3 }), rand_table({ 3 })
  local a, b = tensor.tensor(av), tensor.tensor(bv)
  local function bcast(f) return map(av, function(row) return map(row, f, bv) end) end
  local want_add = {}
  for i = 1, 2 do want_add[i] = {} for j = 1, 3 do want_add[i][j] = f32(av[i][j] + bv[j]) end end
  assert_close((a + b):totable(), want_add, 1e-6, "a + b")
  for i = 1, 2 do for j = 1, 3 do
    T.close((a - b)[i][j], f32(av[i][j] - bv[j]), 1e-6, 1e-7, "a - b")
    T.close((a * b)[i][j], f32(av[i][j] * bv[j]), 1e-6, 1e-7, "a * b")
    T.close((b / a)[i][j], f32(bv[j] / av[i][j]), 1e-6, 1e-7, "b / a")
    T.close((a ^ 2)[i][j], f32(av[i][j] ^ 2), 1e-6, 1e-7, "a ^ 2")
    T.close((2 - a)[i][j], f32(2 - av[i][j]), 1e-6, 1e-7, "2 - a")
    T.close((1 / a)[i][j], f32(1 / av[i][j]), 1e-6, 1e-7, "1 / a")
    T.close((-a)[i][j], -av[i][j], 0, 1e-7, "-a")
    T.close(a:maximum(b)[i][j], math.max(av[i][j], bv[j]), 0, 1e-7, "maximum")
    T.eq(a:gt(b)[i][j], av[i][j] > bv[j] and 1 or 0, "gt")
  end end
  local _ = bcast
  -- non-contiguous operand: a transposed view
  local at = a:t()
  T.truthy(not at:is_contiguous(), "transpose is a view")
  local s = at + at:clone()
  for i = 1, 3 do for j = 1, 2 do T.close(s[i][j], f32(2 * av[j][i]), 1e-6, 1e-7, "view + clone") end end
  -- promotion
  T.eq((tensor.arange(3) + tensor.arange(3)):dtype(), "i64", "i64 + i64")
  T.eq((tensor.arange(3) / 2):dtype(), "f32", "i64 / 2 is true division")
  T.eq((tensor.arange(3) * 2):dtype(), "i64", "i64 * 2")
  T.eq((tensor.arange(3) * 2.5):dtype(), "f32", "i64 * 2.5")
  T.eq((tensor.ones(2, { dtype = "bf16" }) + tensor.arange(2)):dtype(), "bf16", "bf16 + i64")
  T.eq((tensor.ones(2, { dtype = "bf16" }) + tensor.ones(2, { dtype = "f16" })):dtype(), "f32", "bf16 + f16")
  T.eq((tensor.ones(2, { dtype = "i32" }) + tensor.ones(2)):dtype(), "f32", "i32 + f32")
  T.eq(tensor.ones(2):eq(1):dtype(), "i32", "comparisons give i32")
end)

T.case("indexing is 1-based; views write through", function()
  local m = tensor.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, { dtype = "f32" })
  T.eq(#m, 2, "#m")
  T.eq(#m[1], 3, "#m[1]")
  T.eq(m[2][3], 6, "m[2][3]")
  T.eq(m[-1][-1], 6, "negative indices")
  T.eq(m[{ 1, 2 }], 2, "m[{1,2}]")
  local row = m[2]
  row[1] = 40                                     -- writes into m's storage
  T.eq(m[2][1], 40, "view writes through")
  m[1] = 0                                        -- a row from a number
  m[{ 2, 3 }] = -6
  assert_close(m:totable(), { { 0, 0, 0 }, { 40, 5, -6 } }, 0, "after writes")
  m[1] = { 7, 8, 9 }                              -- a row from a table
  T.eq(m[1][3], 9, "row from table")
  local v = tensor.arange(10):float()
  v[10] = 2.5
  T.eq(v[10], 2.5, "1-D element write")
  T.raises(function() return v[11] end, "index 11 out of range for dim 1 of size 10")
  T.raises(function() return v[0] end, "index 0 out of range")
  T.raises(function() v[11] = 1 end, "index 11 out of range")
  T.raises(function() return m[{ 1, 4 }] end, "index 4 out of range for dim 1 of size 3")
  T.raises(function() return #tensor.tensor(1) end, "0-d tensor has no length")
  T.raises(function() return m.nope end, "tensor has no field or method 'nope'")
end)

T.case("views against index arithmetic", function()
  local v = rand_table({ 3, 4, 5 })
  local t = tensor.tensor(v)
  local function at(x, i, j, k) return x[i][j][k] end
  local p = t:permute(3, 1, 2)
  local tr = t:transpose(1, 3)
  local nar = t:narrow(2, 2, 2)
  local sl = t:slice(3, 2, -1, 2)           -- entries 2, 4 of dim 3
  local sel = t:select(2, 3)
  local ex = t:narrow(1, 1, 1):expand(4, 4, 5)
  for i = 1, 3 do for j = 1, 4 do for k = 1, 5 do
    local x = f32(v[i][j][k])
    T.eq(at(p, k, i, j), x, "permute")
    T.eq(at(tr, k, j, i), x, "transpose")
    if j >= 2 and j <= 3 then T.eq(at(nar, i, j - 1, k), x, "narrow") end
    if k % 2 == 0 then T.eq(at(sl, i, j, k / 2), x, "slice step 2") end
    if j == 3 then T.eq(sel[i][k], x, "select") end
    if i == 1 then T.eq(at(ex, 4, j, k), x, "expand") end
  end end end
  T.eq(table.concat(sl:size(), ","), "3,4,2", "slice shape")
  local r = t:reshape(-1, 5)
  T.eq(table.concat(r:size(), ","), "12,5", "reshape -1")
  T.eq(r[6][2], f32(v[2][2][2]), "reshape order")
  T.raises(function() return tr:view(60) end, "use reshape")
  T.eq(tr:reshape(60)[2], f32(v[2][1][1]), "reshape of a transposed tensor copies in logical order")
  T.eq(table.concat(t:unsqueeze(-1):size(), ","), "3,4,5,1", "unsqueeze(-1)")
  T.eq(table.concat(t:unsqueeze(1):squeeze():size(), ","), "3,4,5", "squeeze")
end)

T.case("reductions against Lua loops (1-based argmax)", function()
  local v = rand_table({ 3, 4 })
  v[2][3] = v[2][1]                           -- a tie: argmax must pick the first
  local t = tensor.tensor(v)
  for i = 1, 3 do
    local s, best, bi, lo, li = 0, -math.huge, 0, math.huge, 0
    for j = 1, 4 do
      local x = f32(v[i][j])
      s = s + x
      if x > best then best, bi = x, j end
      if x < lo then lo, li = x, j end
    end
    T.close(t:sum(2)[i], s, 1e-6, 1e-6, "sum(2)")
    T.close(t:mean(2)[i], s / 4, 1e-6, 1e-6, "mean(2)")
    local mx, ix = t:max(2)
    T.eq(mx[i], best, "max values")
    T.eq(ix[i], bi, "max indices are 1-based")
    T.eq(t:argmin(2)[i], li, "argmin")
    T.eq(t:min(2)[i], lo, "min")
  end
  local col = 0
  for i = 1, 3 do col = col + f32(v[i][2]) end
  T.close(t:sum(1)[2], col, 1e-6, 1e-6, "sum(1)")
  T.eq(table.concat(t:sum(1, true):size(), ","), "1,4", "keepdim")
  T.eq(t:sum():dim(), 0, "sum() is 0-d")
  local flat_best, flat_i = -math.huge, 0
  for i = 1, 3 do for j = 1, 4 do if f32(v[i][j]) > flat_best then flat_best, flat_i = f32(v[i][j]), (i - 1) * 4 + j end end end
  T.eq(t:argmax():item(), flat_i, "flat argmax is 1-based")
  T.eq(t:max():item(), flat_best, "max()")
  T.eq(tensor.arange(5):sum():dtype(), "i64", "integer sum")
  T.eq(tensor.arange(5):mean():item(), 2, "integer mean")
end)

T.case("softmax and log_softmax", function()
  local v = rand_table({ 2, 5 })
  local t = tensor.tensor(v)
  local sm, lsm, sm1 = t:softmax(2), t:log_softmax(), t:softmax(1)
  for i = 1, 2 do
    local mx, z = -math.huge, 0
    for j = 1, 5 do mx = math.max(mx, f32(v[i][j])) end
    for j = 1, 5 do z = z + math.exp(f32(v[i][j]) - mx) end
    for j = 1, 5 do
      T.close(sm[i][j], math.exp(f32(v[i][j]) - mx) / z, 1e-5, 1e-7, "softmax")
      T.close(lsm[i][j], f32(v[i][j]) - mx - math.log(z), 1e-5, 1e-6, "log_softmax")
    end
  end
  for j = 1, 5 do
    local a, b = f32(v[1][j]), f32(v[2][j])
    local m = math.max(a, b)
    T.close(sm1[1][j], math.exp(a - m) / (math.exp(a - m) + math.exp(b - m)), 1e-5, 1e-7, "softmax(1)")
  end
end)

T.case("matmul against a naive loop", function()
  local av, bv = rand_table({ 4, 6 }), rand_table({ 6, 3 })
  local a, b = tensor.tensor(av), tensor.tensor(bv)
  local c, ct = a:matmul(b), tensor.matmul(b:t(), a:t())
  for i = 1, 4 do for j = 1, 3 do
    local s, mag = 0, 0
    for k = 1, 6 do s = s + f32(av[i][k]) * f32(bv[k][j]); mag = mag + math.abs(f32(av[i][k]) * f32(bv[k][j])) end
    T.truthy(math.abs(c[i][j] - s) <= 1e-5 * mag, "matmul within 1e-5 * sum|ab|")
    T.truthy(math.abs(ct[j][i] - s) <= 1e-5 * mag, "transposed operands")
  end end
  T.eq(a[1]:matmul(b):dim(), 1, "vector @ matrix")
  T.raises(function() return a:matmul(a) end, "matmul: shapes [4,6] and [4,6] are not aligned")
  T.raises(function() return tensor.arange(4):reshape(2, 2):matmul(tensor.arange(4):reshape(2, 2)) end,
           "integer matmul is not supported")
end)

T.case("randn is a pure function of (seed, shape)", function()
  local a, b = tensor.randn({ 2, 3 }, { seed = 1 }), tensor.randn({ 2, 3 }, { seed = 1 })
  T.truthy(a:equal(b), "same seed, same values")
  T.truthy(not a:equal(tensor.randn({ 2, 3 }, { seed = 2 })), "different seed, different values")
  -- element i is lpo_philox_normal from counter 4i of the stream lpo_philox_key(seed, 0, 0, 0, 0)
  local rng = ffi.new("lpo_philox")
  local key = C.lpo_philox_key(1, 0, 0, 0, 0)
  for i = 0, 5 do
    C.lpo_philox_init(rng, key, 4 * i)
    T.eq(a[math.floor(i / 3) + 1][i % 3 + 1], f32(C.lpo_philox_normal(rng)), "randn element " .. i)
  end
  T.truthy(tensor.randn(6, { seed = 1 }):equal(a:reshape(6)), "values do not depend on the shape's split")
  local u = tensor.rand(1000, { seed = 3 })
  T.truthy(u:min():item() >= 0 and u:max():item() < 1, "rand in [0, 1)")
  tensor.manual_seed(9)
  local x1 = tensor.randn(4)
  tensor.manual_seed(9)
  T.truthy(x1:equal(tensor.randn(4)), "manual_seed replays unseeded calls")
end)

T.case("errors name shapes, indices and dtypes", function()
  local a, b = tensor.ones(2, 3), tensor.ones(4)
  T.raises(function() return a + b end, "add: shapes [2,3] and [4] cannot broadcast")
  T.raises(function() return a * tensor.ones(3, 2) end, "mul: shapes [2,3] and [3,2] cannot broadcast")
  T.raises(function() return a:to("f64") end, "to: unknown dtype 'f64'")
  T.raises(function() return tensor.zeros(2, { dtype = "int8" }) end, "zeros: unknown dtype 'int8'")
  T.raises(function() return tensor.randn(2, { dtype = "i64" }) end, "randn: dtype i64 is not a float dtype")
  T.raises(function() return a:sum(3) end, "sum: dim 3 out of range for shape [2,3] (dims are 1-based")
  T.raises(function() return a:transpose(0, 1) end, "transpose: dim 0 out of range")
  T.raises(function() return a:narrow(2, 3, 2) end, "narrow: start 3 length 2 out of range for dim 2 of size 3")
  T.raises(function() return a:slice(1, 1, 5) end, "slice: range 1..5 out of range for dim 1 of size 2")
  T.raises(function() return a:reshape(4, 2) end, "reshape: shape [4,2] is invalid for input of shape [2,3]")
  T.raises(function() return a:item() end, "item: tensor has 6 elements (shape [2,3])")
  T.raises(function() return tensor.tensor({ { 1, 2 }, { 3 } }) end, "ragged nested table")
  T.raises(function() return tensor.tensor({ 1, "x" }) end, "element [2] is a string")
  T.raises(function() return a + "x" end, "add: expected a tensor or a number, got string")
  T.raises(function() return a:copy_(tensor.ones(3, 2)) end, "copy_: source shape [3,2] cannot broadcast to destination shape [2,3]")
  T.raises(function() return tensor.cat({ a, b }) end, "cat: tensor 2 has shape [4], tensor 1 has [2,3]")
  local msg = T.raises(function() return a + b end, "cannot broadcast")
  T.truthy(msg:find("test_tensor.lua:%d+: add:"), "the message points at the caller's line: " .. msg)
end)

T.case("== is identity, free() is explicit", function()
  local a = tensor.ones(3)
  T.truthy(a == a, "a == a")
  T.truthy(not (a == nil), "a == nil is false")
  T.truthy(a ~= nil, "a ~= nil")
  T.truthy(a ~= a:clone(), "a clone is another tensor")
  local v = a:narrow(1, 2, 2)
  a:free()
  T.raises(function() return a + 1 end, "add: tensor was freed")
  T.eq(v:sum():item(), 2, "a view keeps the storage alive after free()")
  a:free()                                    -- twice is harmless
end)

T.case("cat, stack, copy_, conversions", function()
  local x, y = tensor.arange(6):reshape(2, 3), tensor.arange(3):reshape(1, 3)
  assert_close(tensor.cat({ x, y }):totable(), { { 0, 1, 2 }, { 3, 4, 5 }, { 0, 1, 2 } }, 0, "cat dim 1")
  T.eq(table.concat(tensor.cat({ x, x }, 2):size(), ","), "2,6", "cat dim 2")
  T.eq(table.concat(tensor.stack({ x, x }):size(), ","), "2,2,3", "stack")
  local f = tensor.tensor({ -2.7, 2.7, 1e10, 0 / 0 })
  assert_close(f:to("i32"):totable(), { -2, 2, 2147483647, 0 }, 0, "float -> i32 truncates and saturates, NaN -> 0")
  T.eq(f:to("bf16"):to("f32")[1], C.lpo_bf16_to_f32(C.lpo_f32_to_bf16(-2.7)), "bf16 rounding")
  local z = tensor.zeros(2, 3)
  z:copy_(tensor.tensor({ 1, 2, 3 }))
  assert_close(z:totable(), { { 1, 2, 3 }, { 1, 2, 3 } }, 0, "copy_ broadcasts")
  T.truthy(z:allclose(z + 1e-7) and not z:allclose(z + 1e-3), "allclose")
  T.raises(function() return tensor.ones(2):to("cuda") end, "to_device: cannot move a tensor to cuda:0")
end)

T.case("help(t.randn) works", function()
  local doc = require "lpo.doc"
  T.truthy(doc.help(tensor.randn):find("^lpo%.tensor%.randn%(shape"), "module function doc")
  T.truthy(doc.help(tensor.ones(1).sum):find("^t:sum%("), "method doc")
  T.truthy(doc.help(tensor):find("1%-BASED"), "module doc says indexing is 1-based")
end)

-- T.done() leaves through os.exit, which skips finalizers: collect first so the
-- sanitizer build sees every tensor freed.
collectgarbage("collect")
collectgarbage("collect")
T.done()
