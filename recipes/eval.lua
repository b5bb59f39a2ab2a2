-- recipes/eval.lua — greedy pass@1 (and pass@k with sampling) of a model on a problem file:
-- the embedded benchmark, HumanEval (.jsonl/.jsonl.gz) or MBPP (.jsonl), for users with
-- real models (a Hugging Face directory with tokenizer.json) as well as our tiny ones.
--   build/lpo run recipes/eval.lua --set model=path/to/Qwen2.5-Coder-0.5B \
--       --set problems=../shared/data/humaneval/HumanEval.jsonl.gz --set chat=true
local lpo = require "lpo"
local run = lpo.run {
  name = "eval", seed = 1, model = "examples/models/tiny-sft", problems = "synthetic:test",
  n = 0,                 -- > 0: also sample n programs per problem at `temperature`, report pass@k
  k = 1, temperature = 0.8, max_new_tokens = 512, limit = 0, chat = false, timeout = 5,
}
local A = run.args
local policy, tok = lpo.checkpoint.load(A.model)
local problems = A.problems:match("^synthetic:") and lpo.tasks.load(A.problems) or lpo.data.load(A.problems)
if A.limit > 0 then for i = #problems, A.limit + 1, -1 do problems[i] = nil end end
local sandbox = lpo.sandbox.pool { timeout = A.timeout, memory_mb = 1024 }

-- Prompts: ours are instructions answered by a fenced block; HumanEval prompts are code to
-- continue (the extractor puts the prompt in front when the completion lacks the def).
local function prompt(p)
  local text = p.family and lpo.tasks.prompt(p) or p.prompt
  if A.chat then
    return lpo.chat.render({ { role = "user", content = text } }, { format = "chatml", add_generation_prompt = true })
  end
  return text
end
local extract = function(completion, p) return lpo.data.extract_code(completion, { entry_point = p.entry_point, prompt = p.prompt }) end
local stop = problems[1] and problems[1].family and { "\n```\n" } or { "\ndef ", "\nclass ", "\nif __name__", "\nprint(" }
local decode = { tokenizer = tok, sandbox = sandbox, max_new_tokens = A.max_new_tokens, stop = stop, prompt = prompt, extract = extract,
                 results_path = run:path("results-greedy.jsonl"), samples_path = run:path("samples-greedy.jsonl") }
local pass1 = lpo.eval.pass_at_1(policy, problems, decode)
local line = string.format("%s on %s (%d problems): greedy pass@1 %.3f", A.model, A.problems, #problems, pass1)
if A.n > 0 then
  local res = lpo.collect(policy, problems, { n = A.n, temperature = A.temperature, seed = A.seed, tokenizer = tok, sandbox = sandbox,
    max_new_tokens = A.max_new_tokens, stop = stop, prompt = prompt, extract = extract,
    samples_path = run:path("samples.jsonl"), results_path = run:path("results.jsonl") })
  line = line .. string.format(", pass@%d (n=%d, T=%.2g) %.3f", A.k, A.n, A.temperature, lpo.eval.mean_pass_at_k(lpo.eval.counts(res.results), A.k))
end
run:finish(line)
