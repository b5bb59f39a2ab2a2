-- recipes/kto.lua — on-policy KTO (Ethayarajh et al. 2024) from execution feedback: every
-- passing sample is a desirable example and every failing one undesirable (up to a cap per
-- problem), no pairing needed; KTO tolerates unbalanced counts through λ_D and λ_U.
local lpo = require "lpo"
local loop = require "lpo.loop"
local run = lpo.run {
  name = "kto", seed = 1, model = "examples/models/tiny-sft",
  problems = "synthetic:train?n=1024", eval = "synthetic:test",
  rounds = 1, samples = 8, temperature = 0.8, max_new_tokens = 160,
  beta = 0.3, lr = 5e-5, desirable_weight = 1.0, undesirable_weight = 1.0, per_problem = 2,
  batch = 16, epochs = 1, warmup = 0.05, schedule = "cosine",
}
local A = run.args
local ctx = loop.setup(run)

local before = loop.evaluate(ctx, "r0")
for round = 1, A.rounds do
  local collected = loop.collect(ctx, round)
  local examples = lpo.select.kto(loop.groups(ctx, collected),
    { seed = A.seed, round = round, max_desirable = A.per_problem, max_undesirable = A.per_problem })
  loop.train(ctx, round, examples, "kto", { loss = lpo.loss.kto {
    beta = A.beta, desirable_weight = A.desirable_weight, undesirable_weight = A.undesirable_weight } })
  run:log { round = round, examples = #examples, ["eval/pass@1"] = loop.evaluate(ctx, "r" .. round) }
end
run:finish(string.format("pass@1: %.3f -> %.3f", before, loop.evaluate(ctx, "r" .. A.rounds)))
