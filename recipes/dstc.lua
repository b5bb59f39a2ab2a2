-- recipes/dstc.lua — paper 2 (arXiv 2411.13611): preference pairs from self-generated code
-- AND tests, no ground-truth tests. The model answers in four parts ([Reasoning],
-- [Implementation], [Explanation], [Tests]); every sampled code runs against every sampled
-- test; minimax selection picks c+ (passes most tests), t+ (hardest test c+ passes),
-- t- (easiest test someone fails) and c- (weakest code failing t-); the chosen response is
-- c+ followed by t+, the rejected one c- followed by t-. Train with DPO (β 0.2) or KTO (β 0.3).
-- Ablations: --set minimax=false, --set concat=false. Pair quality against the hidden tests
-- (chosen correct / rejected correct / same verdict, as paper 2 reports) goes to metrics.
local lpo = require "lpo"
local loop = require "lpo.loop"
local run = lpo.run {
  name = "dstc", seed = 1, model = "examples/models/tiny-sft",
  problems = "synthetic:train?n=1024", eval = "synthetic:test",
  rounds = 1, samples = 8, temperature = 0.8, max_new_tokens = 400,
  loss = "dpo", beta = 0.5, kto_beta = 0.3, lr = 5e-5, minimax = true, concat = true,
  batch = 16, epochs = 1, warmup = 0.05, schedule = "cosine",
}
local A = run.args
local ctx = loop.setup(run)

local before = loop.evaluate(ctx, "r0")
for round = 1, A.rounds do
  local groups, truth = loop.collect_dstc(ctx, round)
  local opts = { seed = A.seed, round = round, minimax = A.minimax, concat = A.concat }
  if A.loss == "kto" then
    local examples = lpo.select.dstc_kto(groups, opts)
    loop.train(ctx, round, examples, "kto", { loss = lpo.loss.kto { beta = A.kto_beta } })
  else
    local pairs = lpo.select.dstc(groups, opts)
    local q = lpo.select.pair_quality(pairs, truth)
    run:log { round = round, kind = "pairs", pairs = #pairs, ["pairs/chosen_correct"] = q.chosen_correct,
              ["pairs/rejected_correct"] = q.rejected_correct, ["pairs/same_verdict"] = q.same_verdict }
    loop.train(ctx, round, pairs, "dpo", { loss = lpo.loss.dpo { beta = A.beta } })
  end
  run:log { round = round, ["eval/pass@1"] = loop.evaluate(ctx, "r" .. round) }
end
run:finish(string.format("pass@1: %.3f -> %.3f", before, loop.evaluate(ctx, "r" .. A.rounds)))
