-- recipes/sweep.lua — choose DPO's lr / β / rpo_alpha / selection rule on the VALID split:
-- samples once from the SFT model, then for each configuration resets the policy, trains one
-- epoch on that round's pairs and measures greedy pass@1 on valid. Never touches test.
--   build/lpo run recipes/sweep.lua --set 'configs=[{"lr":5e-5,"beta":0.5},{"lr":1e-4,"rpo_alpha":1}]'
local lpo = require "lpo"
local loop = require "lpo.loop"
local run = lpo.run {
  name = "sweep", seed = 1, model = "examples/models/tiny-sft",
  problems = "synthetic:train?n=1024", eval = "synthetic:valid",
  samples = 8, temperature = 0.8, max_new_tokens = 160, batch = 16, epochs = 1, warmup = 0.05, schedule = "cosine",
  lr = 5e-5, configs = {
    { lr = 5e-5, rpo_alpha = 1, epochs = 2 }, { lr = 1e-4, rpo_alpha = 1 }, { lr = 3e-5, epochs = 3 },
    { lr = 5e-5, beta = 0.5 }, { rule = "all_pairs", lr = 3e-5, rpo_alpha = 0.5 },
  },
}
local A = run.args
local ctx = loop.setup(run)
local base = loop.evaluate(ctx, "base")
local groups = loop.groups(ctx, loop.collect(ctx, 1))
local lines = { string.format("base (valid): %.3f", base) }
for i, c in ipairs(A.configs) do
  ctx.policy:load_weights(A.model)
  local pairs = c.rule == "all_pairs" and lpo.select.all_pairs(groups, { max_per_problem = 4 })
             or lpo.select.random_pair(groups, { seed = A.seed, round = 1 })
  loop.train(ctx, 1, pairs, "dpo", { tag = "cfg" .. i, lr = c.lr, epochs = c.epochs or 1,
    loss = lpo.loss.dpo { beta = c.beta or 0.1, rpo_alpha = c.rpo_alpha or 0 } })
  local p = loop.evaluate(ctx, "cfg" .. i)
  lines[#lines + 1] = string.format("%s: %d pairs, valid pass@1 %.3f", lpo.json.encode(c), #pairs, p)
  run:log { step = i, ["eval/pass@1"] = p, pairs = #pairs }
end
print(table.concat(lines, "\n"))
run:finish(lines[#lines])
