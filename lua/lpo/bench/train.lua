-- lpo bench train — tokens/s of one training step (forward, per-token log-probs with a
-- mask, per-sequence sums, backward of their sum, zero_grad) against PyTorch eager
-- (transformers LlamaForCausalLM, f32, SDPA attention) on the same config, batch and
-- thread count; and MFU = achieved FLOP/s / the machine's measured sgemm FLOP/s.
--
--   lpo bench train [--threads N] [--steps N] [--config tiny|small|both] [--batch B] [--seq T]
--
-- Configs (Llama, untied, vocab 8192, batch 4 x 256 tokens):
--   tiny   d=256, 4 layers, 4 heads, MLP 768
--   small  d=768, 12 layers, 12 heads, MLP 2048 (GPT-2-small-sized)
-- Step time is the median of --steps timed steps after one warm-up step (the machine is
-- shared; the median ignores the steps another process disturbed).
-- The last line is the headline for the small config (tiny when only tiny runs).
local ffi = require "ffi"
local model = require "lpo.model"
local json = require "lpo.json"
local bench = require "lpo.cli.bench"
local lffi = require "lpo.ffi"
local C = lffi.load("lpo_backend.h")

local M = {}

local CONFIGS = {
  tiny = { model_type = "llama", vocab_size = 8192, hidden_size = 256, intermediate_size = 768,
           num_hidden_layers = 4, num_attention_heads = 4, num_key_value_heads = 4,
           max_position_embeddings = 1024, tie_word_embeddings = false },
  small = { model_type = "llama", vocab_size = 8192, hidden_size = 768, intermediate_size = 2048,
            num_hidden_layers = 12, num_attention_heads = 12, num_key_value_heads = 12,
            max_position_embeddings = 1024, tie_word_embeddings = false },
}

local function now()
  local t = ffi.new("struct { long s; long ns; }")
  ffi.C.clock_gettime(1, t)
  return tonumber(t.s) + 1e-9 * tonumber(t.ns)
end
pcall(ffi.cdef, "int clock_gettime(int clk, void *tp);")

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s[math.floor((#s + 1) / 2)]
end

local function parse(args)
  local o = { threads = 2, steps = 5, config = "both", batch = 4, seq = 256 }
  local i = 1
  while i <= #args do
    local k, v = args[i], args[i + 1]
    if k == "--threads" then o.threads = tonumber(v)
    elseif k == "--steps" then o.steps = tonumber(v)
    elseif k == "--config" then o.config = v
    elseif k == "--batch" then o.batch = tonumber(v)
    elseif k == "--seq" then o.seq = tonumber(v)
    else error("lpo bench train: unknown argument " .. tostring(k)) end
    i = i + 2
  end
  return o
end

-- Our step, timed: returns tokens/s (median) and the model's FLOPs per token.
local function ours(cfg, B, T, steps)
  local m = model.new(cfg, { seed = 1 })
  m:reserve(B, T, true)
  local tokens, mask = ffi.new("int32_t[?]", B * T), ffi.new("float[?]", B * T)
  for i = 0, B * T - 1 do
    tokens[i] = (i * 7919 + 13) % cfg.vocab_size
    mask[i] = (i % T == 0) and 0 or 1
  end
  local batch, dseq = { B = B, T = T, tokens = tokens, mask = mask }, {}
  for b = 1, B do dseq[b] = 1 end
  local function step()
    m:logprobs(batch, { grad = true })
    m:backward(dseq)
    m:zero_grad()
  end
  step()
  local times = {}
  for s = 1, steps do
    local t0 = now()
    step()
    times[s] = now() - t0
  end
  local flops = m:flops_per_token(T, true)
  local plan = m:plan()
  m:free()
  return B * T / median(times), flops, times, plan
end

local function peer(cfg, B, T, threads, steps)
  local script = (rawget(_G, "LPO_ROOT") or ".") .. "/tests/fixtures/model/torch_train_step.py"
  local f = io.open(script, "rb")
  if not f then return nil, "peer script " .. script .. " not found" end
  f:close()
  local cmd = string.format("python3 '%s' '%s' %d %d %d %d 2>/dev/null", script, json.encode(cfg), B, T, threads, steps)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  local line = out:match("({.-})%s*$")
  if not line then return nil, "torch not installed or the peer failed" end
  local r = json.decode(line)
  if r.error or not r.tokens_per_s then return nil, r.error or "the peer failed" end
  return r.tokens_per_s, r
end

function M.main(args)
  local o = parse(args)
  local threads = model.set_threads(o.threads)
  local B, T = o.batch, o.seq
  local gflops = C.lpo_cpu_sgemm_gflops(1024, 1024, 1024, 1.0)
  print(string.format("machine: sgemm 1024^3 with %d threads: %.1f GFLOP/s (best of 1 s)", threads, gflops))
  local names = o.config == "both" and { "tiny", "small" } or { o.config }
  local last
  for _, name in ipairs(names) do
    local cfg = CONFIGS[name]
    if not cfg then error("lpo bench train: unknown config " .. name) end
    print(string.format("%s: d=%d layers=%d heads=%d mlp=%d vocab=%d, batch %d x %d, %d threads", name,
                        cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size,
                        cfg.vocab_size, B, T, threads))
    local tps, fpt, times = ours(cfg, B, T, o.steps)
    local mfu = tps * fpt / (gflops * 1e9)
    local st = {}
    for i, v in ipairs(times) do st[i] = string.format("%.3f", v) end
    print(string.format("  lpo:   %8.0f tokens/s  (steps %s s)  %.1f GFLOP/s, MFU %.0f%% of measured sgemm",
                        tps, table.concat(st, " "), tps * fpt / 1e9, 100 * mfu))
    local ptps, info = peer(cfg, B, T, threads, o.steps)
    if ptps then
      local pt = {}
      for i, v in ipairs(info.step_s) do pt[i] = string.format("%.3f", v) end
      print(string.format("  torch: %8.0f tokens/s  (steps %s s, torch %s, %s attention, %d threads)  lpo/torch = %.2fx",
                          ptps, table.concat(pt, " "), info.torch, info.attn, info.threads, tps / ptps))
    else
      print("  torch: skipped: " .. tostring(info))
    end
    last = { name = name, tps = tps, ptps = ptps, why = info }
  end
  print(bench.headline("train", last.tps, "tokens/s", "torch-eager", last.ptps,
                       last.ptps == nil and tostring(last.why) or nil))
  return last.ptps and 0 or 1
end

return M
