-- lpo.loop — the pieces every on-policy recipe repeats, bound to a run:
--   ctx = loop.setup(run)              policy + tokenizer + problems + sandbox + decoding
--   loop.evaluate(ctx, tag)            greedy pass@1 on the eval split (memoized stage)
--   loop.collect(ctx, round [, opts])  n samples per problem -> verdicts (JSONL artifacts)
--   loop.groups(ctx, collected)        samples grouped per problem for lpo.select
--   loop.train(ctx, round, data, kind, opts)   dpo | kto | sft on the round's data
-- Recipes stay short and read as the method; every artifact lands in the run directory.
local lpo = require "lpo"
local json = require "lpo.json"

local M = {}

--- Arguments the helpers read from run.args (recipes list them in their defaults):
--- model, problems, eval, samples, temperature, max_new_tokens, seed, timeout.
function M.setup(run, opts)
  opts = opts or {}
  local A = run.args
  local ctx = { run = run, args = A }
  ctx.policy, ctx.tok = lpo.checkpoint.load(A.model)
  ctx.problems = lpo.tasks.load(A.problems)
  ctx.test = lpo.tasks.load(A.eval)
  run:record_dataset("problems", lpo.data.hash_string(json.encode(ctx.problems)))
  run:record_dataset("eval", lpo.data.hash_string(json.encode(ctx.test)))
  ctx.sandbox = lpo.sandbox.pool { timeout = A.timeout or 3, memory_mb = 512 }
  ctx.format = opts.format or "plain"
  ctx.prompt = function(p) return lpo.tasks.prompt(p, { format = ctx.format }) end
  ctx.stop = opts.stop or { "\n```\n" }
  ctx.decode = { tokenizer = ctx.tok, sandbox = ctx.sandbox, max_new_tokens = A.max_new_tokens or 160,
                 stop = ctx.stop, prompt = ctx.prompt, batch = 64 }
  return ctx
end

--- Greedy pass@1 of the current policy on the eval split, memoized as stage eval-TAG.
function M.evaluate(ctx, tag, problems)
  return ctx.run:stage("eval-" .. tag, function()
    return (lpo.eval.pass_at_1(ctx.policy, problems or ctx.test, ctx.decode))
  end)
end

--- Samples ctx.args.samples programs per problem from `policy` (default: the current
--- policy) and runs them; samples-rN.jsonl and results-rN.jsonl make it resumable.
function M.collect(ctx, round, opts)
  opts = opts or {}
  local A = ctx.args
  local tag = opts.tag or ("r" .. round)
  return lpo.collect(opts.policy or ctx.policy, opts.problems or ctx.problems, {
    n = opts.n or A.samples, temperature = opts.temperature or A.temperature, seed = opts.seed or A.seed,
    round = round, purpose = opts.purpose or "collect", tokenizer = ctx.tok, sandbox = ctx.sandbox,
    max_new_tokens = A.max_new_tokens or 160, stop = ctx.stop, prompt = ctx.prompt, batch = 64,
    samples_path = ctx.run:path("samples-" .. tag .. ".jsonl"),
    results_path = ctx.run:path("results-" .. tag .. ".jsonl"), label = "collect " .. tag,
  })
end

--- Samples grouped per problem (with prompts) for the selection rules.
function M.groups(ctx, collected, problems)
  return lpo.select.group(collected.samples, collected.results, { problems = problems or ctx.problems, prompt = ctx.prompt })
end

--- Trains the policy on this round's data; kind: "dpo" (pairs), "kto", "sft".
function M.train(ctx, round, data, kind, opts)
  local A = ctx.args
  json.write_lines(ctx.run:path(("%s-r%d.jsonl"):format(kind == "dpo" and "pairs" or kind, round)), data)
  local o = {
    tokenizer = ctx.tok, lr = A.lr, schedule = A.schedule or "cosine", warmup = A.warmup or 0.05,
    batch = A.batch or 16, micro_batch = A.micro_batch, epochs = A.epochs or 1, seed = A.seed + round,
    run = ctx.run, tag = kind .. "-r" .. round, quiet = true,
  }
  for k, v in pairs(opts or {}) do o[k] = v end
  if #data == 0 then
    ctx.run:log { round = round, kind = "skipped", reason = 0 }
    return nil
  end
  local f = kind == "dpo" and lpo.train.dpo or kind == "kto" and lpo.train.kto or lpo.train.sft
  return f(ctx.policy, data, o)
end

return M
