-- lpo.model from Lua: golden log-probs and gradients through the FFI, table and cdata
-- batches agree, parameter/tensor views for the optimizer, save/load round trip, KV cache
-- decoding, and errors that name what is wrong.
local T = require "lpo.testing"
local ffi = require "ffi"
local model = require "lpo.model"
local lffi = require "lpo.ffi"
local St = lffi.load("lpo_safetensors.h")

model.set_threads(1)
local FIX = "tests/fixtures/model/qwen2_tiny"

local function golden(path, name, n)
  local st = St.lpo_st_open(path)
  assert(st ~= nil, lffi.last_error())
  local i = St.lpo_st_find(st, name)
  local shape = ffi.new("int64_t[8]")
  local nd = St.lpo_st_shape(st, i, shape)
  local total = 1
  for d = 0, nd - 1 do total = total * tonumber(shape[d]) end
  local buf
  if St.lpo_st_dtype(st, i) == St.LPO_I32 then
    buf = ffi.new("int32_t[?]", total)
    assert(St.lpo_st_read_raw(st, name, buf, St.LPO_I32, nd, shape) == 0, lffi.last_error())
  else
    buf = ffi.new("float[?]", total)
    assert(St.lpo_st_read_f32(st, name, buf, nd, shape) == 0, lffi.last_error())
  end
  local out = {}
  for k = 0, total - 1 do out[k + 1] = tonumber(buf[k]) end
  St.lpo_st_close(st)
  return out, shape
end

local function rel(a, b)
  local d, s = 0, 0
  for i = 1, #b do d = math.max(d, math.abs(a[i] - b[i])); s = math.max(s, math.abs(b[i])) end
  return d / s
end

T.case("golden logprobs and grads through Lua", function()
  local m = model.load(FIX)
  local toks = golden(FIX .. "/golden.safetensors", "tokens")
  local mask = golden(FIX .. "/golden.safetensors", "mask")
  local B, Tn = 3, 16
  local batch = { B = B, T = Tn, tokens = ffi.new("int32_t[?]", B * Tn), mask = ffi.new("float[?]", B * Tn) }
  for i = 1, B * Tn do batch.tokens[i - 1] = toks[i]; batch.mask[i - 1] = mask[i] end
  local seq = m:logprobs(batch, { grad = true })
  T.truthy(rel(seq, golden(FIX .. "/golden.safetensors", "seq_logp")) < 1e-4, "seq_logp vs transformers")
  m:zero_grad()
  m:backward({ 1, 1, 1 })
  local name = "model.layers.1.self_attn.k_proj.bias"
  T.truthy(rel(m:tensor(name, "grad"), golden(FIX .. "/golden.safetensors", "grad." .. name)) < 1e-4, "grad vs transformers")
  -- the same batch as Lua tables with prompt_lens gives the same numbers when the mask is a suffix
  local rows, plens = {}, {}
  for b = 1, B do
    rows[b] = {}
    local first, last = nil, 0
    for t = 1, Tn do
      if mask[(b - 1) * Tn + t] == 1 then first = first or t; last = t end
    end
    for t = 1, last do rows[b][t] = toks[(b - 1) * Tn + t] end
    plens[b] = first - 1
  end
  local seq2 = m:logprobs({ tokens = rows, prompt_lens = plens }, { grad = false })
  for b = 1, B do T.close(seq2[b], seq[b], 1e-6, 1e-6, "table batch row " .. b) end
end)

T.case("parameters and tensors for the optimizer", function()
  local m = model.new({ model_type = "llama", vocab_size = 100, hidden_size = 32, intermediate_size = 64,
                        num_hidden_layers = 3, num_attention_heads = 4, num_key_value_heads = 2,
                        tie_word_embeddings = true }, { seed = 3 })
  local p, n = m:params()
  -- embed 100*32 + per layer (ln 32 + q 32*32 + k,v 2*16*32 + o 32*32 + ln 32 + mlp 3*64*32) + norm 32
  local per_layer = 32 + 1024 + 1024 + 1024 + 32 + 3 * 2048
  T.eq(n, 3200 + 3 * per_layer + 32, "parameter count")
  local counts = m:param_counts()
  T.eq(counts.embedding, 3200, "embedding"); T.eq(counts.lm_head, 0, "tied head")
  T.eq(counts.per_layer, per_layer, "per layer")
  local g, gn = m:grads()
  T.truthy(g ~= nil and gn == n, "grads exist for a trainable model")
  local covered, decay = 0, {}
  for _, t in ipairs(m:tensors()) do covered = covered + t.numel; decay[t.name] = t.decay end
  T.eq(covered, n, "tensors cover the flat buffer")
  T.eq(decay["model.layers.0.input_layernorm.weight"], false, "norms are not decayed")
  T.eq(decay["model.layers.2.mlp.down_proj.weight"], true, "matmul weights are decayed")
  T.truthy(p[0] ~= 0, "random init")
  T.truthy(m:plan():find("activations", 1, true), "plan lists activations")
end)

T.case("save and load round trip", function()
  local m = model.new({ model_type = "qwen2", vocab_size = 64, hidden_size = 32, intermediate_size = 48,
                        num_hidden_layers = 2, num_attention_heads = 4, num_key_value_heads = 2,
                        eos_token_id = 5 }, { seed = 9 })
  local dir = os.tmpname()
  os.remove(dir)
  m:save(dir)
  local m2 = model.load(dir)
  local p1, n = m:params()
  local p2 = m2:params()
  local same = true
  for i = 0, n - 1 do if p1[i] ~= p2[i] then same = false break end end
  T.truthy(same, "bitwise round trip")
  T.eq(m2:config().eos_token_id, 5, "extra config fields survive")
  m2:save(dir, { dtype = "bf16" })
  T.eq(model.load(dir):config().torch_dtype, "bfloat16", "bf16 save")
  os.execute("rm -rf '" .. dir .. "'")
end)

T.case("kv cache decode equals full logits", function()
  local m = model.load("tests/fixtures/model/llama_tiny")
  local rows = { { 5, 17, 200, 3, 9, 44 }, { 7, 8 } }
  local full, _, Tn, V = m:logits({ { 5, 17, 200, 3, 9, 44 }, { 7, 8, 0, 0, 0, 0 } })
  local cache = m:kvcache(2, 16)
  local lg = cache:prefill({ { 5, 17, 200 }, { 7 } })
  local function check_row(r, pos)
    local d, s = 0, 0
    for v = 0, V - 1 do
      local a, b = lg[r * V + v], full[(r * Tn + pos) * V + v]
      d = math.max(d, math.abs(a - b)); s = math.max(s, math.abs(b))
    end
    T.truthy(d / s < 1e-4, string.format("row %d pos %d rel %.3g", r, pos, d / s))
  end
  check_row(0, 2); check_row(1, 0)
  lg = cache:decode({ 3, 8 })
  check_row(0, 3); check_row(1, 1)
  lg = cache:decode({ 9, false })
  check_row(0, 4)
  T.eq(cache:length(0), 5, "row 0 length"); T.eq(cache:length(1), 2, "row 1 length")
  T.raises(function() cache:decode({ 1000, false }) end, "out of range for vocab_size 300")
end)

T.case("errors name the problem", function()
  T.raises(function() model.load("/nonexistent/dir") end, "/nonexistent/dir/config.json: cannot open")
  T.raises(function() model.new({ model_type = "gpt2" }) end, "model_type 'gpt2' is not supported")
  local m = model.load(FIX)
  T.raises(function() m:logprobs({ tokens = { { 1, 2, 999 } }, prompt_lens = { 1 } }) end, "tokens[0][2] = 999 is out of range")
  T.raises(function() m:logprobs({ tokens = { { 1, 2 } }, mask = { { 1, 1 } } }) end, "mask[0][0] must be 0")
  local f = m:frozen_copy()
  f:logprobs({ tokens = { { 1, 2, 3 } }, prompt_lens = { 1 } })
  T.raises(function() f:backward({ 1 }) end, "reserved for inference")
  T.raises(function() m:save("/proc/none/x") end, "model:save")
end)

T.done()
