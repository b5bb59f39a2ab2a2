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
    max_new_tokens = A.max_new_tokens or 160, stop = opts.stop or ctx.stop, prompt = ctx.prompt, batch = 64,
    samples_path = ctx.run:path("samples-" .. tag .. ".jsonl"),
    results_path = ctx.run:path("results-" .. tag .. ".jsonl"), label = "collect " .. tag,
    generate = opts.generate or ctx.generate,   -- a stand-in generator (tests, other back ends)
  })
end

--- Samples grouped per problem (with prompts) for the selection rules.
function M.groups(ctx, collected, problems)
  return lpo.select.group(collected.samples, collected.results, { problems = problems or ctx.problems, prompt = ctx.prompt })
end

--- Trains the policy on this round's data; kind: "dpo" (pairs), "kto", "sft". The data
--- is written to data-TAG.jsonl (TAG = opts.tag or KIND-rROUND) before training.
function M.train(ctx, round, data, kind, opts)
  local A = ctx.args
  opts = opts or {}
  local tag = opts.tag or (kind .. "-r" .. round)
  json.write_lines(ctx.run:path("data-" .. tag .. ".jsonl"), data)
  local o = {
    tokenizer = ctx.tok, lr = A.lr, schedule = A.schedule or "cosine", warmup = A.warmup or 0.05,
    batch = A.batch or 16, micro_batch = A.micro_batch, epochs = A.epochs or 1, seed = A.seed + round,
    run = ctx.run, tag = tag, quiet = true,
  }
  for k, v in pairs(opts) do o[k] = v end
  if #data == 0 then
    ctx.run:log { round = round, kind = "skipped-" .. tag, examples = 0 }
    return nil
  end
  local f = kind == "dpo" and lpo.train.dpo or kind == "kto" and lpo.train.kto or lpo.train.sft
  return f(ctx.policy, data, o)
end

--- DSTC (paper 2) data for a round, with no ground-truth tests used for selection:
--- samples in the four-part format (prompt names the entry point), each sample's code run
--- against every test the samples wrote (pooled per problem), giving the pass matrix P.
--- Returns groups ready for lpo.select.dstc (prompts WITHOUT the entry-point hint, as
--- paper 2 trains), and the ground-truth results of the same samples (for pair quality).
function M.collect_dstc(ctx, round, opts)
  opts = opts or {}
  local hinted = function(p) return lpo.tasks.prompt(p, { format = "dstc", hint = true }) end
  local saved_prompt = ctx.prompt
  ctx.prompt = hinted
  local tag = opts.tag or ("dstc-r" .. round)
  -- No stop string: the plain format's "```" fence would end the answer after [Implementation],
  -- before the [Tests] it must write; the end-of-sequence token ends a four-part answer.
  local problems = opts.problems or ctx.problems
  local collected = M.collect(ctx, round, { tag = tag, seed = opts.seed, stop = {}, problems = problems })   -- verdicts vs hidden tests
  ctx.prompt = saved_prompt
  local groups = lpo.select.group(collected.samples, collected.results, { problems = problems })
  local matrix = ctx.run:stage("matrix-" .. tag, function()
    local jobs, where = {}, {}
    for gi, g in ipairs(groups) do
      local tests = lpo.select.dstc_tests(g.samples)
      local texts = {}
      for j, t in ipairs(tests) do texts[j] = t.text end
      for si, s in ipairs(g.samples) do
        if #texts > 0 then
          -- Model-written tests are untrusted too: each runs against a fresh program process
          -- (isolate_tests), so a hostile test cannot patch the shared test server.
          jobs[#jobs + 1] = { language = "python", code = s.code, tests = texts, isolate_tests = true,
                              entry_point = g.problem and g.problem.entry_point }
          where[#where + 1] = { gi, si }
        end
      end
    end
    local res = ctx.sandbox:run_batch(jobs)
    local out = {}
    for q, r in ipairs(res) do
      local gi, si = where[q][1], where[q][2]
      out[gi] = out[gi] or {}
      local row = {}
      for j, v in ipairs(r.passed or {}) do row[j] = v and 1 or 0 end
      out[gi][si] = row
    end
    return out
  end)
  local dstc_groups, truth = {}, {}
  for gi, g in ipairs(groups) do
    local tests = lpo.select.dstc_tests(g.samples)
    local samples = {}
    for si, s in ipairs(g.samples) do
      truth[tostring(s.problem_id) .. "/" .. s.sample_id] = s.verdict == "passed"
      local copy = {}
      for k, v in pairs(s) do copy[k] = v end
      local row = matrix[gi] and matrix[gi][si] or {}
      copy.passed = {}
      for j = 1, #tests do copy.passed[j] = row[j] == 1 end
      copy.verdict = nil
      samples[si] = copy
    end
    dstc_groups[gi] = { problem_id = g.problem_id, problem = g.problem, samples = samples, tests = tests,
                        prompt = lpo.tasks.prompt(g.problem, { format = "dstc" }) }
  end
  return dstc_groups, function(pid, sid) return truth[tostring(pid) .. "/" .. sid] end
end

return M
