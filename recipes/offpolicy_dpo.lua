-- recipes/offpolicy_dpo.lua — paper 1's off-policy baseline: the pairs come from ANOTHER
-- model (paper 1 used DeepSeek-Coder samples to train CodeQwen); here a differently seeded
-- (or differently sized) SFT model samples and our policy trains on its pairs. Everything
-- else is identical to recipes/dpo_onpolicy.lua, so the difference is on- vs off-policy.
local lpo = require "lpo"
local loop = require "lpo.loop"
local run = lpo.run {
  name = "dpo-offpolicy", seed = 1, model = "examples/models/tiny-sft",
  behavior = "examples/models/tiny-sft-b",        -- the model whose samples make the pairs
  problems = "synthetic:train?n=1024", eval = "synthetic:test",
  rounds = 1, samples = 8, temperature = 0.8, max_new_tokens = 160,
  beta = 0.5, lr = 5e-5, rpo_alpha = 0.0, batch = 16, epochs = 1, warmup = 0.05, schedule = "cosine",
}
local A = run.args
local ctx = loop.setup(run)
local behavior = lpo.checkpoint.load(A.behavior)

local before = loop.evaluate(ctx, "r0")
for round = 1, A.rounds do
  local collected = loop.collect(ctx, round, { policy = behavior, tag = "offpolicy-r" .. round })
  local pairs = lpo.select.random_pair(loop.groups(ctx, collected), { seed = A.seed, round = round })
  loop.train(ctx, round, pairs, "dpo", { loss = lpo.loss.dpo { beta = A.beta, rpo_alpha = A.rpo_alpha } })
  run:log { round = round, pairs = #pairs, ["eval/pass@1"] = loop.evaluate(ctx, "r" .. round) }
end
run:finish(string.format("pass@1: %.3f -> %.3f", before, loop.evaluate(ctx, "r" .. A.rounds)))
