-- recipes/dpo_onpolicy.lua — paper 1 (arXiv 2410.18585): on-policy DPO from execution feedback.
--
-- Each round: sample 8 programs per problem from the CURRENT policy, run them against the
-- problem's unit tests in the sandbox, keep one random (passing, failing) pair per problem,
-- train DPO for one epoch against the round's starting policy (the frozen reference), then
-- measure greedy pass@1 on the held-out test split. Paper settings: cosine schedule, warmup
-- 0.05, batch 16, 1 epoch per round, β 0.1. For the tiny model, β 0.5 and lr 5e-5 were chosen
-- by recipes/sweep.lua on the valid split (never on test); rpo_alpha adds an NLL term on the
-- chosen responses (RPO), which the sweep did not favour at this scale.
--   build/lpo run recipes/dpo_onpolicy.lua --set rounds=3 --set lr=1e-4
local lpo = require "lpo"
local loop = require "lpo.loop"
local run = lpo.run {
  name = "dpo-onpolicy", seed = 1, model = "examples/models/tiny-sft",
  problems = "synthetic:train?n=1024", eval = "synthetic:test",
  rounds = 3, samples = 8, temperature = 0.8, max_new_tokens = 160,
  beta = 0.5, lr = 5e-5, rpo_alpha = 0.0, batch = 16, epochs = 1, warmup = 0.05, schedule = "cosine",
}
local A = run.args
local ctx = loop.setup(run)

local before = loop.evaluate(ctx, "r0")
run:log { round = 0, ["eval/pass@1"] = before }
for round = 1, A.rounds do
  local collected = loop.collect(ctx, round)                                   -- 8 samples, verdicts
  local pairs = lpo.select.random_pair(loop.groups(ctx, collected), { seed = A.seed, round = round })
  loop.train(ctx, round, pairs, "dpo", { loss = lpo.loss.dpo { beta = A.beta, rpo_alpha = A.rpo_alpha } })
  run:log { round = round, pairs = #pairs, ["eval/pass@1"] = loop.evaluate(ctx, "r" .. round) }
end
run:finish(string.format("pass@1: %.3f -> %.3f", before, loop.evaluate(ctx, "r" .. A.rounds)))
