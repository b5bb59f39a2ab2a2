-- A checkpoint lpo saves loads in Hugging Face transformers and gives the same logits:
-- Qwen2 (GQA, q/k/v biases, untied) and Llama (tied, attention_bias on q/k/v/o, llama3
-- rope scaling), in f32, in bf16 (compared with lpo reading the same bf16 file back), and
-- sharded. Relative error max|ours - theirs| / max|theirs| <= 1e-4.
-- Skipped (exit 77) when python3 cannot import transformers.
local T = require "lpo.testing"
local model = require "lpo.model"
local json = require "lpo.json"

local _, rc = T.sh("python3 -c 'import torch, transformers' >/dev/null 2>&1")
if rc ~= 0 then
  print("skip: python3 with torch and transformers is not available")
  os.exit(77)
end
model.set_threads(1)

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p '" .. tmp .. "'")
local rows = { { 3, 77, 140, 9, 250, 1, 61, 61, 12, 200, 5, 8 }, { 100, 2, 7, 299, 45, 45, 0, 33, 81, 18, 4, 11 } }

local function compare(m, dir, what)
  json.write_atomic(tmp .. "/tokens.json", json.encode(rows))
  local out, rc2 = T.sh(string.format("python3 tests/fixtures/model/hf_logits.py '%s' '%s/tokens.json' '%s/out.json' 2>&1",
                                      dir, tmp, tmp))
  if rc2 ~= 0 then error(what .. ": transformers failed:\n" .. out) end
  local theirs = json.read_file(tmp .. "/out.json")
  local ours, B, Tn, V = m:logits(rows)
  local d, s = 0, 0
  for i = 1, B * Tn * V do
    d = math.max(d, math.abs(ours[i - 1] - theirs.logits[i]))
    s = math.max(s, math.abs(theirs.logits[i]))
  end
  print(string.format("%s: %s, relative error %.2g", what, theirs.class, d / s))
  T.truthy(d / s <= 1e-4, what .. string.format(": relative error %.3g", d / s))
end

local qwen = { model_type = "qwen2", vocab_size = 300, hidden_size = 64, intermediate_size = 96,
               num_hidden_layers = 2, num_attention_heads = 4, num_key_value_heads = 2, rope_theta = 1e6,
               initializer_range = 0.15, max_position_embeddings = 128 }
local llama = { model_type = "llama", vocab_size = 300, hidden_size = 48, intermediate_size = 80,
                num_hidden_layers = 2, num_attention_heads = 6, num_key_value_heads = 3, attention_bias = true,
                tie_word_embeddings = true, initializer_range = 0.15, max_position_embeddings = 64,
                rope_scaling = { rope_type = "llama3", factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0,
                                 original_max_position_embeddings = 16 } }

T.case("qwen2 f32 saved by lpo, loaded by transformers", function()
  local m = model.new(qwen, { seed = 1 })
  -- make biases and norms non-trivial so a mapping mistake cannot hide
  local p = m:params()
  for _, t in ipairs(m:tensors()) do
    if t.name:match("bias$") or t.name:match("norm") then
      for i = 0, t.numel - 1 do p[t.offset + i] = p[t.offset + i] + 0.05 * ((i * 7919) % 13 - 6) end
    end
  end
  m:save(tmp .. "/q")
  compare(m, tmp .. "/q", "qwen2 f32")
end)

T.case("llama tied + biases + llama3 rope, bf16 and sharded", function()
  local m = model.new(llama, { seed = 2 })
  local p = m:params()
  for _, t in ipairs(m:tensors()) do
    if t.name:match("bias$") then for i = 0, t.numel - 1 do p[t.offset + i] = 0.02 * ((i % 9) - 4) end end
  end
  m:save(tmp .. "/l")
  compare(m, tmp .. "/l", "llama f32")
  m:save(tmp .. "/lb", { dtype = "bf16" })
  compare(model.load(tmp .. "/lb"), tmp .. "/lb", "llama bf16")
  m:save(tmp .. "/ls", { shard_mb = 0.05 })
  compare(m, tmp .. "/ls", "llama sharded")
end)

os.execute("rm -rf '" .. tmp .. "'")
T.done()
