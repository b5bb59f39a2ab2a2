-- lpo.loss — preference losses as ordinary Lua values.
--
--   local loss = require "lpo.loss"
--   local l = loss.dpo { beta = 0.1 }
--   local r = l:compute { policy_chosen = {...}, policy_rejected = {...},
--                         ref_chosen = {...}, ref_rejected = {...} }
--   -- r.loss, r.grad_chosen[i] = dloss/dpolicy_chosen[i], r.grad_rejected, r.metrics["rewards/chosen"] ...
--
-- Built-in losses run in C (engine/train/loss_pair.c, loss_kto.c) and follow TRL 1.16's
-- formulas and metric definitions; tests/fixtures/loss holds TRL's own numbers. Log-probs are
-- per-sequence sums over the response tokens; chosen_len / rejected_len are response token
-- counts, needed by the length-normalized losses (ipo, simpo, orpo) and by the per-token NLL
-- (sft, rpo_alpha / nll_alpha). A user-defined loss (loss.custom) is a Lua function of one
-- pair's four log-probs; its gradient comes from forward-mode dual numbers, and loss.check
-- compares any loss's gradient with central finite differences.
local ffi = require "ffi"
local lffi = require "lpo.ffi"
local errors = require "lpo.errors"
local C = lffi.load("lpo_loss.h")

local M = {}
local Loss = {}
Loss.__index = Loss
Loss.__tostring = function(l) return "loss " .. l.name end

local function raise(where, fmt, ...) errors.raise(where, fmt, ...) end

-- The engine's message without its own "loss <kind>: " prefix (the Lua name replaces it).
local function engine_error() return (lffi.last_error():gsub("^loss [%w_]+: ", "")) end

-- ---- options --------------------------------------------------------------------------

-- Copies `opts` over `defaults`, rejecting unknown fields and non-numbers (names the field).
local function options(where, opts, defaults)
  opts = opts or {}
  if type(opts) ~= "table" then raise(where, "expected a table of options, got %s", type(opts)) end
  local known = {}
  for k in pairs(defaults) do known[#known + 1] = k end
  table.sort(known)
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  for k, v in pairs(opts) do
    if defaults[k] == nil then
      raise(where, "unknown field '%s' (known: %s)", tostring(k), table.concat(known, ", "))
    end
    if type(defaults[k]) ~= type(v) then
      raise(where, "field '%s' must be a %s, got %s", k, type(defaults[k]), type(v))
    end
    out[k] = v
  end
  return out
end

local function positive(where, o, field)
  local v = o[field]
  if not (v > 0 and v < math.huge) then raise(where, "field '%s' must be > 0, got %s", field, tostring(v)) end
end

local function nonnegative(where, o, field)
  local v = o[field]
  if not (v >= 0 and v < math.huge) then raise(where, "field '%s' must be >= 0, got %s", field, tostring(v)) end
end

local NLL_NORM = { tokens = C.LPO_NLL_TOKENS, sequences = C.LPO_NLL_SEQUENCES, sequence_means = C.LPO_NLL_SEQUENCE_MEANS }

local function nll_norm(where, v)
  local n = NLL_NORM[v]
  if not n then raise(where, "field 'normalize' must be \"tokens\", \"sequences\" or \"sequence_means\", got %q", tostring(v)) end
  return n
end

-- ---- batches --------------------------------------------------------------------------

-- Turns a batch field (Lua array, or cdata pointer with batch.n) into a C array of n entries.
local function field_array(where, batch, name, ctype, n, keep)
  local v = batch[name]
  if v == nil then return nil end
  if type(v) == "cdata" then
    -- An implicit conversion (not a cast): a pointer to the wrong element type is refused.
    local ok, p = pcall(ffi.new, "const " .. ctype .. "*", v)
    if not ok then raise(where, "batch field '%s' must hold %s values (%s)", name, ctype, (tostring(p):gsub("^.-: ", ""))) end
    keep[#keep + 1] = v
    return p
  end
  if type(v) ~= "table" then raise(where, "batch field '%s' must be an array or FFI pointer, got %s", name, type(v)) end
  if #v ~= n then raise(where, "batch field '%s' has %d entries, expected %d", name, #v, n) end
  local a = ffi.new(ctype .. "[?]", n)
  for i = 1, n do
    local x = v[i]
    if ctype == "int32_t" and type(x) == "boolean" then x = x and 1 or 0 end
    if type(x) ~= "number" then raise(where, "batch field '%s'[%d] must be a number, got %s", name, i, type(x)) end
    a[i - 1] = x
  end
  keep[#keep + 1] = a
  return a
end

local function batch_size(where, batch, first)
  if type(batch) ~= "table" then raise(where, "batch must be a table, got %s", type(batch)) end
  local n = batch.n
  local v = batch[first]
  if n == nil then
    if type(v) ~= "table" then raise(where, "batch field '%s' is required (an array, or an FFI pointer plus n)", first) end
    n = #v
  end
  if type(n) ~= "number" or n < 1 or n % 1 ~= 0 then raise(where, "batch field 'n' must be a positive integer, got %s", tostring(n)) end
  return n
end

-- Paired batch -> { c = lpo_pref_batch, n, lua = original, keep = anchors }.
local function pair_batch(where, batch)
  if batch.c_pair then return batch end  -- already marshalled (loss.sum passes it down)
  local n = batch_size(where, batch, "policy_chosen")
  local keep = {}
  local b = ffi.new("lpo_pref_batch")
  b.n = n
  b.policy_chosen = field_array(where, batch, "policy_chosen", "double", n, keep)
  b.policy_rejected = field_array(where, batch, "policy_rejected", "double", n, keep)
  b.ref_chosen = field_array(where, batch, "ref_chosen", "double", n, keep)
  b.ref_rejected = field_array(where, batch, "ref_rejected", "double", n, keep)
  b.chosen_len = field_array(where, batch, "chosen_len", "int32_t", n, keep)
  b.rejected_len = field_array(where, batch, "rejected_len", "int32_t", n, keep)
  return { c_pair = b, n = n, keep = keep }
end

local function kto_batch(where, batch)
  if batch.c_kto then return batch end
  local n = batch_size(where, batch, "policy")
  local keep = {}
  local b = ffi.new("lpo_kto_batch")
  b.n = n
  b.policy = field_array(where, batch, "policy", "double", n, keep)
  b.ref = field_array(where, batch, "ref", "double", n, keep)
  b.label = field_array(where, batch, "label", "int32_t", n, keep)
  local kp = batch.kl_policy
  if kp ~= nil then
    local m = batch.n_kl or (type(kp) == "table" and #kp) or raise(where, "batch field 'n_kl' is required with FFI kl_policy")
    b.n_kl = m
    b.kl_policy = field_array(where, batch, "kl_policy", "double", m, keep)
    b.kl_ref = field_array(where, batch, "kl_ref", "double", m, keep)
  end
  return { c_kto = b, n = n, keep = keep }
end

-- ---- results --------------------------------------------------------------------------

local METRICS = {
  { "rewards/chosen", "rewards_chosen" }, { "rewards/rejected", "rewards_rejected" },
  { "rewards/accuracies", "rewards_accuracies" }, { "rewards/margins", "rewards_margins" },
  { "logps/chosen", "logps_chosen" }, { "logps/rejected", "logps_rejected" }, { "nll_loss", "nll" },
  { "log_odds_ratio", "log_odds_ratio" }, { "log_odds_chosen", "log_odds_chosen" }, { "kl", "kl" },
}

-- TRL's metric names from an lpo_loss_out; metrics that do not apply (NaN) are left out.
local function metrics_of(out)
  local m = {}
  for _, p in ipairs(METRICS) do
    local v = out[p[2]]
    if v == v then m[p[1]] = v end
  end
  return m
end

local function to_lua(a, n)
  local t = {}
  for i = 1, n do t[i] = a[i - 1] end
  return t
end

--- l:compute(batch [, opts]) -> { loss, grad_chosen, grad_rejected | grad_policy, metrics }.
-- opts.d_chosen / d_rejected / d_policy: FFI double buffers to accumulate dloss·grad into
-- (then no Lua gradient arrays are built); opts.dloss scales them (default 1).
function Loss:compute(batch, opts)
  opts = opts or {}
  local where = "loss." .. self.name
  local dloss = opts.dloss or 1
  if self.unpaired then
    local b = kto_batch(where, batch)
    local g = opts.d_policy or ffi.new("double[?]", b.n)
    local r = self:_accumulate(b, dloss, g)
    if not opts.d_policy then r.grad_policy = to_lua(g, b.n) end
    return r
  end
  local b = pair_batch(where, batch)
  local gc = opts.d_chosen or ffi.new("double[?]", b.n)
  local gr = opts.d_rejected or ffi.new("double[?]", b.n)
  local r = self:_accumulate(b, dloss, gc, gr)
  if not opts.d_chosen then r.grad_chosen = to_lua(gc, b.n) end
  if not opts.d_rejected then r.grad_rejected = to_lua(gr, b.n) end
  return r
end

-- ---- built-in (C) losses --------------------------------------------------------------

local function c_pair_loss(name, kind, o)
  local cfg = ffi.new("lpo_pref_config")
  cfg.kind = kind
  cfg.beta = o.beta or 0
  cfg.label_smoothing = o.label_smoothing or 0
  cfg.gamma = o.gamma or 0
  cfg.nll_alpha = o.rpo_alpha or o.nll_alpha or 0
  cfg.nll_norm = nll_norm("loss." .. name, o.normalize or o.nll_normalize or "tokens")
  -- The engine re-checks every field; raising here names the Lua constructor.
  if C.lpo_pref_config_check(cfg) ~= 0 then raise("loss." .. name, "%s", engine_error()) end
  local l = setmetatable({ name = name, config = o, cfg = cfg }, Loss)
  function l:_accumulate(b, dloss, gc, gr)
    local out = ffi.new("lpo_loss_out")
    if C.lpo_pref_loss(out, gc, gr, b.c_pair, self.cfg, dloss) ~= 0 then
      raise("loss." .. self.name, "%s", engine_error())
    end
    return { loss = out.loss, metrics = metrics_of(out) }
  end
  return l
end

local function pair_ctor(name, kind, defaults, validate)
  return function(opts)
    local where = "loss." .. name
    local o = options(where, opts, defaults)
    if validate then validate(where, o) end
    return c_pair_loss(name, kind, o)
  end
end

local function beta_ok(where, o)
  positive(where, o, "beta")
  if o.rpo_alpha then nonnegative(where, o, "rpo_alpha") end
  if o.nll_normalize then nll_norm(where, o.nll_normalize) end
end

--- DPO (TRL loss_type "sigmoid"); label_smoothing > 0 gives conservative DPO (cDPO);
-- rpo_alpha > 0 adds rpo_alpha · NLL(chosen) (TRL's RPO). nll_normalize picks that NLL's
-- normalization: "tokens" (TRL, default), "sequences", or "sequence_means" (OpenRLHF's
-- nll_loss_coef: mean over the chosen sequences of their per-token mean).
M.dpo = pair_ctor("dpo", C.LPO_PREF_SIGMOID, { beta = 0.1, label_smoothing = 0, rpo_alpha = 0, nll_normalize = "tokens" }, beta_ok)
M.sigmoid = M.dpo
--- RPO: DPO + alpha · NLL on the chosen responses, normalized per token (TRL rpo_alpha, default 1).
function M.rpo(opts)
  local o = options("loss.rpo", opts, { beta = 0.1, alpha = 1.0, label_smoothing = 0, nll_normalize = "tokens" })
  beta_ok("loss.rpo", o)
  positive("loss.rpo", o, "alpha")
  local l = c_pair_loss("rpo", C.LPO_PREF_SIGMOID, { beta = o.beta, label_smoothing = o.label_smoothing, rpo_alpha = o.alpha,
                                                    nll_normalize = o.nll_normalize })
  l.config = o
  return l
end
M.ipo = pair_ctor("ipo", C.LPO_PREF_IPO, { beta = 0.1, rpo_alpha = 0, nll_normalize = "tokens" }, beta_ok)
M.hinge = pair_ctor("hinge", C.LPO_PREF_HINGE, { beta = 0.1, rpo_alpha = 0, nll_normalize = "tokens" }, beta_ok)
M.robust = pair_ctor("robust", C.LPO_PREF_ROBUST, { beta = 0.1, label_smoothing = 0, rpo_alpha = 0, nll_normalize = "tokens" }, beta_ok)
M.exo_pair = pair_ctor("exo_pair", C.LPO_PREF_EXO_PAIR, { beta = 0.1, label_smoothing = 1e-3, rpo_alpha = 0, nll_normalize = "tokens" }, beta_ok)
--- SFT / RFT negative log-likelihood of the chosen responses. normalize = "tokens" (TRL:
-- -Σ logp / Σ tokens over the batch, needs chosen_len), "sequences" (-mean of summed logps)
-- or "sequence_means" (-mean of per-sequence token means, OpenRLHF).
-- beta only feeds the reward metrics (when ref log-probs are given), as in TRL's DPO "sft".
M.sft = pair_ctor("sft", C.LPO_PREF_SFT, { beta = 0, normalize = "tokens" }, function(where, o)
  nonnegative(where, o, "beta"); nll_norm(where, o.normalize)
end)
M.nll, M.rft = M.sft, M.sft
--- SimPO (TRL CPOTrainer loss_type "simpo"): -log σ(β(ȳc - ȳr) - γ) on per-token mean log-probs,
-- no reference; nll_alpha is CPO's cpo_alpha (0 for SimPO proper). TRL defaults β = 0.1, γ = 0.5;
-- the SimPO paper uses β = 2–2.5.
M.simpo = pair_ctor("simpo", C.LPO_PREF_SIMPO, { beta = 0.1, gamma = 0.5, label_smoothing = 0, nll_alpha = 0, nll_normalize = "tokens" },
  function(where, o) positive(where, o, "beta"); nonnegative(where, o, "nll_alpha"); nll_norm(where, o.nll_normalize) end)
--- ORPO: NLL(chosen, per token) - β · mean log σ(log odds(ȳc) - log odds(ȳr)); reference-free.
M.orpo = pair_ctor("orpo", C.LPO_PREF_ORPO, { beta = 0.1 }, function(where, o) positive(where, o, "beta") end)

--- KTO on unpaired examples: batch = { policy, ref, label (true = desirable), kl_policy, kl_ref }.
-- z0 = max(0, mean(kl_policy - kl_ref)) is detached; without kl_* z0 = 0. loss_type
-- "apo_zero_unpaired" is TRL's APO-zero variant (no KL term).
function M.kto(opts)
  local where = "loss.kto"
  local o = options(where, opts, { beta = 0.1, desirable_weight = 1.0, undesirable_weight = 1.0, loss_type = "kto" })
  positive(where, o, "beta")
  nonnegative(where, o, "desirable_weight")
  nonnegative(where, o, "undesirable_weight")
  local kinds = { kto = C.LPO_KTO, apo_zero_unpaired = C.LPO_KTO_APO_ZERO }
  if not kinds[o.loss_type] then raise(where, "field 'loss_type' must be \"kto\" or \"apo_zero_unpaired\", got %q", o.loss_type) end
  local cfg = ffi.new("lpo_kto_config", { kinds[o.loss_type], o.beta, o.desirable_weight, o.undesirable_weight })
  local l = setmetatable({ name = "kto", config = o, cfg = cfg, unpaired = true }, Loss)
  function l:_accumulate(b, dloss, g)
    local out = ffi.new("lpo_loss_out")
    if C.lpo_kto_loss(out, g, b.c_kto, self.cfg, dloss) ~= 0 then raise(where, "%s", engine_error()) end
    return { loss = out.loss, metrics = metrics_of(out) }
  end
  return l
end

-- ---- weighted sums --------------------------------------------------------------------

--- loss.sum { {l1, w1}, {l2, w2}, ... }: Σ w_k · l_k. Metrics are those of the first term
-- (as TRL logs one set for several loss_types), plus "loss/<name>" for each term's value.
function M.sum(terms)
  local where = "loss.sum"
  if type(terms) ~= "table" or #terms == 0 then raise(where, "expected a list of {loss, weight} pairs") end
  local list, names = {}, {}
  for k, t in ipairs(terms) do
    if type(t) ~= "table" or getmetatable(t[1]) ~= Loss then raise(where, "term %d: expected {loss, weight}, first a loss object", k) end
    local w = t[2] == nil and 1.0 or t[2]
    if type(w) ~= "number" or w ~= w or math.abs(w) == math.huge then raise(where, "term %d: weight must be a finite number, got %s", k, tostring(w)) end
    if (t[1].unpaired or false) ~= (terms[1][1].unpaired or false) then
      raise(where, "term %d: cannot mix unpaired (KTO) and paired losses", k)
    end
    list[k] = { loss = t[1], weight = w }
    names[k] = string.format("%g·%s", w, t[1].name)
  end
  local l = setmetatable({ name = "sum(" .. table.concat(names, " + ") .. ")", terms = list,
                           unpaired = list[1].loss.unpaired }, Loss)
  function l:_accumulate(b, dloss, ga, gb)
    local total, metrics = 0, nil
    for k, t in ipairs(self.terms) do
      local r = t.loss:_accumulate(b, dloss * t.weight, ga, gb)
      total = total + t.weight * r.loss
      if k == 1 then metrics = r.metrics end
      if metrics["nll_loss"] == nil then metrics["nll_loss"] = r.metrics["nll_loss"] end
      metrics["loss/" .. t.loss.name] = r.loss
    end
    return { loss = total, metrics = metrics }
  end
  return l
end

-- ---- user-defined losses -------------------------------------------------------------
-- Gradients by forward-mode dual numbers (lua/lpo/loss_dual.lua): exact, no step size.
local D = require "lpo.loss_dual"
local Dual, dual = D.Dual, D.dual
M.math, M.is_dual = D.math, D.is_dual

--- loss.custom(fn, {name=, beta=, grad = "dual" | "fd", h=}): fn(pc, pr, rc, rr, ctx) returns one
-- pair's loss; the batch loss is the mean. ctx = { i, chosen_len, rejected_len, beta, opts }.
-- grad "dual" (default) differentiates exactly (fn must use loss.math); "fd" uses central
-- differences with step h (fn may use plain math). beta, if given, feeds the reward metrics.
function M.custom(fn, opts)
  local where = "loss.custom"
  if type(fn) ~= "function" then raise(where, "expected a function(pc, pr, rc, rr, ctx), got %s", type(fn)) end
  opts = opts or {}
  local o = options(where, opts, { name = "custom", beta = 0, grad = "dual", h = 1e-6, needs_ref = true })
  nonnegative(where, o, "beta")
  positive(where, o, "h")
  if o.grad ~= "dual" and o.grad ~= "fd" then raise(where, "field 'grad' must be \"dual\" or \"fd\", got %q", o.grad) end
  local name = o.name
  local l = setmetatable({ name = name, config = o, fn = fn }, Loss)
  local function call(pc, pr, rc, rr, ctx, i)
    local ok, v = pcall(fn, pc, pr, rc, rr, ctx)
    if not ok then
      local msg = tostring(type(v) == "table" and v.message or v)
      local hint = (o.grad == "dual" and (msg:find("number expected, got table") or msg:find("compare")))
        and " (the log-probs are dual numbers: use loss.math.* and loss.math.value(x) for comparisons, or grad = \"fd\")" or ""
      raise("loss." .. name, "pair %d: %s%s", i, msg, hint)
    end
    if getmetatable(v) ~= Dual and type(v) ~= "number" then
      raise("loss." .. name, "pair %d: the function returned %s, expected a number", i, type(v))
    end
    return v
  end
  function l:_accumulate(b, dloss, gc, gr)
    local cb, n = b.c_pair, b.n
    if cb.policy_chosen == nil or cb.policy_rejected == nil then raise("loss." .. name, "batch fields 'policy_chosen' and 'policy_rejected' are required") end
    if o.needs_ref and (cb.ref_chosen == nil or cb.ref_rejected == nil) then
      raise("loss." .. name, "batch fields 'ref_chosen' and 'ref_rejected' are required (or pass needs_ref = false)")
    end
    local total = 0
    for i = 0, n - 1 do
      local pc, pr = cb.policy_chosen[i], cb.policy_rejected[i]
      local rc = cb.ref_chosen ~= nil and cb.ref_chosen[i] or nil
      local rr = cb.ref_rejected ~= nil and cb.ref_rejected[i] or nil
      local ctx = { i = i + 1, beta = o.beta, opts = o,
                    chosen_len = cb.chosen_len ~= nil and cb.chosen_len[i] or nil,
                    rejected_len = cb.rejected_len ~= nil and cb.rejected_len[i] or nil }
      local v, dc, dr
      if o.grad == "dual" then
        local r = call(dual(pc, 1, 0), dual(pr, 0, 1), rc, rr, ctx, i + 1)
        if getmetatable(r) == Dual then v, dc, dr = r[1], r[2], r[3] else v, dc, dr = r, 0, 0 end
      else
        local h = o.h
        v = call(pc, pr, rc, rr, ctx, i + 1)
        dc = (call(pc + h, pr, rc, rr, ctx, i + 1) - call(pc - h, pr, rc, rr, ctx, i + 1)) / (2 * h)
        dr = (call(pc, pr + h, rc, rr, ctx, i + 1) - call(pc, pr - h, rc, rr, ctx, i + 1)) / (2 * h)
      end
      if v ~= v or math.abs(v) == math.huge then raise("loss." .. name, "pair %d: loss is %s", i + 1, tostring(v)) end
      total = total + v
      gc[i] = gc[i] + dloss * dc / n
      gr[i] = gr[i] + dloss * dr / n
    end
    local out = ffi.new("lpo_loss_out")
    local mb = cb
    if cb.ref_chosen == nil or cb.ref_rejected == nil then
      mb = ffi.new("lpo_pref_batch", cb); mb.ref_chosen = nil; mb.ref_rejected = nil
    end
    if C.lpo_pref_metrics(out, mb, o.beta) ~= 0 then raise("loss." .. name, "%s", engine_error()) end
    return { loss = total / n, metrics = metrics_of(out) }
  end
  return l
end

-- ---- by name --------------------------------------------------------------------------

local BY_NAME = {
  dpo = "dpo", sigmoid = "dpo", rpo = "rpo", ipo = "ipo", hinge = "hinge", robust = "robust",
  exo_pair = "exo_pair", sft = "sft", nll = "sft", rft = "sft", simpo = "simpo", orpo = "orpo", kto = "kto",
}

--- Sorted names loss.new accepts.
function M.names()
  local t = {}
  for k in pairs(BY_NAME) do t[#t + 1] = k end
  table.sort(t)
  return t
end

--- loss.new(name, opts): a loss by name ("dpo", "kto", ...); a loss object passes through.
function M.new(name, opts)
  if getmetatable(name) == Loss then return name end
  local ctor = type(name) == "string" and BY_NAME[name]
  if not ctor then raise("loss", "unknown loss '%s' (known: %s)", tostring(name), table.concat(M.names(), ", ")) end
  return M[ctor](opts)
end

function M.is_loss(x) return getmetatable(x) == Loss end

-- ---- gradient check -------------------------------------------------------------------

--- loss.check(l, {n = 8, seed = 1, h = 1e-5, tol = 1e-6}) -> max error. Compares l's gradient
-- with central differences of l's value on random inputs (Philox, seeded). The error is
-- max |analytic - numeric| / max |numeric|; raises when it exceeds tol.
function M.check(l, opts)
  if getmetatable(l) ~= Loss then raise("loss.check", "expected a loss object, got %s", type(l)) end
  local o = options("loss.check", opts, { n = 8, seed = 1, h = 1e-5, tol = 1e-6 })
  local rng = ffi.new("lpo_philox")
  C.lpo_philox_init(rng, C.lpo_philox_key(o.seed, 0x6c6f7373, 0, 0, 0), 0)
  local function u() return tonumber(C.lpo_philox_uniform(rng)) end
  local function nrm() return tonumber(C.lpo_philox_normal(rng)) end
  local batch, fields = { n = nil }, nil
  if l.unpaired then
    batch = { policy = {}, ref = {}, label = {}, kl_policy = {}, kl_ref = {} }
    for i = 1, o.n do
      batch.policy[i] = -(1 + 40 * u()); batch.ref[i] = batch.policy[i] + 3 * nrm(); batch.label[i] = (i % 2 == 1) or u() < 0.5
      batch.kl_policy[i] = -(1 + 40 * u()); batch.kl_ref[i] = batch.kl_policy[i] + nrm() - 0.5
    end
    fields = { { "policy", "grad_policy" } }
  else
    batch = { policy_chosen = {}, policy_rejected = {}, ref_chosen = {}, ref_rejected = {}, chosen_len = {}, rejected_len = {} }
    for i = 1, o.n do
      local lc, lr = 1 + math.floor(40 * u()), 1 + math.floor(40 * u())
      batch.chosen_len[i], batch.rejected_len[i] = lc, lr
      batch.policy_chosen[i] = -lc * (0.05 + 1.5 * u()); batch.policy_rejected[i] = -lr * (0.05 + 1.5 * u())
      batch.ref_chosen[i] = batch.policy_chosen[i] + 3 * nrm(); batch.ref_rejected[i] = batch.policy_rejected[i] + 3 * nrm()
    end
    fields = { { "policy_chosen", "grad_chosen" }, { "policy_rejected", "grad_rejected" } }
  end
  local r = l:compute(batch)
  local worst, scale, at = 0, 0, nil
  local numeric = {}
  for _, f in ipairs(fields) do
    local x = batch[f[1]]
    numeric[f[1]] = {}
    for i = 1, o.n do
      local x0 = x[i]
      x[i] = x0 + o.h; local up = l:compute(batch).loss
      x[i] = x0 - o.h; local dn = l:compute(batch).loss
      x[i] = x0
      local fd = (up - dn) / (2 * o.h)
      numeric[f[1]][i] = fd
      scale = math.max(scale, math.abs(fd))
    end
  end
  for _, f in ipairs(fields) do
    for i = 1, o.n do
      local d = math.abs(r[f[2]][i] - numeric[f[1]][i])
      if d > worst then worst, at = d, { f[1], i, r[f[2]][i], numeric[f[1]][i] } end
    end
  end
  local err = scale > 0 and worst / scale or worst
  if not (err <= o.tol) then
    raise("loss.check", "%s: gradient error %.3g > tol %g at %s[%d] (analytic %.10g, finite difference %.10g)",
      l.name, err, o.tol, at and at[1] or "?", at and at[2] or 0, at and at[3] or 0 / 0, at and at[4] or 0 / 0)
  end
  return err
end

-- ---- reference log-prob cache --------------------------------------------------------

--- loss.ref_cache(path, {fingerprint = "..."}) -> cache. A JSON Lines file of reference
-- log-probs, one record per key (e.g. a pair id): cache:get(key) -> record | nil,
-- cache:put(key, record) appends one line at once (a crash loses at most that line),
-- cache:count(). The first line holds the fingerprint (say, reference model + dataset
-- hashes); opening the file with another fingerprint is an error rather than a silent use
-- of stale numbers. Floats round-trip exactly (%.17g).
function M.ref_cache(path, opts)
  local json = require "lpo.json"
  local where = "loss.ref_cache"
  if type(path) ~= "string" then raise(where, "expected a file path, got %s", type(path)) end
  local o = options(where, opts, { fingerprint = "" })
  local cache = { path = path, fingerprint = o.fingerprint, records = {}, n = 0 }
  local f = io.open(path, "rb")
  local kept = {}
  if f then
    local lines = {}
    for line in f:lines() do lines[#lines + 1] = line end
    f:close()
    for i, line in ipairs(lines) do
      local ok, v = pcall(json.decode, line)
      if not ok or type(v) ~= "table" then
        if i < #lines then raise(path .. ":" .. i, "broken line in the reference log-prob cache (delete the file to recompute)") end
        -- A torn last line (crash mid-append): drop it, and rewrite so the next append starts clean.
        json.write_atomic(path, table.concat(kept, "\n") .. (#kept > 0 and "\n" or ""))
        break
      end
      if i == 1 then
        if v.fingerprint ~= o.fingerprint then
          raise(path, "reference log-prob cache was made for fingerprint %q, this run has %q (delete it to recompute)",
            tostring(v.fingerprint), o.fingerprint)
        end
      else
        if cache.records[v.key] == nil then cache.n = cache.n + 1 end
        cache.records[v.key] = v.value
      end
      kept[#kept + 1] = line
    end
  end
  if #kept == 0 then json.append_line(path, { fingerprint = o.fingerprint }) end
  function cache:get(key) return self.records[tostring(key)] end
  function cache:put(key, record)
    key = tostring(key)
    json.append_line(self.path, { key = key, value = record })
    if self.records[key] == nil then self.n = self.n + 1 end
    self.records[key] = record
  end
  function cache:count() return self.n end
  return cache
end

require("lpo.doc").module(M, "lpo.loss", {
  __module = "Preference losses (DPO, IPO, hinge, robust, EXO, SFT/RFT, RPO, SimPO, ORPO, KTO, sums, custom) on per-sequence log-probs.",
  dpo = { "dpo{beta=0.1, label_smoothing=0, rpo_alpha=0, nll_normalize=\"tokens\"} -> loss", "DPO (-log σ(βΔ)); label_smoothing: conservative DPO; rpo_alpha: + α·NLL(chosen)." },
  rpo = { "rpo{beta=0.1, alpha=1} -> loss", "DPO + alpha · per-token NLL of the chosen responses (TRL rpo_alpha)." },
  ipo = { "ipo{beta=0.1} -> loss", "IPO, (Δc/|yc| - Δr/|yr| - 1/(2β))², needs chosen_len/rejected_len." },
  hinge = { "hinge{beta=0.1} -> loss", "SLiC hinge, relu(1 - βΔ)." },
  robust = { "robust{beta=0.1, label_smoothing=0} -> loss", "Robust DPO for noisy labels (unbiased estimator)." },
  exo_pair = { "exo_pair{beta=0.1, label_smoothing=1e-3} -> loss", "EXO for pairs." },
  sft = { "sft{normalize=\"tokens\"|\"sequences\"|\"sequence_means\", beta=0} -> loss", "NLL of the chosen responses (SFT / RFT)." },
  simpo = { "simpo{beta=0.1, gamma=0.5, label_smoothing=0, nll_alpha=0} -> loss", "SimPO, length-normalized and reference-free." },
  orpo = { "orpo{beta=0.1} -> loss", "ORPO, NLL(chosen) - β log σ(log odds ratio), reference-free." },
  kto = { "kto{beta=0.1, desirable_weight=1, undesirable_weight=1} -> loss", "KTO on {policy, ref, label, kl_policy, kl_ref}." },
  sum = { "sum{{loss, weight}, ...} -> loss", "Weighted sum of losses." },
  custom = { "custom(fn(pc, pr, rc, rr, ctx), {name=, beta=, grad=\"dual\"|\"fd\"}) -> loss", "A loss written in Lua, one pair at a time; gradient by dual numbers." },
  check = { "check(loss, {n=8, seed=1, h=1e-5, tol=1e-6}) -> max_error", "Gradient vs central differences on random inputs; raises above tol." },
  ref_cache = { "ref_cache(path, {fingerprint=}) -> cache", "JSONL cache of reference log-probs: cache:get(key), cache:put(key, record), cache:count()." },
  new = { "new(name, opts) -> loss", "A loss by name: " .. table.concat(M.names(), ", ") .. "." },
})

return M
