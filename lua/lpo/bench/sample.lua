-- lpo bench sample — generation throughput: tokens/s of one stream (greedy) and the
-- aggregate tokens/s with n = 8 samples per prompt sharing the prompt's prefill, against
-- Hugging Face transformers `generate` on CPU with the same weights, prompt, lengths and
-- thread count (tests/fixtures/gen/hf_generate.py). Every stop is disabled so both sides
-- generate exactly NEW tokens. Both sides report the best of --reps runs of each
-- measurement (the machines we share run other jobs; one run can be off by 2x).
--   lpo bench sample [--config tiny|small] [--new 128] [--n 8] [--threads 2] [--reps 5]
local bench = require "lpo.cli.bench"

local M = {}

local CONFIGS = {
  -- The byte-level code models lpo trains itself.
  tiny = { model_type = "llama", vocab_size = 261, hidden_size = 256, intermediate_size = 768, num_hidden_layers = 4,
           num_attention_heads = 8, num_key_value_heads = 4, max_position_embeddings = 1024, tie_word_embeddings = true },
  -- A small Qwen2-style model with a real vocabulary.
  small = { model_type = "qwen2", vocab_size = 32000, hidden_size = 512, intermediate_size = 1536, num_hidden_layers = 8,
            num_attention_heads = 8, num_key_value_heads = 2, max_position_embeddings = 2048, tie_word_embeddings = true },
}

local now = require("lpo.train").now   -- monotonic wall clock

function M.main(args)
  local opts = { config = "tiny", new = 128, n = 8, threads = 2, reps = 5 }
  for i = 1, #args, 2 do
    local k = (args[i] or ""):match("^%-%-(.+)$")
    if not k or opts[k] == nil then io.stderr:write("lpo bench sample: unknown option ", tostring(args[i]), "\n"); return 2 end
    opts[k] = tonumber(args[i + 1]) or args[i + 1]
  end
  local cfg = CONFIGS[opts.config]
  if not cfg then io.stderr:write("lpo bench sample: unknown config ", opts.config, "\n"); return 2 end
  local model, gen = require "lpo.model", require "lpo.gen"
  model.set_threads(opts.threads)
  local m = model.new(cfg, { seed = 1 })
  local tok = require("lpo.tokenizer").byte()
  local prompt = {}
  for t = 1, 32 do prompt[t] = 32 + (t * 37) % 90 end
  local P = { { ids = prompt, key = 0 } }
  local function run(n, temperature, new)
    return gen.generate(m, tok, P, { n = n, temperature = temperature, max_new_tokens = new, stop_at_eos = false, raw = true, seed = 1 })
  end
  run(1, 0, 4)  -- warm-up
  -- Single stream and n per prompt take turns, rep by rep, so both meet the same phases of
  -- a shared machine's background load (measured one after the other, their ratio swung
  -- from 3.9x to 5.1x between runs); each keeps its best rep.
  local single, batched = 0, 0
  for _ = 1, opts.reps do
    local t0 = now()
    run(1, 0, opts.new)
    single = math.max(single, opts.new / (now() - t0))
    t0 = now()
    run(opts.n, 1.0, opts.new)
    batched = math.max(batched, opts.n * opts.new / (now() - t0))
  end
  print(string.format("config %s (%d params, vocab %d), prompt 32, new %d, threads %d", opts.config, m:num_params(), cfg.vocab_size, opts.new, opts.threads))
  print(string.format("lpo single stream: %.1f tokens/s", single))
  print(string.format("lpo n=%d per prompt: %.1f tokens/s aggregate = %.2fx single stream", opts.n, batched, batched / single))

  -- The peer, same weights.
  local dir = os.tmpname()
  os.remove(dir)
  m:save(dir)
  local root = rawget(_G, "LPO_ROOT") or "."
  local cmd = string.format("python3 %s/tests/fixtures/gen/hf_generate.py %s %s %d %d %d %d 2>/dev/null", root, dir,
                            table.concat(prompt, ","), opts.new, opts.n, opts.threads, opts.reps)
  local f = io.popen(cmd)
  local out = f:read("*a")
  f:close()
  os.execute("rm -rf '" .. dir .. "'")
  local peer = out:match("{.*}")
  if not peer then
    print(bench.headline("sample", batched, "tokens/s", "transformers-generate", nil, "python3 with torch + transformers not available"))
    return 1
  end
  peer = require("lpo.json").decode(peer)
  print(string.format("transformers single stream: %.1f tokens/s; n=%d: %.1f tokens/s", peer.single_tok_s, opts.n, peer.batch_tok_s))
  print(string.format("single-stream ratio vs transformers: %.2fx", single / peer.single_tok_s))
  print(bench.headline("sample", batched, "tokens/s", "transformers-generate", peer.batch_tok_s))
  return 0
end

return M
