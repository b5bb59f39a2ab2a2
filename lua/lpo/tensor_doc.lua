-- lpo.tensor_doc — help(x) texts for lpo.tensor's functions and tensor methods,
-- registered with lpo.doc when lpo.tensor loads.
local doc = require "lpo.doc"

return function(M, methods, I)
local BINOP, UNOP = I.BINOP, I.UNOP
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
end
