-- lpo.optim from Lua: the torch trajectories and transformers schedules of
-- tests/fixtures/ckpt (same fixtures as tests/c/test_optim.c, here through the Lua API),
-- exact resume through opt:save/opt:load, a model-shaped object, gradient accumulation,
-- skipped non-finite steps and user errors.
local ffi = require "ffi"
local T = require "lpo.testing"
local json = require "lpo.json"
local optim = require "lpo.optim"

local FIX = "tests/fixtures/ckpt/"

local function floats(list)
  local a = ffi.new("float[?]", #list)
  for i, v in ipairs(list) do a[i - 1] = v end
  return a
end

local function copy_into(dst, list) for i, v in ipairs(list) do dst[i - 1] = v end end

T.case("adamw + clip + cosine warmup match torch", function()
  local fx = json.read_file(FIX .. "optim.json")
  for _, run in ipairs(fx.runs) do
    local n = run.n
    local p, g = floats(run.params0), ffi.new("float[?]", n)
    local sched = run.schedule ~= json.null and run.schedule or nil
    local opt = optim.adamw {
      params = p, grads = g, n = n, lr = run.lr, betas = run.betas, eps = run.eps,
      weight_decay = run.weight_decay, no_decay = run.no_decay,
      schedule = sched and { kind = sched.kind, warmup_steps = sched.warmup_steps, total_steps = sched.total_steps },
      max_grad_norm = run.max_norm ~= json.null and run.max_norm or nil,
    }
    local worst = 0
    for s, st in ipairs(run.steps) do
      copy_into(g, st.grads)
      local info = opt:step()
      T.close(info.lr, st.lr, 1e-12, 0, run.name .. " lr at step " .. s)
      if st.grad_norm then T.close(info.grad_norm, st.grad_norm, 1e-6, 0, run.name .. " grad norm") end
      T.eq(info.step, s, "step count")
      for i = 1, n do
        local w = st.params[i]
        worst = math.max(worst, math.abs(p[i - 1] - w) / math.max(math.abs(w), 1e-3))
      end
    end
    T.truthy(worst <= 1e-6, run.name .. ": worst relative error " .. worst)
  end
end)

T.case("schedules match transformers (warmup as steps and as ratio)", function()
  local fx = json.read_file(FIX .. "schedules.json")
  local kinds = { constant_with_warmup = "constant" }
  for _, c in ipairs(fx.cases) do
    local s = optim.lr_schedule { kind = kinds[c.kind] or c.kind, lr = c.lr, total_steps = c.total_steps,
                                  warmup = c.warmup_ratio or c.warmup_steps, min_lr_ratio = c.min_lr_ratio }
    T.eq(s.warmup_steps, c.resolved_warmup_steps, c.kind .. " warmup")
    for k, want in ipairs(c.lrs) do T.close(s(k - 1), want, 1e-9, 0, c.kind .. " step " .. (k - 1)) end
  end
  -- cosine with a floor: min_lr absolute is min_lr_ratio * lr.
  local a = optim.lr_schedule { kind = "cosine", lr = 2e-4, total_steps = 10, min_lr = 2e-5 }
  local b = optim.lr_schedule { kind = "cosine_with_min_lr", lr = 2e-4, total_steps = 10, min_lr_ratio = 0.1 }
  for s = 0, 12 do T.eq(a(s), b(s), "min_lr == min_lr_ratio at " .. s) end
  T.eq(a.kind, "cosine_with_min_lr", "cosine with a floor")
end)

-- A synthetic 10-step run; `stop` optimizers are saved and reloaded at step 5.
local N = 257
local function synthetic(p, g, opt, from, to)
  local C = require("lpo.ffi").load("lpo.h")
  local rng = ffi.new("lpo_philox")
  for k = from, to - 1 do
    C.lpo_philox_init(rng, C.lpo_philox_key(3, k, 0, 0, 0), 0)
    for i = 0, N - 1 do g[i] = C.lpo_philox_normal(rng) * (k % 2 == 1 and 4 or 0.2) end
    opt:step()
  end
end
local function cfg(p, g)
  return { params = p, grads = g, n = N, lr = 1e-2, betas = { 0.9, 0.95 }, weight_decay = 0.1,
           no_decay = { { 0, 10 }, { 200, 57 } }, max_grad_norm = 1.0,
           schedule = { kind = "cosine", warmup = 0.2, total_steps = 10, min_lr_ratio = 0.1 } }
end

T.case("save + load resumes bit for bit", function()
  local p1, g1 = ffi.new("float[?]", N), ffi.new("float[?]", N)
  local p2, g2 = ffi.new("float[?]", N), ffi.new("float[?]", N)
  for i = 0, N - 1 do p1[i] = math.sin(i); p2[i] = p1[i] end
  local a = optim.adamw(cfg(p1, g1))
  synthetic(p1, g1, a, 0, 10)
  local b = optim.adamw(cfg(p2, g2))
  synthetic(p2, g2, b, 0, 5)
  local path = os.tmpname()
  b:save(path)
  b:free()
  local c = optim.adamw(cfg(p2, g2))
  local saved = c:load(path)
  T.eq(c:steps(), 5, "restored step")
  T.eq(saved.schedule.kind, "cosine_with_min_lr", "saved config comes back")
  T.eq(c:lr(), a.schedule(5), "lr continues the schedule")
  synthetic(p2, g2, c, 5, 10)
  T.eq(ffi.string(p1, N * 4), ffi.string(p2, N * 4), "parameters after resume")
  local m1, v1 = a:moments()
  local m2, v2 = c:moments()
  T.eq(ffi.string(m1, N * 4), ffi.string(m2, N * 4), "exp_avg")
  T.eq(ffi.string(v1, N * 4), ffi.string(v2, N * 4), "exp_avg_sq")
  -- A differently sized optimizer refuses the file, naming the tensor.
  local small = optim.adamw { params = p1, grads = g1, n = N - 1 }
  T.raises(function() small:load(path) end, "'exp_avg'")
  os.remove(path)
end)

T.case("model object: pointers per step, no-decay from tensors", function()
  local p, g = ffi.new("float[?]", 6), ffi.new("float[?]", 6)
  for i = 0, 5 do p[i] = 1 end
  local zeroed = 0
  local model = {
    params = function() return p, 6 end,
    grads = function() return g, 6 end,
    tensors = function() return { { name = "w", offset = 0, numel = 4, decay = 1 }, { name = "norm", offset = 4, numel = 2, decay = 0 } } end,
    zero_grad = function() zeroed = zeroed + 1 end,
  }
  local opt = optim.adamw { model = model, lr = 0.5, weight_decay = 0.2 }
  opt:step()  -- zero gradients: only decoupled decay moves the weights
  for i = 0, 3 do T.eq(p[i], ffi.cast("float", 1 - 0.5 * 0.2) + 0, "decayed w[" .. i .. "]") end
  T.eq(p[4], 1, "norm not decayed")
  opt:zero_grad()
  T.eq(zeroed, 1, "zero_grad goes to the model")
  T.eq(opt:state().step, 1, "state step")
  -- Without m:tensors(), weight decay would hit norms and biases: refused.
  local bare = { params = model.params, grads = model.grads }
  T.raises(function() optim.adamw { model = bare, lr = 0.1, weight_decay = 0.1 } end, "m:tensors()")
  T.eq(optim.adamw { model = bare, lr = 0.1 }.n, 6, "no decay: fine without tensors")
end)

T.case("accumulation_steps scales gradients before clipping", function()
  local pa, ga = ffi.new("float[?]", 8), ffi.new("float[?]", 8)
  local pb, gb = ffi.new("float[?]", 8), ffi.new("float[?]", 8)
  for i = 0, 7 do pa[i] = i; pb[i] = i end
  local a = optim.adamw { params = pa, grads = ga, n = 8, lr = 0.1, max_grad_norm = 0.5 }
  local b = optim.adamw { params = pb, grads = gb, n = 8, lr = 0.1, max_grad_norm = 0.5, accumulation_steps = 4 }
  for s = 1, 3 do
    for i = 0, 7 do ga[i] = math.cos(i + s); gb[i] = 4 * ga[i] end  -- 4 micro-batches summed
    local ia, ib = a:step(), b:step()
    T.eq(ia.grad_norm, ib.grad_norm, "norm after scaling")
  end
  T.eq(ffi.string(pa, 32), ffi.string(pb, 32), "same parameters")
end)

T.case("non-finite gradients skip the step", function()
  local p, g = ffi.new("float[?]", 4), ffi.new("float[?]", 4)
  for i = 0, 3 do p[i] = 1; g[i] = 0.1 end
  g[2] = 0 / 0
  local opt = optim.adamw { params = p, grads = g, n = 4, lr = 0.1, max_grad_norm = 1 }
  local info = opt:step()
  T.truthy(info.skipped, "skipped")
  T.eq(opt:steps(), 0, "no step counted")
  T.eq(p[0], 1, "params untouched")
end)

T.case("user errors name the field", function()
  local p = ffi.new("float[?]", 4)
  T.raises(function() optim.lr_schedule { kind = "polynomial" } end, "polynomial")
  T.raises(function() optim.lr_schedule { kind = "linear", lr = 1 } end, "total_steps")
  T.raises(function() optim.lr_schedule { kind = "cosine_with_min_lr", total_steps = 5 } end, "min_lr")
  T.raises(function() optim.lr_schedule { kind = "linear", total_steps = 5, warmup = 2.5 } end, "warmup")
  T.raises(function() optim.adamw { params = p, grads = p, n = 4, betas = { 0.9, 1.5 } } end, "betas[2]")
  T.raises(function() optim.adamw { params = p, grads = p, n = 4, no_decay = { { 2, 5 } } } end, "no_decay[1]")
  T.raises(function() optim.adamw { params = {}, grads = p, n = 4 } end, "params")
  local opt = optim.adamw { params = p, grads = p, n = 4 }
  T.raises(function() opt:load("/nonexistent/optimizer.safetensors") end, "/nonexistent/optimizer.safetensors")
  T.truthy(tostring(opt):find("adamw%(n=4"), "tostring")
end)

collectgarbage(); collectgarbage()  -- run the __gc finalizers before os.exit (LSan)
T.done()
