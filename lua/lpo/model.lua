-- lpo.model — the policy / reference transformer (Llama, Qwen2 and the code models on
-- them), bound from engine/model through the FFI.
--
--   local model = require "lpo.model"
--   local m = model.load("checkpoints/tiny")                 -- a Hugging Face directory
--   local m = model.new({ model_type = "qwen2", vocab_size = 512, hidden_size = 64,
--                         intermediate_size = 128, num_hidden_layers = 2,
--                         num_attention_heads = 4, num_key_value_heads = 2 }, { seed = 1 })
--   local seq = m:logprobs({ B = 2, T = 5, tokens = int32[10], mask = float[10] }, { grad = true })
--   m:backward({ 0.5, -0.5 })        -- dLoss/dseq; gradients accumulate
--   m:save("out/ckpt")               -- config.json + model.safetensors (transformers loads it)
--
-- Batches: tokens [B,T] (int32, right-padded), mask [B,T] (float): seq[b] = sum_t mask[b,t]
-- * log p(tokens[b,t] | tokens[b,<t]); mask[b,0] must be 0 (see engine/include/lpo_model.h).
-- A batch is { B, T, tokens = cdata, mask = cdata } (0-based, row-major, as
-- lpo.train.make_batch builds it) or { tokens = {{...}, ...}, mask = {{...}, ...} } as Lua
-- tables (ragged rows are padded with batch.pad or 0 and mask 0), or with
-- prompt_lens = {...} instead of mask (mask 1 from the prompt's end to the row's end).
--
-- Memory: parameters at load/new; activations (and gradients for training) at reserve,
-- which logprobs calls by itself when a batch does not fit (never inside the C step).
local ffi = require "ffi"
local lffi = require "lpo.ffi"
local errors = require "lpo.errors"
local json = require "lpo.json"

lffi.load("lpo_backend.h")
lffi.load("lpo_safetensors.h")
local C = lffi.load("lpo_model.h")

local M = {}
local Model = {}
Model.__index = Model
local Cache = {}
Cache.__index = Cache

local dtypes = { f32 = C.LPO_F32, float32 = C.LPO_F32, bf16 = C.LPO_BF16, bfloat16 = C.LPO_BF16,
                 f16 = C.LPO_F16, float16 = C.LPO_F16 }

local function check(rc, where)
  if rc == nil or rc == -1 or (type(rc) == "cdata" and rc == nil) then
    errors.raise(where, "%s", lffi.last_error())
  end
  return rc
end

local function wrap(h, where)
  if h == nil then errors.raise(where, "%s", lffi.last_error()) end
  local self = setmetatable({ h = ffi.gc(h, C.lpo_model_free), train = true, bmax = 0, tmax = 0,
                              out_cap = 0 }, Model)
  local cfg = C.lpo_model_get_config(h)
  self.vocab_size = cfg.vocab_size
  return self
end

--- Loads a Hugging Face model directory (config.json + model.safetensors or shards).
function M.load(dir, opts)
  if type(dir) ~= "string" then errors.raise("model.load", "expected a directory path, got %s", type(dir)) end
  local self = wrap(C.lpo_model_load(dir), "model.load")
  self.path = dir
  if opts and opts.train == false then self.train = false end
  return self
end

--- A new model from a config (a Lua table of config.json fields, or JSON text), with
--- parameters drawn from Philox(opts.seed or 0).
function M.new(config, opts)
  opts = opts or {}
  local text = type(config) == "string" and config or json.encode(config)
  local self = wrap(C.lpo_model_new(text, opts.seed or 0), "model.new")
  if opts.train == false then self.train = false end
  return self
end

--- Parses config.json text or a table and returns the engine's view of it (a table).
function M.parse_config(config)
  local text = type(config) == "string" and config or json.encode(config)
  local c = ffi.new("lpo_model_config")
  check(C.lpo_model_config_parse(c, text, "config"), "model.parse_config")
  local kinds = { [0] = "default", "linear", "dynamic", "llama3" }
  return { model_type = c.arch == C.LPO_ARCH_QWEN2 and "qwen2" or "llama", vocab_size = c.vocab_size,
           hidden_size = c.hidden_size, intermediate_size = c.intermediate_size, num_hidden_layers = c.num_layers,
           num_attention_heads = c.num_heads, num_key_value_heads = c.num_kv_heads, head_dim = c.head_dim,
           max_position_embeddings = c.max_position_embeddings, rms_norm_eps = c.rms_norm_eps,
           rope_theta = c.rope_theta, rope_type = kinds[c.rope_kind], rope_factor = c.rope_factor,
           tie_word_embeddings = c.tie_word_embeddings ~= 0, qkv_bias = c.qkv_bias ~= 0, o_bias = c.o_bias ~= 0 }
end

--- Sets the CPU thread count (OpenBLAS); returns the count in force.
function M.set_threads(n) return C.lpo_cpu_set_threads(n or 0) end

-- ---- memory ------------------------------------------------------------------------------

--- Sizes activations (and, with train, gradients) for batches up to max_batch x max_seq.
function Model:reserve(max_batch, max_seq, train)
  if train == nil then train = self.train end
  check(C.lpo_model_reserve(self.h, max_batch, max_seq, train and 1 or 0), "model:reserve")
  self.bmax, self.tmax, self.reserved_train = max_batch, max_seq, train
  return self
end

-- Grows the reservation to fit B x T (T rounded up to 64 so growing lengths do not
-- reallocate at every batch).
local function fit(self, B, T, train)
  if B <= self.bmax and T <= self.tmax and (self.reserved_train or not train) then return end
  local tm = math.max(self.tmax, math.ceil(T / 64) * 64)
  self:reserve(math.max(self.bmax, B), tm, train or self.reserved_train)
end

local function outputs(self, n, B)
  if n > self.out_cap then
    self.tok_out = ffi.new("float[?]", n)
    self.out_cap = n
  end
  if not self.seq_out or B > self.seq_cap then
    self.seq_out = ffi.new("float[?]", B)
    self.seq_cap = B
  end
end

--- The memory plan: MiB per buffer (parameters, gradients, activations).
function Model:plan()
  local buf = ffi.new("char[?]", 8192)
  local n = C.lpo_model_plan(self.h, buf, 8192)
  return ffi.string(buf, math.min(n, 8191))
end

-- ---- batches -----------------------------------------------------------------------------

-- Normalizes a batch to { B, T, tokens = int32*, mask = float* } (keeps Lua buffers alive).
local function as_batch(batch)
  if type(batch) ~= "table" then errors.raise("model:logprobs", "batch must be a table, got %s", type(batch)) end
  if type(batch.tokens) == "cdata" then
    local B, T = batch.B, batch.T
    if type(B) ~= "number" or type(T) ~= "number" then errors.raise("model:logprobs", "a cdata batch needs B and T") end
    if type(batch.mask) ~= "cdata" then errors.raise("model:logprobs", "a cdata batch needs a float mask [B*T]") end
    return { B = B, T = T, tokens = ffi.cast("const int32_t *", batch.tokens), mask = ffi.cast("const float *", batch.mask),
             keep = batch }
  end
  local rows = batch.tokens
  if type(rows) ~= "table" or #rows == 0 then errors.raise("model:logprobs", "batch.tokens must be a non-empty list of rows") end
  local B, T = #rows, 1
  for b = 1, B do
    if type(rows[b]) ~= "table" then errors.raise("model:logprobs", "batch.tokens[%d] must be a list of ids", b) end
    T = math.max(T, #rows[b])
  end
  local tokens, mask = ffi.new("int32_t[?]", B * T), ffi.new("float[?]", B * T)
  local pad = batch.pad or 0
  for b = 1, B do
    local row, base = rows[b], (b - 1) * T
    local m = batch.mask and batch.mask[b]
    local p = batch.prompt_lens and batch.prompt_lens[b]
    if not m and not p then errors.raise("model:logprobs", "row %d needs batch.mask[%d] or batch.prompt_lens[%d]", b, b, b) end
    for t = 1, T do
      tokens[base + t - 1] = row[t] or pad
      if t <= #row then
        if m then mask[base + t - 1] = m[t] or 0
        else mask[base + t - 1] = (t > math.max(1, p)) and 1 or 0 end
      end
    end
  end
  return { B = B, T = T, tokens = tokens, mask = mask }
end
M.as_batch = as_batch

--- Per-sequence log-probs (1-based Lua array of B numbers), and the per-token log-probs
--- as a float* [B*T] (0-based b*T+t; valid until the next call). opts.grad = true keeps
--- the activations for one m:backward (default: the model's train setting).
function Model:logprobs(batch, opts)
  local bt = as_batch(batch)
  local grad = opts and opts.grad
  if grad == nil then grad = self.train end
  fit(self, bt.B, bt.T, grad)
  outputs(self, bt.B * bt.T, bt.B)
  check(C.lpo_model_logprobs(self.h, bt.tokens, bt.mask, bt.B, bt.T, self.tok_out, self.seq_out), "model:logprobs")
  self.last_B, self.last_T = bt.B, bt.T
  local seq = {}
  for b = 1, bt.B do seq[b] = tonumber(self.seq_out[b - 1]) end
  return seq, self.tok_out
end

--- Accumulates gradients of sum_b dseq[b] * seq[b] from the last logprobs.
--- dseq: Lua array of B numbers or a float* [B].
function Model:backward(dseq)
  local B = self.last_B or 0
  local d = dseq
  if type(dseq) == "table" then
    if #dseq ~= B then errors.raise("model:backward", "dseq has %d entries, the last batch had %d rows", #dseq, B) end
    d = ffi.new("float[?]", B)
    for b = 1, B do d[b - 1] = dseq[b] end
  end
  check(C.lpo_model_backward(self.h, d), "model:backward")
end

--- Backward from per-token gradients dtok [B*T] (float*, or a Lua array of B*T numbers).
function Model:backward_tokens(dtok)
  local d = dtok
  if type(dtok) == "table" then
    d = ffi.new("float[?]", #dtok)
    for i = 1, #dtok do d[i - 1] = dtok[i] end
  end
  check(C.lpo_model_backward_tokens(self.h, d), "model:backward_tokens")
end

--- Full logits of every position: batch = { B, T, tokens = int32* } or a list of token
--- rows (ragged rows padded with 0). Returns float* [B*T*V] (a new buffer), B, T, V.
function Model:logits(batch)
  local B, T, tokens = batch.B, batch.T, batch.tokens
  if type(tokens) ~= "cdata" then
    local rows = batch.tokens or batch
    B, T = #rows, 1
    for b = 1, B do T = math.max(T, #rows[b]) end
    tokens = ffi.new("int32_t[?]", B * T)
    for b = 1, B do for t = 1, #rows[b] do tokens[(b - 1) * T + t - 1] = rows[b][t] end end
  end
  fit(self, B, T, false)
  local V = self.vocab_size
  local out = ffi.new("float[?]", B * T * V)
  check(C.lpo_model_logits(self.h, ffi.cast("const int32_t *", tokens), B, T, out), "model:logits")
  return out, B, T, V
end

-- ---- parameters --------------------------------------------------------------------------

function Model:zero_grad() C.lpo_model_zero_grad(self.h) end

--- (float* parameters, count) — the flat buffer the optimizer updates.
function Model:params() return C.lpo_model_params(self.h), tonumber(C.lpo_model_num_params(self.h)) end

--- (float* gradients or nil before a training reservation, count).
function Model:grads()
  local g = C.lpo_model_grads(self.h)
  if g == nil then
    -- The optimizer may ask before the first batch: reserve a minimal training arena.
    if self.train then fit(self, 1, 1, true); g = C.lpo_model_grads(self.h) end
    if g == nil then return nil, tonumber(C.lpo_model_num_params(self.h)) end
  end
  return g, tonumber(C.lpo_model_num_params(self.h))
end

--- Tensors in Hugging Face terms: { name, offset (0-based, in floats), numel, shape, decay }.
function Model:tensors()
  if self._tensors then return self._tensors end
  local out, t = {}, ffi.new("lpo_model_tensor")
  for i = 0, C.lpo_model_num_tensors(self.h) - 1 do
    C.lpo_model_tensor_info(self.h, i, t)
    local shape = {}
    for d = 0, t.ndim - 1 do shape[d + 1] = tonumber(t.shape[d]) end
    out[#out + 1] = { name = ffi.string(t.name), offset = tonumber(t.offset), numel = tonumber(t.numel),
                      shape = shape, decay = t.decay ~= 0 }
  end
  self._tensors = out
  return out
end

--- A tensor's values as a Lua array (for inspection and tests).
function Model:tensor(name, which)
  for _, t in ipairs(self:tensors()) do
    if t.name == name then
      local base = C.lpo_model_params(self.h)
      if which == "grad" then base = C.lpo_model_grads(self.h) end
      if base == nil then errors.raise("model:tensor", "no gradients yet") end
      local v = {}
      for i = 0, t.numel - 1 do v[i + 1] = tonumber(base[t.offset + i]) end
      return v, t
    end
  end
  errors.raise("model:tensor", "no tensor named '%s'", tostring(name))
end

function Model:num_params() return tonumber(C.lpo_model_num_params(self.h)) end

--- Parameter counts: total, embedding, lm_head (0 when tied), non_embedding, per_layer.
function Model:param_counts()
  local c = { total = self:num_params(), embedding = 0, lm_head = 0, norm = 0 }
  for _, t in ipairs(self:tensors()) do
    if t.name == "model.embed_tokens.weight" then c.embedding = t.numel
    elseif t.name == "lm_head.weight" then c.lm_head = t.numel
    elseif t.name == "model.norm.weight" then c.norm = t.numel end
  end
  local cfg = self:config()
  c.non_embedding = c.total - c.embedding - c.lm_head
  c.per_layer = (c.non_embedding - c.norm) / cfg.num_hidden_layers
  return c
end

--- config.json as a table (what save writes).
function Model:config() return json.decode(ffi.string(C.lpo_model_config_json(self.h)), "config.json") end

-- ---- checkpoints -------------------------------------------------------------------------

--- Writes config.json + model.safetensors (opts.dtype "f32"|"bf16"|"f16", default the
--- config's torch_dtype; opts.shard_mb splits into shards + index).
function Model:save(dir, opts)
  opts = opts or {}
  local dt = -1
  if opts.dtype then
    dt = dtypes[opts.dtype]
    if not dt then errors.raise("model:save", "dtype '%s' is not one of f32, bf16, f16", tostring(opts.dtype)) end
  end
  local shard = opts.shard_mb and math.floor(opts.shard_mb * 1048576) or 0
  check(C.lpo_model_save(self.h, dir, dt, shard), "model:save")
end

--- Replaces the parameters with those of a checkpoint directory of the same config.
function Model:load_weights(dir)
  local other = wrap(C.lpo_model_load(dir), "model:load_weights")
  local n = self:num_params()
  if other:num_params() ~= n or other:config().hidden_size ~= self:config().hidden_size then
    errors.raise("model:load_weights", "%s: a different model (%d parameters, this one has %d)", dir, other:num_params(), n)
  end
  ffi.copy(C.lpo_model_params(self.h), C.lpo_model_params(other.h), n * 4)
  other:free()
end

--- A copy of the parameters that never trains (the reference model of a round).
function Model:frozen_copy()
  local c = wrap(C.lpo_model_copy(self.h), "model:frozen_copy")
  c.train = false
  return c
end

--- A trainable copy.
function Model:copy() return wrap(C.lpo_model_copy(self.h), "model:copy") end

--- Frees the engine memory now (instead of at garbage collection).
function Model:free()
  if self.h ~= nil then
    ffi.gc(self.h, nil)
    C.lpo_model_free(self.h)
    self.h = nil
  end
end

--- An AdamW optimizer over this model (lpo.optim; opts as optim.adamw takes them).
function Model:optimizer(opts)
  opts = opts or {}
  opts.model = self
  return require("lpo.optim").adamw(opts)
end

--- Forward+backward FLOPs per token at length T (forward only with backward = false).
function Model:flops_per_token(T, backward)
  return C.lpo_model_flops_per_token(self.h, T, backward == false and 0 or 1)
end

function Model:__tostring()
  local c = self:config()
  return string.format("model %s L=%d C=%d heads=%d/%d V=%d (%d parameters)", c.model_type, c.num_hidden_layers,
                       c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.vocab_size, self:num_params())
end

-- ---- decoding ----------------------------------------------------------------------------

--- A KV cache of `rows` sequences up to max_seq tokens (chunk: prefill tokens per row per
--- step, default 64).
function Model:kvcache(rows, max_seq, chunk)
  local h = C.lpo_kvcache_new(self.h, rows, max_seq, chunk or 0)
  if h == nil then errors.raise("model:kvcache", "%s", lffi.last_error()) end
  return setmetatable({ h = ffi.gc(h, C.lpo_kvcache_free), model = self, rows = rows, max_seq = max_seq,
                        logits_buf = ffi.new("float[?]", rows * self.vocab_size), V = self.vocab_size }, Cache)
end

function Cache:reset() C.lpo_kvcache_reset(self.h) end
function Cache:length(row) return check(C.lpo_kvcache_length(self.h, row), "kvcache:length") end
function Cache:truncate(row, len) check(C.lpo_kvcache_truncate(self.h, row, len), "kvcache:truncate") end
function Cache:copy_row(dst, src) check(C.lpo_kvcache_copy_row(self.h, dst, src), "kvcache:copy_row") end
function Cache:bytes() return tonumber(C.lpo_kvcache_bytes(self.h)) end

--- Appends prompts: rows = { {ids...}, ... } (one per cache row, 0-based row r = index-1;
--- an empty or missing row appends nothing). Returns float* logits [rows*V] of each
--- row's last appended token (valid until the next call).
function Cache:prefill(rows)
  local R, T = self.rows, 1
  for r = 1, R do T = math.max(T, rows[r] and #rows[r] or 0) end
  local tok, lens = ffi.new("int32_t[?]", R * T), ffi.new("int32_t[?]", R)
  for r = 1, R do
    local row = rows[r] or {}
    lens[r - 1] = #row
    for t = 1, #row do tok[(r - 1) * T + t - 1] = row[t] end
  end
  check(C.lpo_model_prefill(self.model.h, self.h, tok, lens, T, self.logits_buf), "kvcache:prefill")
  return self.logits_buf
end

--- One token per row: tokens = { id for row 0, id for row 1, ... } (nil or false: row
--- inactive). Returns float* logits [rows*V].
function Cache:decode(tokens)
  local R = self.rows
  local tok, act = ffi.new("int32_t[?]", R), ffi.new("uint8_t[?]", R)
  for r = 1, R do
    if tokens[r] then tok[r - 1] = tokens[r]; act[r - 1] = 1 end
  end
  check(C.lpo_model_decode(self.model.h, self.h, tok, act, self.logits_buf), "kvcache:decode")
  return self.logits_buf
end

function Cache:free()
  if self.h ~= nil then ffi.gc(self.h, nil); C.lpo_kvcache_free(self.h); self.h = nil end
end

require("lpo.doc").module(M, "lpo.model", {
  __module = "lpo.model — Llama/Qwen2 transformers: load/new, logprobs/backward, save, KV cache decoding",
  load = { "load(dir, opts) -> model", "Reads a Hugging Face directory (config.json + safetensors, f32/bf16/f16). opts.train = false: inference only." },
  new = { "new(config, opts) -> model", "A new model from config.json fields (table or JSON), Philox-random weights (opts.seed)." },
  parse_config = { "parse_config(config) -> table", "The engine's reading of a config (defaults filled in)." },
  set_threads = { "set_threads(n) -> n", "CPU threads for the BLAS." },
  as_batch = { "as_batch(batch) -> {B, T, tokens, mask}", "Normalizes a Lua-table batch to FFI buffers." },
})

return M
