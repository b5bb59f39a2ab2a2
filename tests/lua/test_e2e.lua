-- End to end on a tiny random model: collect -> select -> train; the DPO loss on the pairs
-- goes down after one step; metrics.jsonl carries TRL's metric names. (Verdicts come from a
-- stand-in extractor, see tests/fixtures/recipes/tiny_round.lua; the rest is the real thing.)
local T = require "lpo.testing"
local json = require "lpo.json"
local lpo = require "lpo"

local dir = os.tmpname(); os.remove(dir)

T.case("the tiny round runs and logs TRL's metric names", function()
  local out, rc = T.sh(T.lpo() .. " run tests/fixtures/recipes/tiny_round.lua --dir " .. dir .. " 2>&1")
  T.eq(rc, 0, "exit code: " .. out)
  T.truthy(out:match("pairs %d+, pass rate [%d.]+\n$"), "headline last: " .. out)
  local m = json.read_lines(dir .. "/metrics.jsonl")
  local dpo = nil
  for _, r in ipairs(m) do if r.kind == "dpo-r1" then dpo = r break end end
  T.truthy(dpo, "a training step was logged")
  for _, k in ipairs { "loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                       "logps/chosen", "logps/rejected", "lr", "grad_norm", "tokens_per_s", "step" } do
    T.truthy(dpo[k] ~= nil, "metrics.jsonl has " .. k)
  end
  T.close(dpo.loss, math.log(2), 1e-6, 0, "first step: policy == reference, loss = log 2")
  T.truthy(#json.read_lines(dir .. "/pairs-r1.jsonl") > 0, "pairs were selected")
  for _, f in ipairs { "samples-r1.jsonl", "results-r1.jsonl", "run.json", "summary.json", "metrics.svg", "ref_logps-dpo-r1.json" } do
    T.truthy(io.open(dir .. "/" .. f), f .. " written")
  end
end)

T.case("one DPO step lowers the loss on the pairs", function()
  local pairs = json.read_lines(dir .. "/pairs-r1.jsonl")
  local tok = lpo.tokenizer.byte()
  local policy = lpo.model.new({ model_type = "qwen2", vocab_size = tok.vocab_size, hidden_size = 32, intermediate_size = 64,
    num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 128 }, { seed = 3 })
  local seqs = {}
  for _, p in ipairs(pairs) do
    seqs[#seqs + 1] = lpo.train.encode_pair(tok, p.prompt, p.chosen)
    seqs[#seqs + 1] = lpo.train.encode_pair(tok, p.prompt, p.rejected)
  end
  local function loss_of(ref)
    local lp = lpo.train.sequence_logps(policy, seqs, 64, tok.pad_id)
    local b = { policy_chosen = {}, policy_rejected = {}, ref_chosen = {}, ref_rejected = {} }
    for i = 1, #pairs do
      b.policy_chosen[i], b.policy_rejected[i] = lp[2 * i - 1], lp[2 * i]
      b.ref_chosen[i], b.ref_rejected[i] = ref and ref[2 * i - 1] or lp[2 * i - 1], ref and ref[2 * i] or lp[2 * i]
    end
    return lpo.loss.dpo { beta = 0.1 }:compute(b).loss, lp
  end
  local before, ref = loss_of(nil)
  T.close(before, math.log(2), 1e-9, 0, "loss before")
  lpo.train.dpo(policy, pairs, { tokenizer = tok, loss = lpo.loss.dpo { beta = 0.1 }, lr = 1e-2, warmup = 0, schedule = "constant",
                                 batch = #pairs, steps = 1, seed = 1, quiet = true })
  local after = loss_of(ref)
  T.truthy(after < before - 1e-4, string.format("loss after one step %.6f < before %.6f", after, before))
end)

os.execute("rm -rf " .. dir)
T.done()
