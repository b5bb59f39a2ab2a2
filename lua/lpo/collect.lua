-- lpo.collect — on-policy collection: problems -> prompts -> samples (policy, n per prompt)
-- -> extracted code -> sandbox -> results. Writes the samples and results JSONL artifacts
-- of DESIGN.md as it goes, chunk by chunk, so a killed run resumes where it stopped:
-- problems already in results_path are read back, the rest are generated. Generation is
-- keyed by (seed, purpose, round, problem, sample), so a regenerated chunk is identical.
local json = require "lpo.json"
local errors = require "lpo.errors"

local M = {}

local function default_prompt(problem)
  local ok, tasks = pcall(require, "lpo.tasks")
  if ok and tasks.prompt and problem.family then return tasks.prompt(problem) end
  return problem.prompt
end

local function default_extract(completion, problem)
  local ok, data = pcall(require, "lpo.data")
  if ok and data.extract_code then return data.extract_code(completion, { entry_point = problem.entry_point }) end
  return completion
end

--- The sandbox job for running `code` against a problem's tests (or `tests` given).
function M.job(problem, code, tests)
  if tests or problem.tests then
    return { language = problem.language or "python", code = code, tests = tests or problem.tests, setup = problem.setup,
             entry_point = problem.entry_point }
  end
  if problem.test then
    return { language = problem.language or "python", code = code, test = problem.test, entry_point = problem.entry_point, setup = problem.setup }
  end
  errors.raise("problem " .. tostring(problem.id), "has neither tests[] nor test + entry_point")
end

local function read_done(path)
  local done = {}
  local f = path and io.open(path, "rb")
  if not f then return done end
  f:close()
  for _, r in ipairs(json.read_lines(path)) do
    done[tostring(r.problem_id)] = done[tostring(r.problem_id)] or {}
    done[tostring(r.problem_id)][r.sample_id] = r
  end
  return done
end

--- Runs the collection. opts: tokenizer, sandbox (pool), n, temperature, top_p, top_k,
--- max_new_tokens, stop, seed, round, purpose, prompt (fn), extract (fn), samples_path,
--- results_path, chunk (problems per chunk), generate (fn(prompts, gen_opts) -> outs, for
--- tests or other back ends), progress (bool), label.
--- Returns { samples = {...}, results = {...} } in problem order, sample order.
function M.run(policy, problems, opts)
  opts = opts or {}
  local n = opts.n or 1
  local prompt_of = opts.prompt or default_prompt
  local extract = opts.extract or default_extract
  local generate = opts.generate or function(prompts, gen_opts)
    return require("lpo.gen").generate(policy, opts.tokenizer, prompts, gen_opts)
  end
  local done_samples = read_done(opts.samples_path)
  local done_results = read_done(opts.results_path)
  local chunk = opts.chunk or 64
  local bar = nil
  if opts.progress ~= false then
    local ok, progress = pcall(require, "lpo.progress")
    if ok and progress.new then bar = progress.new { total = #problems * n, label = opts.label or "collect", unit = "samples" } end
  end
  local samples, results, count = {}, {}, 0
  for start = 1, #problems, chunk do
    local stop = math.min(#problems, start + chunk - 1)
    -- Which problems of this chunk still lack a complete set of results?
    local todo = {}
    for i = start, stop do
      local id = tostring(problems[i].id)
      local have = done_results[id]
      local complete = have ~= nil
      for j = 1, n do if not (have and have[j] and done_samples[id] and done_samples[id][j]) then complete = false end end
      if not complete then todo[#todo + 1] = i end
    end
    local fresh = {}
    if #todo > 0 then
      local prompts = {}
      for k, i in ipairs(todo) do prompts[k] = { text = prompt_of(problems[i]), problem = i, key = i } end
      local outs = generate(prompts, {
        n = n, temperature = opts.temperature or 0, top_p = opts.top_p, top_k = opts.top_k,
        max_new_tokens = opts.max_new_tokens or 256, stop = opts.stop, seed = opts.seed or 0,
        round = opts.round or 0, purpose = opts.purpose or "collect", batch = opts.batch,
        stop_at_eos = opts.stop_at_eos,
      })
      local jobs, meta = {}, {}
      for k, i in ipairs(todo) do
        local p = problems[i]
        for j = 1, n do
          local o = outs[k][j]
          local code = extract(o.text, p)
          local s = { problem_id = p.id, sample_id = j, round = opts.round or 0, completion = o.text, code = code,
                      seed = opts.seed or 0, logp = o.logp or o.sum_logp, stop_reason = o.stop_reason, n_tokens = o.n_tokens }
          fresh[#fresh + 1] = s
          jobs[#jobs + 1] = M.job(p, code)
          meta[#meta + 1] = s
        end
      end
      local res = opts.sandbox:run_batch(jobs)
      for q, r in ipairs(res) do
        local s = meta[q]
        local rec = { problem_id = s.problem_id, sample_id = s.sample_id, verdict = r.verdict, passed = r.passed or json.array(),
                      time_ms = r.time_ms, stderr_tail = r.stderr_tail or "" }
        local id = tostring(s.problem_id)
        done_samples[id] = done_samples[id] or {}
        done_samples[id][s.sample_id] = s
        done_results[id] = done_results[id] or {}
        done_results[id][s.sample_id] = rec
      end
      -- Samples first, results second: a crash between the two only redoes this chunk.
      if opts.samples_path then for _, s in ipairs(fresh) do json.append_line(opts.samples_path, s) end end
      if opts.results_path then
        for _, s in ipairs(fresh) do json.append_line(opts.results_path, done_results[tostring(s.problem_id)][s.sample_id]) end
      end
    end
    for i = start, stop do
      local id = tostring(problems[i].id)
      for j = 1, n do
        samples[#samples + 1] = done_samples[id][j]
        results[#results + 1] = done_results[id][j]
      end
    end
    count = count + (stop - start + 1) * n
    if bar then bar:update(count) end
  end
  if bar then bar:finish() end
  return { samples = samples, results = results }
end

setmetatable(M, { __call = function(_, policy, problems, opts) return M.run(policy, problems, opts) end })

require("lpo.doc").module(M, "lpo.collect", {
  __module = "on-policy collection: lpo.collect(policy, problems, opts) -> {samples, results}",
  run = { "run(policy, problems, opts) -> {samples, results}", "Samples n completions per problem, extracts code, runs the sandbox; resumable via samples_path/results_path." },
  job = { "job(problem, code [, tests]) -> sandbox job", "The sandbox job for a problem's tests." },
})

return M
