-- lpo.optim — AdamW with gradient clipping, an LR schedule and resumable state, over
-- flat f32 parameter / gradient buffers owned by someone else (the model).
--
--   local optim = require "lpo.optim"
--   local opt = optim.adamw { params = ptr, grads = ptr, n = count,       -- or model = m
--                             lr = 5e-6, betas = {0.9, 0.999}, eps = 1e-8,
--                             weight_decay = 0.0, no_decay = { {offset, count}, ... },
--                             schedule = { kind = "cosine", warmup = 0.05, total_steps = 100,
--                                          min_lr_ratio = 0.1 },
--                             max_grad_norm = 1.0 }
--   ... backward passes accumulate into grads ...
--   local info = opt:step()        -- { lr =, grad_norm =, step = } ; clip, then AdamW
--   opt:zero_grad()
--   opt:save(path) / opt:load(path)
--
-- With `model = m` the pointers are asked for at every step (m:params() and m:grads()
-- return pointer, count), so a model may (re)allocate its gradients after the optimizer
-- is built; the no-decay set comes from m:tensors() (entries with decay false or 0).
--
-- Gradient accumulation: backward passes accumulate. Either scale each micro-batch's
-- loss gradient by 1/k yourself (HF Trainer's way), or give accumulation_steps = k (or
-- step{ grad_scale = 1/k }) and the gradients are scaled once, before clipping.
--
-- Offsets and counts are 0-based element indices into the flat buffer (the C layout).
-- The learning rate of update s (0-based: the first update is s = 0) is schedule(s),
-- exactly as transformers' LambdaLR gives it; the step count is saved, so a resumed run
-- continues the schedule where it stopped.
local ffi = require "ffi"
local lffi = require "lpo.ffi"
local errors = require "lpo.errors"
local json = require "lpo.json"

local C = lffi.load("lpo_optim.h")
lffi.load("lpo_safetensors.h")

local M = {}

local function num(v, field, lo, hi)
  if type(v) ~= "number" or v ~= v then errors.raise("optim", "%s must be a number (got %s)", field, tostring(v)) end
  if (lo and v < lo) or (hi and v > hi) then
    errors.raise("optim", "%s = %s is outside [%s, %s]", field, tostring(v), tostring(lo or "-inf"), tostring(hi or "inf"))
  end
  return v
end

-- Schedules ---------------------------------------------------------------------------

local Schedule = {}
Schedule.__index = Schedule

local kinds = { constant = 0, constant_with_warmup = 0, linear = 1, cosine = 2, cosine_with_min_lr = 3, cosine_min = 3 }
local kind_names = { [0] = "constant", "linear", "cosine", "cosine_with_min_lr" }

--- lr_schedule{ kind, lr, warmup | warmup_steps | warmup_ratio, total_steps, min_lr_ratio |
--- min_lr, num_cycles }: a callable schedule; sched(step) or sched:at(step) -> lr.
--- warmup below 1 is a ratio of total_steps, 1 or more is whole steps (transformers 5).
function M.lr_schedule(spec)
  if type(spec) == "string" then spec = { kind = spec } end
  spec = spec or {}
  local kind = kinds[spec.kind or "constant"]
  if not kind then
    errors.raise("optim", "schedule kind '%s' is not one of constant, linear, cosine, cosine_with_min_lr", tostring(spec.kind))
  end
  local s = ffi.new("lpo_lr_schedule")
  s.lr = num(spec.lr or 1.0, "schedule.lr", 0)
  local w = spec.warmup
  if spec.warmup_steps then s.warmup_steps = num(spec.warmup_steps, "schedule.warmup_steps", 0)
  elseif spec.warmup_ratio then s.warmup_ratio = num(spec.warmup_ratio, "schedule.warmup_ratio", 0, 1)
  elseif w then
    num(w, "schedule.warmup", 0)
    if w >= 1 then
      if w ~= math.floor(w) then errors.raise("optim", "schedule.warmup = %s: whole steps (>= 1) or a ratio (< 1)", tostring(w)) end
      s.warmup_steps = w
    else s.warmup_ratio = w end
  end
  s.total_steps = num(spec.total_steps or 0, "schedule.total_steps", 0)
  s.num_cycles = num(spec.num_cycles or 0.5, "schedule.num_cycles", 0)
  local min_ratio = spec.min_lr_ratio
  if spec.min_lr then min_ratio = num(spec.min_lr, "schedule.min_lr", 0) / s.lr end
  if min_ratio and kind == kinds.cosine and min_ratio > 0 then kind = kinds.cosine_with_min_lr end
  if kind == kinds.cosine_with_min_lr then
    if not min_ratio then errors.raise("optim", "schedule cosine_with_min_lr needs min_lr_ratio or min_lr") end
    s.min_lr_ratio = num(min_ratio, "schedule.min_lr_ratio", 0, 1)
  end
  s.kind = kind
  if C.lpo_lr_check(s) ~= 0 then errors.raise("optim", "%s", lffi.last_error()) end
  local self = setmetatable({ c = s, kind = kind_names[kind], lr = s.lr, total_steps = tonumber(s.total_steps),
                              warmup_steps = tonumber(C.lpo_lr_warmup(s)), min_lr_ratio = tonumber(s.min_lr_ratio),
                              num_cycles = tonumber(s.num_cycles) }, Schedule)
  return self
end

function Schedule:at(step) return C.lpo_lr_at(self.c, step) end
Schedule.__call = function(self, step) return C.lpo_lr_at(self.c, step) end
function Schedule:spec()
  return { kind = self.kind, lr = self.lr, warmup_steps = self.warmup_steps, total_steps = self.total_steps,
           min_lr_ratio = self.min_lr_ratio, num_cycles = self.num_cycles }
end
Schedule.__tostring = function(self)
  return string.format("lr_schedule(%s, lr=%g, warmup=%d, total=%d%s)", self.kind, self.lr, self.warmup_steps,
                       self.total_steps, self.kind == "cosine_with_min_lr" and (", min_lr_ratio=" .. self.min_lr_ratio) or "")
end

-- AdamW -------------------------------------------------------------------------------

local AdamW = {}
AdamW.__index = AdamW

local function float_ptr(p, what)
  if type(p) ~= "cdata" then errors.raise("optim", "%s must be a float pointer (cdata), got %s", what, type(p)) end
  return ffi.cast("float *", p)
end

-- Pointers for this step: from the model when there is one.
function AdamW:buffers()
  if self.model then
    local p, np = self.model:params()
    local g, ng = self.model:grads()
    if g == nil then errors.raise("optim", "the model has no gradients (reserve it for training first)") end
    if tonumber(np) ~= self.n or tonumber(ng) ~= self.n then
      errors.raise("optim", "the model now has %s parameters / %s gradients; the optimizer was built for %d",
                   tostring(np), tostring(ng), self.n)
    end
    return float_ptr(p, "model:params()"), float_ptr(g, "model:grads()")
  end
  return self.params, self.grads
end

--- adamw{ params, grads, n | model, lr, betas, eps, weight_decay, no_decay, schedule,
--- max_grad_norm, accumulation_steps }: an optimizer over flat f32 buffers.
function M.adamw(cfg)
  cfg = cfg or {}
  local self = setmetatable({}, AdamW)
  local no_decay = {}
  if cfg.model then
    local m = cfg.model
    if type(m.params) ~= "function" or type(m.grads) ~= "function" then
      errors.raise("optim", "model must provide m:params() and m:grads() returning (pointer, count)")
    end
    self.model = m
    local _, n = m:params()
    self.n = tonumber(n)
    if type(m.tensors) == "function" then
      for _, t in ipairs(m:tensors()) do
        if t.decay == false or t.decay == 0 then no_decay[#no_decay + 1] = { tonumber(t.offset), tonumber(t.numel) } end
      end
    elseif (cfg.weight_decay or 0) > 0 and not cfg.no_decay then
      -- Without the tensor list we cannot tell norms and biases from weights; decaying
      -- them silently would change the run, so say so.
      errors.raise("optim", "weight_decay > 0 with a model needs m:tensors() ({offset, numel, decay} entries) or an explicit no_decay list")
    end
  else
    self.n = num(cfg.n, "n (parameter count)", 0)
    self.params = float_ptr(cfg.params, "params")
    self.grads = float_ptr(cfg.grads, "grads")
  end
  for _, r in ipairs(cfg.no_decay or {}) do no_decay[#no_decay + 1] = r end
  local betas = cfg.betas or { 0.9, 0.999 }
  local lr = num(cfg.lr or 1e-3, "lr", 0)
  self.config = {
    lr = lr, betas = { num(betas[1], "betas[1]", 0, 1), num(betas[2], "betas[2]", 0, 1) },
    eps = num(cfg.eps or 1e-8, "eps", 0), weight_decay = num(cfg.weight_decay or 0.0, "weight_decay", 0),
    max_grad_norm = cfg.max_grad_norm and num(cfg.max_grad_norm, "max_grad_norm", 0) or nil,
    accumulation_steps = num(cfg.accumulation_steps or 1, "accumulation_steps", 1),
    no_decay = no_decay,
  }
  local spec = cfg.schedule
  if type(spec) == "string" then
    spec = { kind = spec, warmup = cfg.warmup, total_steps = cfg.total_steps, min_lr_ratio = cfg.min_lr_ratio }
  end
  spec = spec and setmetatable({ lr = spec.lr or lr }, { __index = spec }) or { kind = "constant", lr = lr }
  local copy = {}
  for _, k in ipairs { "kind", "lr", "warmup", "warmup_steps", "warmup_ratio", "total_steps", "min_lr_ratio", "min_lr", "num_cycles" } do
    copy[k] = spec[k]
  end
  self.schedule = M.lr_schedule(copy)
  self.config.schedule = self.schedule:spec()
  local h = C.lpo_adamw_build(self.n, self.config.betas[1], self.config.betas[2], self.config.eps, self.config.weight_decay)
  if h == nil then errors.raise("optim", "%s", lffi.last_error()) end
  self.h = ffi.gc(h, C.lpo_adamw_free)
  for i, r in ipairs(no_decay) do
    if type(r) ~= "table" or type(r[1]) ~= "number" or type(r[2]) ~= "number" then
      errors.raise("optim", "no_decay[%d] must be {offset, count}", i)
    end
    if C.lpo_adamw_no_decay(self.h, r[1], r[2]) ~= 0 then errors.raise("optim", "no_decay[%d]: %s", i, lffi.last_error()) end
  end
  return self
end

--- Number of updates done so far.
function AdamW:steps() return tonumber(C.lpo_adamw_steps(self.h)) end

--- The learning rate the next step() will use.
function AdamW:lr() return self.schedule:at(self:steps()) end

--- Scales (accumulation), clips and applies one AdamW update. Returns { lr, grad_norm,
--- step, skipped }. A non-finite gradient norm skips the update (params, moments and the
--- step count stay as they were) and returns skipped = true.
function AdamW:step(o)
  o = o or {}
  local p, g = self:buffers()
  local scale = o.grad_scale or (1 / self.config.accumulation_steps)
  if scale ~= 1 then C.lpo_grad_scale(g, self.n, scale) end
  local norm = tonumber(C.lpo_clip_grad_norm(g, self.n, self.config.max_grad_norm or 0))
  local lr = o.lr or self:lr()
  if norm ~= norm or norm == math.huge then
    return { lr = lr, grad_norm = norm, step = self:steps(), skipped = true }
  end
  if C.lpo_adamw_step(self.h, p, g, lr) ~= 0 then errors.raise("optim", "%s", lffi.last_error()) end
  return { lr = lr, grad_norm = norm, step = self:steps() }
end

function AdamW:zero_grad()
  if self.model and type(self.model.zero_grad) == "function" then return self.model:zero_grad() end
  local _, g = self:buffers()
  C.lpo_grad_zero(g, self.n)
end

--- { step, lr (of the next update), config }
function AdamW:state() return { step = self:steps(), lr = self:lr(), n = self.n, config = self.config } end

--- Writes step count and moments (and this config, as metadata) atomically.
function AdamW:save(path)
  local meta = json.encode({ lpo_config = json.encode(self.config) })
  if C.lpo_adamw_save(self.h, path, meta) ~= 0 then errors.raise(nil, "%s", lffi.last_error()) end
end

--- Restores step count and moments from a file written by save; returns the config that
--- was saved with it. The current hyperparameters stay (a resumed run may change them);
--- the parameter count and the no-decay set must match.
function AdamW:load(path)
  if C.lpo_adamw_load(self.h, path) ~= 0 then errors.raise(nil, "%s", lffi.last_error()) end
  local st = C.lpo_st_open(path)
  local saved = nil
  if st ~= nil then
    local s = C.lpo_st_metadata(st, "lpo_config")
    if s ~= nil then saved = json.decode(ffi.string(s), path) end
    C.lpo_st_close(st)
  end
  return saved
end

--- Moment buffers (float*, n each) for inspection.
function AdamW:moments() return C.lpo_adamw_exp_avg(self.h), C.lpo_adamw_exp_avg_sq(self.h) end

function AdamW:free()
  if self.h then C.lpo_adamw_free(ffi.gc(self.h, nil)); self.h = nil end
end

AdamW.__tostring = function(self)
  local c = self.config
  return string.format("adamw(n=%d, lr=%g, betas=(%g, %g), eps=%g, wd=%g, clip=%s, %s, step %d)", self.n, c.lr,
                       c.betas[1], c.betas[2], c.eps, c.weight_decay, tostring(c.max_grad_norm), tostring(self.schedule),
                       self:steps())
end

-- Stand-alone helpers -------------------------------------------------------------------

--- grad_norm(ptr, n) -> the global L2 norm (double accumulation, fixed order).
function M.grad_norm(g, n) return C.lpo_grad_norm(float_ptr(g, "grads"), n) end
--- clip_grad_norm(ptr, n, max_norm) -> norm before clipping (torch semantics).
function M.clip_grad_norm(g, n, max_norm) return tonumber(C.lpo_clip_grad_norm(float_ptr(g, "grads"), n, max_norm)) end

require("lpo.doc").module(M, "lpo.optim", {
  __module = "AdamW, gradient clipping, LR schedules (transformers' formulas), resumable state",
  adamw = { "adamw{ params, grads, n | model, lr, betas, eps, weight_decay, no_decay, schedule, max_grad_norm, accumulation_steps }",
            "AdamW as torch.optim.AdamW. opt:step() -> {lr, grad_norm, step}; opt:zero_grad(); opt:save(path); opt:load(path); opt:state()." },
  lr_schedule = { "lr_schedule{ kind, lr, warmup | warmup_steps | warmup_ratio, total_steps, min_lr_ratio | min_lr, num_cycles }",
                  "kind: constant, linear, cosine, cosine_with_min_lr. sched(step) -> lr of update `step` (0-based)." },
  grad_norm = { "grad_norm(ptr, n) -> norm", "Global L2 norm of a float buffer." },
  clip_grad_norm = { "clip_grad_norm(ptr, n, max_norm) -> norm", "Scales the buffer to norm <= max_norm; returns the norm before." },
})

return M
