-- recipes/quickstart.lua — the first thing to run: one round of on-policy DPO from execution
-- feedback on the embedded benchmark, starting from the shipped tiny SFT model
-- (examples/models/tiny-sft, made by recipes/sft.lua). Samples 8 programs for each of 512
-- training problems, runs them in the sandbox, keeps one random (pass, fail) pair per
-- problem, trains DPO for one epoch, and reports greedy pass@1 on the test split.
-- Last line: pass@1: BEFORE -> AFTER
local lpo = require "lpo"
local loop = require "lpo.loop"
local run = lpo.run {
  name = "quickstart", seed = 1, model = "examples/models/tiny-sft",
  problems = "synthetic:train?n=512", eval = "synthetic:test",
  samples = 8, temperature = 0.8, max_new_tokens = 160,
  beta = 0.5, lr = 5e-5, rpo_alpha = 0.0, batch = 16, epochs = 1, warmup = 0.05, schedule = "cosine",
}
local A = run.args
local ctx = loop.setup(run)

local before = loop.evaluate(ctx, "before")
print(string.format("pass@1 before: %.3f", before))
local collected = loop.collect(ctx, 1)
local pairs = lpo.select.random_pair(loop.groups(ctx, collected), { seed = A.seed, round = 1 })
print(string.format("%d samples -> %d pairs", #collected.samples, #pairs))
loop.train(ctx, 1, pairs, "dpo", { loss = lpo.loss.dpo { beta = A.beta, rpo_alpha = A.rpo_alpha } })
local after = loop.evaluate(ctx, "after")
run:log { round = 1, pairs = #pairs, ["eval/pass@1"] = after }
run:finish(string.format("pass@1: %.3f -> %.3f", before, after))
