-- The SFT loss the trainer logs is the stated normalization of the policy's log-probs before
-- the step: "token" = -Σ logp / Σ tokens over the step (TRL), "sequence" = the mean over the
-- step's examples of -logp / tokens; both independent of how the step is cut in micro-batches.
local T = require "lpo.testing"
local lpo = require "lpo"

local tok = lpo.tokenizer.byte()
local cfg = { model_type = "llama", vocab_size = tok.vocab_size, hidden_size = 32, intermediate_size = 64,
              num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 128 }
local examples = {
  { prompt = "a\n", completion = "x" },
  { prompt = "bb\n", completion = "a much longer response than the others" },
  { prompt = "c\n", completion = "mid length" },
}

local function expected(norm)
  local policy = lpo.model.new(cfg, { seed = 5 })
  local seqs = {}
  for i, e in ipairs(examples) do seqs[i] = lpo.train.encode_pair(tok, e.prompt, e.completion) end
  local lp = lpo.train.sequence_logps(policy, seqs, 8, tok.pad_id)
  local sum, ntok, seqmean = 0, 0, 0
  for i, s in ipairs(seqs) do
    sum, ntok = sum - lp[i], ntok + s.n_tokens
    seqmean = seqmean - lp[i] / s.n_tokens / #seqs
  end
  T.truthy(seqs[2].n_tokens > 4 * seqs[1].n_tokens, "lengths differ enough to tell the two apart")
  return norm == "token" and sum / ntok or seqmean
end

local function logged(norm, micro)
  local policy = lpo.model.new(cfg, { seed = 5 })
  local first
  lpo.train.sft(policy, examples, { tokenizer = tok, lr = 1e-3, batch = 3, micro_batch = micro, steps = 1, quiet = true,
    sft_norm = norm, on_step = function(_, rec) first = rec.loss end })
  return first
end

for _, norm in ipairs { "token", "sequence" } do
  T.case("sft_norm=" .. norm .. " logs the stated loss", function()
    local want = expected(norm)
    T.close(logged(norm, 3), want, 1e-5, 0, "one micro-batch")
    T.close(logged(norm, 1), want, 1e-5, 0, "three micro-batches")
  end)
end

T.case("the two normalizations differ", function()
  T.truthy(math.abs(expected("token") - expected("sequence")) > 1e-3, "different numbers")
end)

T.case("an unknown sft_norm is refused by name", function()
  T.raises(function() logged("tokens", 3) end, "sft_norm")
end)

T.case("stop_at stops early on the full schedule: the first steps equal the full run's", function()
  local function train(stop_at)
    local policy, lrs = lpo.model.new(cfg, { seed = 5 }), {}
    lpo.train.sft(policy, examples, { tokenizer = tok, lr = 1e-3, batch = 1, steps = 6, stop_at = stop_at, quiet = true,
      on_step = function(step, rec) lrs[step] = rec.lr end })
    return policy, lrs
  end
  local full, lr_full = train(nil)
  local part, lr_part = train(3)
  T.eq(#lr_part, 3, "three steps trained")
  T.eq(#lr_full, 6, "six steps trained")
  for s = 1, 3 do T.eq(lr_part[s], lr_full[s], "same schedule at step " .. s) end
  local seqs = { lpo.train.encode_pair(tok, "a\n", "x") }
  local a = lpo.train.sequence_logps(part, seqs, 1, tok.pad_id)[1]
  local b = lpo.train.sequence_logps(full, seqs, 1, tok.pad_id)[1]
  T.truthy(a ~= b, "the stopped model differs from the fully trained one")
end)

T.done()
