-- recipes/paper_tables.lua — the shape of paper 1's Tables 1-2 and DSTC's Tables 2 and 4 on
-- the embedded benchmark, as mean ± std of greedy pass@1 (test split) over several seeds:
--   base | +RFT | +DPO on-policy (by round) | +DPO off-policy | +DSTC (DPO) | +DSTC (KTO)
--   | DSTC without minimax | DSTC without concatenation
-- Per seed, the methods share their samples where the papers do (RFT and on-policy DPO use
-- the same on-policy samples; the DSTC variants share one DSTC collection) and every method
-- starts from the same SFT model. Writes paper_tables.md and pass1_by_round.svg into the run
-- directory; every stage is memoized, so `lpo run --resume DIR` continues a killed run.
local lpo = require "lpo"
local loop = require "lpo.loop"
local run = lpo.run {
  name = "paper-tables", seed = 1, seeds = { 1, 2, 3 },
  model = "examples/models/tiny-sft", behavior = "examples/models/tiny-sft-b",
  problems = "synthetic:train?n=512", eval = "synthetic:test",
  dstc_problems = "synthetic:train?n=256",   -- four-part answers are ~3x longer: half the problems
  samples = 8, temperature = 0.8, max_new_tokens = 160, dstc_max_new_tokens = 400,
  rounds = 2, beta = 0.5, dstc_beta = 0.5, kto_beta = 0.3, lr = 5e-5, rpo_alpha = 0.0,
  batch = 16, epochs = 1, warmup = 0.05, schedule = "cosine",
}
local A = run.args
local ctx = loop.setup(run)
local behavior = lpo.checkpoint.load(A.behavior)
local dstc_problems = lpo.tasks.load(A.dstc_problems)
local function reset() ctx.policy:load_weights(A.model) end
local dpo = function(beta) return lpo.loss.dpo { beta = beta, rpo_alpha = A.rpo_alpha } end

local results = {}   -- method -> seed -> {pass@1 by round}
local sizes = {}     -- method -> seed -> training examples (pairs, or KTO/RFT examples) of the last round
local function size(method, seed, n) sizes[method] = sizes[method] or {}; sizes[method][seed] = n end
local function record(method, seed, round, value)
  results[method] = results[method] or {}
  results[method][seed] = results[method][seed] or {}
  results[method][seed][round] = value
end

local base = loop.evaluate(ctx, "base")
for _, seed in ipairs(A.seeds) do
  ctx.args = setmetatable({ seed = seed }, { __index = A })
  record("base", seed, 0, base)
  local s = "-s" .. seed
  -- Paper 1: on-policy samples of the SFT model, shared by RFT and DPO round 1.
  local on = loop.collect(ctx, 1, { tag = "on" .. s .. "-r1" })
  local groups = loop.groups(ctx, on)
  reset()
  local chosen = {}
  for _, e in ipairs(lpo.select.kto(groups, { seed = seed, round = 1, max_desirable = 1, max_undesirable = 0 })) do
    if e.label then chosen[#chosen + 1] = { prompt = e.prompt, completion = e.completion } end
  end
  size("rft", seed, #chosen)
  loop.train(ctx, 1, chosen, "sft", { tag = "rft" .. s })
  record("rft", seed, 1, loop.evaluate(ctx, "rft" .. s))

  reset()
  for round = 1, A.rounds do
    local collected = round == 1 and on or loop.collect(ctx, round, { tag = "on" .. s .. "-r" .. round })
    local pairs = lpo.select.random_pair(loop.groups(ctx, collected), { seed = seed, round = round })
    size("dpo_on", seed, #pairs)
    loop.train(ctx, round, pairs, "dpo", { tag = "dpo-on" .. s .. "-r" .. round, loss = dpo(A.beta) })
    record("dpo_on", seed, round, loop.evaluate(ctx, "dpo-on" .. s .. "-r" .. round))
  end

  -- Off-policy: the same recipe on pairs sampled from another model.
  reset()
  local off = loop.collect(ctx, 1, { tag = "off" .. s, policy = behavior })
  local off_pairs = lpo.select.random_pair(loop.groups(ctx, off), { seed = seed, round = 1 })
  size("dpo_off", seed, #off_pairs)
  loop.train(ctx, 1, off_pairs, "dpo", { tag = "dpo-off" .. s, loss = dpo(A.beta) })
  record("dpo_off", seed, 1, loop.evaluate(ctx, "dpo-off" .. s))

  -- DSTC: self-generated code and tests, one collection shared by the four variants.
  ctx.args = setmetatable({ seed = seed, max_new_tokens = A.dstc_max_new_tokens }, { __index = A })
  local dgroups = loop.collect_dstc(ctx, 1, { tag = "dstc" .. s, problems = dstc_problems })
  ctx.args = setmetatable({ seed = seed }, { __index = A })
  for _, v in ipairs {
    { "dstc_dpo", { minimax = true, concat = true }, "dpo" },
    { "dstc_kto", { minimax = true, concat = true }, "kto" },
    { "dstc_no_minimax", { minimax = false, concat = true }, "dpo" },
    { "dstc_no_concat", { minimax = true, concat = false }, "dpo" },
  } do
    local name, o, kind = v[1], v[2], v[3]
    o.seed, o.round = seed, 1
    reset()
    if kind == "kto" then
      local examples = lpo.select.dstc_kto(dgroups, o)
      size(name, seed, #examples)
      loop.train(ctx, 1, examples, "kto", { tag = name .. s, loss = lpo.loss.kto { beta = A.kto_beta } })
    else
      local pairs = lpo.select.dstc(dgroups, o)
      size(name, seed, #pairs)
      loop.train(ctx, 1, pairs, "dpo", { tag = name .. s, loss = dpo(A.dstc_beta) })
    end
    record(name, seed, 1, loop.evaluate(ctx, name .. s))
  end
end
ctx.args = A

-- The table: mean ± std (sample std over seeds) of the last round, and every seed's value.
local ROWS = {
  { "base", "SFT model (base)" }, { "rft", "+ RFT" }, { "dpo_on", "+ DPO on-policy" }, { "dpo_off", "+ DPO off-policy" },
  { "dstc_dpo", "+ DSTC (DPO)" }, { "dstc_kto", "+ DSTC (KTO)" }, { "dstc_no_minimax", "DSTC w/o minimax (DPO)" },
  { "dstc_no_concat", "DSTC w/o concatenation (DPO)" },
}
local function stats(method, round)
  local xs = {}
  for _, seed in ipairs(A.seeds) do
    local r = results[method][seed]
    xs[#xs + 1] = r[round or #r] or r[0]
  end
  local m = 0
  for _, x in ipairs(xs) do m = m + x end
  m = m / #xs
  local v = 0
  for _, x in ipairs(xs) do v = v + (x - m) ^ 2 end
  return m, #xs > 1 and math.sqrt(v / (#xs - 1)) or 0, xs
end
local lines = { string.format("Greedy pass@1 on %s (%d problems), seeds %s; training problems %s, %d samples per problem.",
  A.eval, #ctx.test, table.concat(A.seeds, ", "), A.problems, A.samples), "",
  "| method | pass@1 (mean ± std) | per seed | training examples per seed |", "|---|---|---|---|" }
local summary = {}
for _, row in ipairs(ROWS) do
  local m, sd, xs = stats(row[1])
  local each = {}
  for i, x in ipairs(xs) do each[i] = string.format("%.3f", x) end
  local n = {}
  for i, seed in ipairs(A.seeds) do n[i] = tostring(sizes[row[1]] and sizes[row[1]][seed] or "-") end
  lines[#lines + 1] = string.format("| %s | %.3f ± %.3f | %s | %s |", row[2], m, sd, table.concat(each, " / "), table.concat(n, " / "))
  summary[row[1]] = { mean = m, std = sd, seeds = xs }
end
lines[#lines + 1] = ""
lines[#lines + 1] = "On-policy DPO by round: " .. (function()
  local parts = {}
  for r = 0, A.rounds do
    local m, sd = (function()
      if r == 0 then return base, 0 end
      return stats("dpo_on", r)
    end)()
    parts[#parts + 1] = string.format("round %d %.3f ± %.3f", r, m, sd)
  end
  return table.concat(parts, ", ")
end)()
local md = table.concat(lines, "\n") .. "\n"
lpo.json.write_atomic(run:path("paper_tables.md"), md)
local series = {}
for _, seed in ipairs(A.seeds) do
  local pts = { { 0, base } }
  for r = 1, A.rounds do pts[#pts + 1] = { r, results.dpo_on[seed][r] } end
  series[#series + 1] = { name = "DPO on-policy, seed " .. seed, points = pts }
end
lpo.json.write_atomic(run:path("pass1_by_round.svg"), require("lpo.plot").svg(series, { title = "pass@1 by round", cols = #series }))
print(md)
run:finish(string.format("paper tables: base %.3f, RFT %.3f, DPO on %.3f, DPO off %.3f, DSTC-DPO %.3f, DSTC-KTO %.3f",
  summary.base.mean, summary.rft.mean, summary.dpo_on.mean, summary.dpo_off.mean, summary.dstc_dpo.mean, summary.dstc_kto.mean), summary)
