-- lpo.gen — batched sampling from a policy (engine/gen/generate.c does the work).
--
--   local outs = gen.generate(policy, tok, { "prompt 1", { text = "prompt 2", key = 7 } },
--                             { n = 8, temperature = 0.8, top_p = 0.95, max_new_tokens = 256,
--                               stop = { "\n```" }, seed = 1, round = 2, purpose = "collect" })
--   outs[i][j] = { text, trimmed, ids, logps, logp (sum), n_tokens, stop_reason }
--
-- Sample j of prompt i is keyed by (seed, purpose, round, key_i, j), key_i defaulting to
-- the prompt's index: the same sample comes out alone or in any batch. `text` is exactly
-- what was sampled (a stop string included, so training on it stays on-policy); `trimmed`
-- cuts it at the first stop string.
local ffi = require "ffi"
local lffi = require "lpo.ffi"
local errors = require "lpo.errors"
lffi.load("lpo_model.h")
lffi.load("lpo_text.h")
local C = lffi.load("lpo_gen.h")

local M = {}

local STOP = { [0] = "length", [1] = "eos", [2] = "stop", [3] = "context" }

-- Purposes are named in recipes; their stream index is a fixed hash (FNV-1a) of the name.
local purpose_id
purpose_id = function(p)
  if type(p) == "number" then return p end
  p = p or ""
  local h = 14695981039346656037ULL
  for i = 1, #p do
    h = bit.bxor(h, p:byte(i)) * 1099511628211ULL
  end
  return h
end
M.purpose_id = purpose_id

local function trim_at_stop(text, stops)
  local cut = nil
  for _, s in ipairs(stops or {}) do
    local at = text:find(s, 1, true)
    if at and (not cut or at < cut) then cut = at end
  end
  return cut and text:sub(1, cut - 1) or text
end

--- Generates opts.n completions for each prompt. Returns outs[i][j] (see the top).
function M.generate(policy, tok, prompts, opts)
  opts = opts or {}
  if not policy or not policy.h then errors.raise("gen.generate", "first argument must be an lpo.model") end
  if not tok or not tok.ptr then errors.raise("gen.generate", "second argument must be an lpo.tokenizer") end
  local n, maxnew = opts.n or 1, opts.max_new_tokens or 256
  local P = #prompts
  if P == 0 then return {} end
  local cfg = ffi.new("lpo_gen_config")
  cfg.n, cfg.max_new_tokens = n, maxnew
  cfg.temperature = opts.temperature or 0
  cfg.top_k, cfg.top_p = opts.top_k or 0, opts.top_p or 1
  cfg.seed = opts.seed or 0
  cfg.purpose = purpose_id(opts.purpose or "sample")
  cfg.round = opts.round or 0
  cfg.max_rows = opts.batch or math.max(n, 32)
  -- Prompt ids (bos if the tokenizer wants one).
  local enc, lens, keys = {}, ffi.new("int32_t[?]", P), ffi.new("uint64_t[?]", P)
  local ptrs = ffi.new("const int32_t*[?]", P)
  local maxp = 0
  for i, p in ipairs(prompts) do
    local ids = type(p) == "table" and p.ids
    if not ids then
      local text = type(p) == "table" and p.text or p
      ids = tok:encode(text, { special = true })
      if tok.bos_id and tok.add_bos then table.insert(ids, 1, tok.bos_id) end
    end
    local buf = ffi.new("int32_t[?]", math.max(1, #ids))
    for k = 1, #ids do buf[k - 1] = ids[k] end
    enc[i] = buf
    ptrs[i - 1] = buf
    lens[i - 1] = #ids
    keys[i - 1] = type(p) == "table" and p.key or (i - 1)
    if #ids > maxp then maxp = #ids end
  end
  cfg.max_seq = opts.max_seq or (maxp + maxnew + 1)
  local stop_ids = {}
  if tok.eos_id and opts.stop_at_eos ~= false then stop_ids[#stop_ids + 1] = tok.eos_id end
  for _, id in ipairs(opts.stop_ids or {}) do stop_ids[#stop_ids + 1] = id end
  local sid = ffi.new("int32_t[?]", math.max(1, #stop_ids))
  for k, id in ipairs(stop_ids) do sid[k - 1] = id end
  cfg.stop_ids, cfg.n_stop_ids = sid, #stop_ids
  local stops = opts.stop or {}
  local cstops = ffi.new("const char*[?]", math.max(1, #stops))
  for k, s in ipairs(stops) do cstops[k - 1] = s end
  cfg.stop_strings, cfg.n_stop_strings = cstops, #stops

  local total = P * n
  local ids = ffi.new("int32_t[?]", total * maxnew)
  local logps = ffi.new("float[?]", total * maxnew)
  local len = ffi.new("int32_t[?]", total)
  local stop = ffi.new("int32_t[?]", total)
  local cb = nil
  if opts.progress then
    local ok, progress = pcall(require, "lpo.progress")
    if ok then
      local bar = progress.new { total = P, label = opts.label or "sampling", unit = "prompts" }
      cb = ffi.cast("lpo_gen_progress_fn", function(done) bar:update(done) end)
    end
  end
  local rc = C.lpo_generate(policy.h, tok.ptr, ptrs, lens, keys, P, cfg, ids, logps, len, stop, cb, nil)
  if cb then cb:free() end
  if rc ~= 0 then errors.raise("gen.generate", "%s", lffi.last_error()) end
  local outs = {}
  for i = 1, P do
    outs[i] = {}
    for j = 1, n do
      local o = (i - 1) * n + (j - 1)
      local L = len[o]
      local t, lp, sum = {}, {}, 0
      for k = 0, L - 1 do
        t[k + 1] = ids[o * maxnew + k]
        lp[k + 1] = logps[o * maxnew + k]
        sum = sum + lp[k + 1]
      end
      local text = opts.raw and "" or tok:decode(t)
      outs[i][j] = { text = text, trimmed = trim_at_stop(text, stops), ids = t, logps = lp, logp = sum, n_tokens = L,
                     stop_reason = STOP[stop[o]] or "?" }
    end
  end
  return outs
end

require("lpo.doc").module(M, "lpo.gen", {
  __module = "batched sampling with a KV cache: generate",
  generate = { "generate(policy, tok, prompts, opts) -> outs[i][j]",
               "opts: n, temperature, top_k, top_p, max_new_tokens, stop (strings), stop_ids, seed, round, purpose, batch (rows), progress." },
})

return M
