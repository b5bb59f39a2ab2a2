-- recipes/rft.lua — the baseline of paper 1: rejection-sampling fine-tuning. Same sampling
-- and execution as on-policy DPO, but the policy is trained only on the samples that pass
-- (supervised NLL), one per problem (paper 1 keeps chosen responses only).
local lpo = require "lpo"
local loop = require "lpo.loop"
local run = lpo.run {
  name = "rft", seed = 1, model = "examples/models/tiny-sft",
  problems = "synthetic:train?n=1024", eval = "synthetic:test",
  rounds = 1, samples = 8, temperature = 0.8, max_new_tokens = 160,
  lr = 5e-5, batch = 16, epochs = 1, warmup = 0.05, schedule = "cosine", per_problem = 1,
}
local A = run.args
local ctx = loop.setup(run)

local before = loop.evaluate(ctx, "r0")
for round = 1, A.rounds do
  local collected = loop.collect(ctx, round)
  -- Chosen responses only: passing samples, at most `per_problem` per problem (seeded pick).
  local kept = lpo.select.kto(loop.groups(ctx, collected), { seed = A.seed, round = round, max_desirable = A.per_problem, max_undesirable = 0 })
  local examples = {}
  for _, e in ipairs(kept) do if e.label then examples[#examples + 1] = { prompt = e.prompt, completion = e.completion } end end
  loop.train(ctx, round, examples, "sft")
  run:log { round = round, examples = #examples, ["eval/pass@1"] = loop.evaluate(ctx, "r" .. round) }
end
run:finish(string.format("pass@1: %.3f -> %.3f", before, loop.evaluate(ctx, "r" .. A.rounds)))
