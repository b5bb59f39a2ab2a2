-- Greedy decoding of tiny random Qwen2 and Llama models (GQA, biases, tied embeddings,
-- linear rope scaling) matches Hugging Face transformers `generate` token for token
-- (tests/fixtures/gen/greedy.json, made by make_greedy.py beside it).
local T = require "lpo.testing"
local json = require "lpo.json"
local model = require "lpo.model"
local gen = require "lpo.gen"
local tok = require("lpo.tokenizer").byte()   -- only carries the ids; nothing is decoded (raw)

local golden = json.read_file("tests/fixtures/gen/greedy.json")
for _, name in ipairs { "qwen2_tiny", "llama_tiny" } do
  T.case(name .. ": greedy continuation equals transformers", function()
    local m = model.load("tests/fixtures/model/" .. name)
    local cases = golden[name]
    local prompts = {}
    for i, c in ipairs(cases) do prompts[i] = { ids = c.prompt, key = i } end
    -- All prompts in one batch (different lengths, continuous batching) and each alone.
    local together = gen.generate(m, tok, prompts, { n = 1, temperature = 0, max_new_tokens = 24, stop_at_eos = false, raw = true })
    for i, c in ipairs(cases) do
      local alone = gen.generate(m, tok, { prompts[i] }, { n = 1, temperature = 0, max_new_tokens = 24, stop_at_eos = false, raw = true })
      T.eq(json.encode(together[i][1].ids), json.encode(c.continuation), name .. " prompt " .. i .. " (batched)")
      T.eq(json.encode(alone[1][1].ids), json.encode(c.continuation), name .. " prompt " .. i .. " (alone)")
    end
  end)
end

T.done()
