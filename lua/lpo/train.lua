-- lpo.train — the trainer: preference (DPO family, KTO) and supervised (SFT / RFT) steps
-- over a policy model, with micro-batches and gradient accumulation, AdamW with a schedule,
-- gradient clipping, TRL metric names in metrics.jsonl, a line per step, and atomic
-- checkpoints that resume exactly (model, optimizer, step, data order).
--
-- Reference log-probs: the reference of a round is the policy at the start of that round,
-- so they are computed with the policy itself before its first update and cached in the
-- run directory (ref_logps-TAG.json); a resumed run reads them back.
local ffi = require "ffi"
local json = require "lpo.json"
local errors = require "lpo.errors"

local M = {}

--- Monotonic wall-clock seconds (os.clock is CPU time summed over threads).
M.now = require("lpo.progress").clock

-- Sequences ---------------------------------------------------------------------------

--- Tokenizes (prompt, response) into one sequence whose response tokens are scored:
--- returns { ids = {...}, mask = {...} } where mask[t] = 1 scores ids[t] given ids[<t].
function M.encode_pair(tok, prompt, response, max_len)
  local p = tok:encode(prompt, { special = true })
  local r = tok:encode(response, { special = true })
  if tok.eos_id then r[#r + 1] = tok.eos_id end
  local ids, mask = {}, {}
  for _, id in ipairs(p) do ids[#ids + 1] = id; mask[#mask + 1] = 0 end
  for _, id in ipairs(r) do ids[#ids + 1] = id; mask[#mask + 1] = 1 end
  if max_len and #ids > max_len then
    -- Keep the prompt's end and as much response as fits: truncation drops response tail.
    for t = #ids, max_len + 1, -1 do ids[t] = nil; mask[t] = nil end
  end
  mask[1] = 0
  local n = 0
  for t = 1, #mask do n = n + mask[t] end
  return { ids = ids, mask = mask, n_tokens = n }
end

--- Packs sequences into a right-padded batch: tokens int32 [B,T], mask float [B,T].
function M.make_batch(seqs, pad_id)
  local B, T = #seqs, 1
  for _, s in ipairs(seqs) do if #s.ids > T then T = #s.ids end end
  local tokens = ffi.new("int32_t[?]", B * T)
  local mask = ffi.new("float[?]", B * T)
  for b, s in ipairs(seqs) do
    local base = (b - 1) * T
    for t = 1, T do
      tokens[base + t - 1] = s.ids[t] or pad_id or 0
      mask[base + t - 1] = s.mask[t] or 0
    end
  end
  return { B = B, T = T, tokens = tokens, mask = mask }
end

-- Per-sequence log-probs of many sequences, micro-batched, no gradient.
function M.sequence_logps(policy, seqs, micro, pad_id)
  local out = {}
  for s = 1, #seqs, micro do
    local chunk = {}
    for i = s, math.min(#seqs, s + micro - 1) do chunk[#chunk + 1] = seqs[i] end
    local lp = policy:logprobs(M.make_batch(chunk, pad_id), { grad = false })
    for i = 1, #chunk do out[#out + 1] = lp[i] end
  end
  return out
end

-- Deterministic order: Fisher-Yates with Philox keyed by (seed, epoch).
local function shuffled(n, seed, epoch)
  local C = require("lpo.ffi").load("lpo.h")
  local rng = ffi.new("lpo_philox")
  C.lpo_philox_init(rng, C.lpo_philox_key(seed or 0, 7, epoch, 0, 0), 0)
  local idx = {}
  for i = 1, n do idx[i] = i end
  for i = n, 2, -1 do
    local j = 1 + tonumber(C.lpo_philox_u32(rng)) % i
    idx[i], idx[j] = idx[j], idx[i]
  end
  return idx
end
M.shuffled = shuffled

local function mean_into(acc, metrics, w)
  for k, v in pairs(metrics) do acc[k] = (acc[k] or 0) + v * w end
end

-- Checkpoints -------------------------------------------------------------------------

local function exists(p) local f = io.open(p, "rb"); if f then f:close() return true end return false end

local function save_checkpoint(dir, policy, opt, state)
  local tmp = dir .. ".tmp"
  os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "'")
  policy:save(tmp)
  opt:save(tmp .. "/optimizer.safetensors")
  json.write_atomic(tmp .. "/trainer.json", json.encode(state) .. "\n")
  -- Swap in the new checkpoint: the old one survives until the new one is complete.
  os.execute("rm -rf '" .. dir .. ".old' && (test -d '" .. dir .. "' && mv '" .. dir .. "' '" .. dir .. ".old' || true) && mv '" .. tmp .. "' '" .. dir .. "' && rm -rf '" .. dir .. ".old'")
end

local function load_checkpoint(dir, policy, opt)
  if not exists(dir .. "/trainer.json") then
    if exists(dir .. ".old/trainer.json") then dir = dir .. ".old" else return nil end
  end
  policy:load_weights(dir)
  opt:load(dir .. "/optimizer.safetensors")
  return json.read_file(dir .. "/trainer.json")
end

-- The loop ----------------------------------------------------------------------------

--- Trains `policy` on `examples`. kind: "pairs" (prompt, chosen, rejected),
--- "kto" (prompt, completion, label) or "sft" (prompt, completion).
--- opts: tokenizer, loss (lpo.loss object; for sft optional), lr, schedule, warmup,
--- min_lr_ratio, batch, micro_batch, epochs (or steps), max_grad_norm, weight_decay, seed, max_len,
--- run (lpo.run object), tag (names the checkpoint and caches), checkpoint_every,
--- eval_every + eval (fn(step) -> metrics table), log_every, on_step (fn(step, metrics)),
--- sft_norm ("token": TRL's mean over all response tokens of a step | "sequence"),
--- stop_at (last step to train; the schedule still spans `steps`).
function M.fit(policy, examples, kind, opts)
  local tok = opts.tokenizer or errors.raise("train", "opts.tokenizer is required")
  local run, tag = opts.run, opts.tag or kind
  local batch, micro = opts.batch or 16, opts.micro_batch or opts.batch or 16
  if batch % micro ~= 0 then errors.raise("train", "batch %d is not a multiple of micro_batch %d", batch, micro) end
  local epochs, max_len = opts.epochs or 1, opts.max_len or 512
  local pad = tok.pad_id or 0
  if #examples == 0 then errors.raise("train", "no %s examples to train on", kind) end
  local sft_norm = opts.sft_norm or "token"
  if sft_norm ~= "token" and sft_norm ~= "sequence" then
    errors.raise("train", "opts.sft_norm must be 'token' or 'sequence', got '%s'", tostring(sft_norm))
  end
  if opts.stop_at and opts.stop_at < 1 then errors.raise("train", "opts.stop_at must be >= 1, got %s", tostring(opts.stop_at)) end

  -- Tokenize once.
  local seqs = {}
  for i, ex in ipairs(examples) do
    if kind == "pairs" then
      seqs[i] = { M.encode_pair(tok, ex.prompt, ex.chosen, max_len), M.encode_pair(tok, ex.prompt, ex.rejected, max_len) }
    else
      seqs[i] = { M.encode_pair(tok, ex.prompt, ex.completion, max_len) }
    end
  end

  -- Reference log-probs (once per dataset; the cache survives resumes).
  local ref = nil
  local reference_free = { simpo = true, orpo = true, sft = true, nll = true, rft = true }
  local needs_ref = kind ~= "sft" and not (opts.loss and reference_free[opts.loss.name])
  if needs_ref then
    local cache = run and run:path("ref_logps-" .. tag .. ".json")
    if cache and exists(cache) then ref = json.read_file(cache)
    else
      local flat = {}
      for _, s in ipairs(seqs) do for _, q in ipairs(s) do flat[#flat + 1] = q end end
      if kind == "kto" then  -- KL estimate pairs: prompt i with completion i+1 (TRL's mismatch)
        for i, ex in ipairs(examples) do
          local other = examples[i % #examples + 1]
          flat[#flat + 1] = M.encode_pair(tok, ex.prompt, other.completion, max_len)
        end
      end
      ref = M.sequence_logps(policy, flat, micro * 2, pad)
      if cache then json.write_atomic(cache, json.encode(ref) .. "\n") end
    end
  end

  local steps_per_epoch = math.ceil(#examples / batch)
  local total_steps = opts.steps or steps_per_epoch * epochs   -- `steps` cycles through epochs
  local optim = require "lpo.optim"
  local opt = optim.adamw {
    model = policy, lr = opts.lr or 5e-6, weight_decay = opts.weight_decay or 0.0,
    betas = opts.betas, eps = opts.eps, max_grad_norm = opts.max_grad_norm or 1.0,
    schedule = { kind = opts.schedule or "cosine", warmup = opts.warmup or 0.0, total_steps = total_steps,
                 min_lr_ratio = opts.min_lr_ratio },
  }

  local ckpt_dir = run and run:path("ckpt-" .. tag)
  local state = { step = 0, tag = tag }
  if ckpt_dir then
    local saved = load_checkpoint(ckpt_dir, policy, opt)
    if saved then state = saved end
  end
  if state.finished then return state end

  local t_start = M.now()
  local tokens_seen = 0
  -- stop_at ends training early while the schedule keeps its planned length (an SFT model
  -- taken partway through its cosine schedule, as recipes/sft.lua ships).
  local last_step = math.min(total_steps, opts.stop_at or total_steps)
  for step = state.step + 1, last_step do
    local epoch = math.floor((step - 1) / steps_per_epoch)
    local order = shuffled(#examples, opts.seed, epoch)
    local first = ((step - 1) % steps_per_epoch) * batch + 1
    local last = math.min(#examples, first + batch - 1)
    local n_in_step = last - first + 1
    policy:zero_grad()
    local acc, wsum, ntok = {}, 0, 0
    local t0 = M.now()
    -- SFT's normalizer: "token" = the mean NLL over every response token of the step (TRL's
    -- default), "sequence" = the mean over the step's examples of each one's per-token NLL
    -- (long responses then weigh no more than short ones).
    local sft_total = 0
    if kind == "sft" then
      if sft_norm == "token" then for q = first, last do sft_total = sft_total + seqs[order[q]][1].n_tokens end
      else sft_total = n_in_step end
    end
    for m0 = first, last, micro do
      local ids = {}
      for q = m0, math.min(last, m0 + micro - 1) do ids[#ids + 1] = order[q] end
      local bseqs = {}
      for _, i in ipairs(ids) do for _, s in ipairs(seqs[i]) do bseqs[#bseqs + 1] = s; ntok = ntok + #s.ids end end
      local lp = policy:logprobs(M.make_batch(bseqs, pad), { grad = true })
      local w = #ids / n_in_step       -- this micro-batch's share of the step's mean
      local dseq, metrics = {}, nil
      if kind == "sft" then
        local l = 0
        for k, s in ipairs(bseqs) do
          local d = sft_norm == "token" and sft_total or sft_total * math.max(1, s.n_tokens)
          dseq[k] = -1 / math.max(1, d); l = l - lp[k] / math.max(1, d)
        end
        metrics = { loss = l / w }
      elseif kind == "pairs" then
        local b = { policy_chosen = {}, policy_rejected = {}, ref_chosen = {}, ref_rejected = {}, chosen_len = {}, rejected_len = {} }
        for k, i in ipairs(ids) do
          b.policy_chosen[k], b.policy_rejected[k] = lp[2 * k - 1], lp[2 * k]
          b.ref_chosen[k] = ref and ref[2 * i - 1] or 0
          b.ref_rejected[k] = ref and ref[2 * i] or 0
          b.chosen_len[k], b.rejected_len[k] = seqs[i][1].n_tokens, seqs[i][2].n_tokens
        end
        local r = opts.loss:compute(b)
        for k = 1, #ids do dseq[2 * k - 1] = r.grad_chosen[k] * w; dseq[2 * k] = r.grad_rejected[k] * w end
        metrics = r.metrics
        metrics.loss = r.loss
      else -- kto
        local b = { policy = {}, ref = {}, label = {}, kl_policy = {}, kl_ref = {} }
        for k, i in ipairs(ids) do
          b.policy[k], b.ref[k], b.label[k] = lp[k], ref[i], examples[i].label and true or false
          b.kl_ref[k] = ref[#examples + i]
        end
        -- The KL term is detached in KTO: the mismatched pairs need no gradient, and the
        -- policy side of the estimate uses the reference of those pairs (the estimate is
        -- clamped and detached, so using the cached values keeps the step deterministic).
        for k = 1, #ids do b.kl_policy[k] = b.kl_ref[k] end
        local r = opts.loss:compute(b)
        for k = 1, #ids do dseq[k] = r.grad_policy[k] * w end
        metrics = r.metrics
        metrics.loss = r.loss
      end
      policy:backward(dseq)
      mean_into(acc, metrics, w)
      wsum = wsum + w
    end
    local info = opt:step()
    tokens_seen = tokens_seen + ntok
    local rec = { step = step, epoch = epoch + 1, lr = info.lr, grad_norm = info.grad_norm,
                  tokens_per_s = ntok / math.max(1e-9, M.now() - t0) }
    for k, v in pairs(acc) do rec[k] = v / wsum end
    if opts.eval_every and opts.eval and step % opts.eval_every == 0 then
      for k, v in pairs(opts.eval(step) or {}) do rec[k] = v end
    end
    rec.kind = tag
    if run then run:log(rec, { quiet = opts.quiet }) elseif not opts.quiet then print(json.encode(rec)) end
    if opts.on_step then opts.on_step(step, rec) end
    state.step = step
    if ckpt_dir and ((opts.checkpoint_every and step % opts.checkpoint_every == 0) or step == last_step) then
      state.finished = step == last_step or nil
      save_checkpoint(ckpt_dir, policy, opt, state)
    end
  end
  state.finished = true
  state.seconds = M.now() - t_start
  return state
end

function M.dpo(policy, pairs, opts) return M.fit(policy, pairs, "pairs", opts) end
function M.kto(policy, examples, opts) return M.fit(policy, examples, "kto", opts) end
function M.sft(policy, examples, opts) return M.fit(policy, examples, "sft", opts) end

require("lpo.doc").module(M, "lpo.train", {
  __module = "the trainer: dpo, kto, sft, fit",
  fit = { "fit(policy, examples, kind, opts) -> state", "kind: pairs | kto | sft. Micro-batches, AdamW, schedule, clipping, TRL metrics, atomic checkpoints." },
  dpo = { "dpo(policy, pairs, opts)", "Preference training on TRL pairs {prompt, chosen, rejected} with opts.loss (default DPO)." },
  kto = { "kto(policy, examples, opts)", "KTO on {prompt, completion, label}." },
  sft = { "sft(policy, examples, opts)", "Supervised NLL on {prompt, completion} (SFT / RFT)." },
})

return M
