-- lpo.loss from Lua: every built-in passes the finite-difference check, a DPO written in Lua
-- matches the C DPO, sums compose, FFI buffers accumulate, and bad options name the field.
local T = require "lpo.testing"
local loss = require "lpo.loss"
local ffi = require "ffi"

local function batch()
  return {
    policy_chosen = { -12.5, -30.25, -7.0, -55.5, -21.0, -3.5 },
    policy_rejected = { -14.0, -28.0, -9.5, -50.0, -26.0, -2.25 },
    ref_chosen = { -13.0, -29.0, -8.0, -54.0, -22.5, -3.0 },
    ref_rejected = { -13.5, -29.5, -9.0, -52.0, -24.0, -2.5 },
    chosen_len = { 10, 25, 6, 40, 18, 3 },
    rejected_len = { 12, 20, 8, 37, 21, 2 },
  }
end

local function close_arrays(a, b, rtol, what)
  T.eq(#a, #b, what .. " length")
  for i = 1, #a do T.close(a[i], b[i], rtol, 1e-15, what .. "[" .. i .. "]") end
end

T.case("every built-in loss passes the finite-difference gradient check", function()
  local all = {
    loss.dpo { beta = 0.1 }, loss.dpo { beta = 0.5, label_smoothing = 0.2 }, loss.rpo { beta = 0.1, alpha = 0.5 },
    loss.ipo { beta = 0.3 }, loss.hinge { beta = 0.05 }, loss.robust { beta = 0.1, label_smoothing = 0.3 },
    loss.exo_pair { beta = 0.2 }, loss.sft {}, loss.sft { normalize = "sequences" }, loss.sft { normalize = "sequence_means" },
    loss.dpo { beta = 0.1, rpo_alpha = 0.2, nll_normalize = "sequence_means" },
    loss.simpo { beta = 2.0, gamma = 1.0 }, loss.simpo { beta = 2.5, gamma = 0.5, label_smoothing = 0.1, nll_alpha = 0.3 },
    loss.orpo { beta = 0.1 }, loss.kto { beta = 0.1 }, loss.kto { beta = 0.3, desirable_weight = 1.0, undesirable_weight = 1.33 },
    loss.kto { beta = 0.2, loss_type = "apo_zero_unpaired" }, loss.ipo { beta = 0.2, rpo_alpha = 0.1 },
  }
  for _, l in ipairs(all) do
    for seed = 1, 2 do
      local err = loss.check(l, { n = 8, seed = seed })
      T.truthy(err < 1e-6, tostring(l) .. " error " .. err)
    end
  end
end)

-- DPO, one pair, written in Lua: the same formula as TRL's sigmoid loss.
local function lua_dpo(pc, pr, rc, rr, ctx)
  return -loss.math.logsigmoid(ctx.beta * ((pc - rc) - (pr - rr)))
end

T.case("a DPO written in Lua passes check and matches the C DPO", function()
  local mine = loss.custom(lua_dpo, { name = "lua_dpo", beta = 0.1 })
  T.truthy(loss.check(mine, { n = 10, seed = 3 }) < 1e-7, "dual-number gradient")
  local a, b = mine:compute(batch()), loss.dpo { beta = 0.1 }:compute(batch())
  T.close(a.loss, b.loss, 1e-13, 0, "loss")
  close_arrays(a.grad_chosen, b.grad_chosen, 1e-12, "grad_chosen")
  close_arrays(a.grad_rejected, b.grad_rejected, 1e-12, "grad_rejected")
  for k, v in pairs(b.metrics) do T.close(a.metrics[k], v, 1e-13, 1e-15, k) end
  -- The finite-difference variant agrees to its own accuracy.
  local fd = loss.custom(lua_dpo, { name = "lua_dpo_fd", beta = 0.1, grad = "fd" }):compute(batch())
  close_arrays(fd.grad_chosen, b.grad_chosen, 1e-6, "fd grad_chosen")
end)

T.case("a new loss defined in Lua: squared hinge with length normalization", function()
  local m = loss.math
  local sq = loss.custom(function(pc, pr, rc, rr, ctx)
    local d = (pc - rc) / ctx.chosen_len - (pr - rr) / ctx.rejected_len
    local h = m.relu(1 - 2.0 * d)
    return h * h
  end, { name = "sq_hinge" })
  T.truthy(loss.check(sq, { n = 12, seed = 7 }) < 1e-6, "check")
  -- Exact value on a hand-computed pair: d = (-1+2)/1 - (-3+2)/1 = 2 -> relu(1-4) = 0; second pair d = 0 -> 1.
  local r = sq:compute { policy_chosen = { -1, -2 }, policy_rejected = { -3, -2 }, ref_chosen = { -2, -2 },
                         ref_rejected = { -2, -2 }, chosen_len = { 1, 1 }, rejected_len = { 1, 1 } }
  T.close(r.loss, 0.5, 1e-15, 0, "value")
  T.close(r.grad_chosen[2], 0.5 * 2 * 1 * -2, 1e-15, 0, "grad")   -- (1/n)·2h·(-2)
  T.eq(r.grad_chosen[1], 0, "flat side")
end)

T.case("check catches a wrong gradient", function()
  -- Finite differences with a huge step give a visibly wrong gradient on a curved loss.
  local bad = loss.custom(function(pc, pr, rc, rr) return math.exp(0.05 * (pr - pc)) end, { name = "bad", grad = "fd", h = 30 })
  T.raises(function() loss.check(bad, { n = 4 }) end, "loss.check: bad: gradient error")
end)

T.case("dual-number math agrees with finite differences", function()
  local m = loss.math
  local fns = { "exp", "log", "log1p", "expm1", "sqrt", "abs", "tanh", "sigmoid", "logsigmoid", "softplus", "log1mexp", "relu" }
  for _, name in ipairs(fns) do
    for _, x in ipairs { -3.7, -0.4, -1e-4 } do
      local arg = (name == "log" or name == "sqrt") and -x or (name == "log1p" and x / 10 or x)
      local f = m[name]
      -- The derivative w.r.t. pc of f(pc), through a custom loss (one pair, so mean = value).
      local l = loss.custom(function(pc) return f(pc) end, { needs_ref = false })
      local r = l:compute { policy_chosen = { arg }, policy_rejected = { -1 } }
      local h = 1e-5 * math.abs(arg)
      local fd = (f(arg + h) - f(arg - h)) / (2 * h)
      T.close(r.grad_chosen[1], fd, 1e-6, 1e-9, name .. "'(" .. arg .. ")")
      T.close(r.loss, f(arg), 1e-15, 0, name .. "(" .. arg .. ")")
    end
  end
  T.close(m.log1p(1e-12), 1e-12, 1e-12, 0, "log1p keeps precision")
  T.eq(m.max(2, 3), 3, "max"); T.eq(m.min(2, 3), 2, "min")
end)

T.case("loss.sum composes values, gradients and metrics", function()
  local d, s, i = loss.dpo { beta = 0.1 }, loss.sft {}, loss.custom(lua_dpo, { name = "lua_dpo", beta = 0.3 })
  local sum = loss.sum { { d, 1.0 }, { s, 0.2 }, { i, -0.5 } }
  local rs, rd, rsf, ri = sum:compute(batch()), d:compute(batch()), s:compute(batch()), i:compute(batch())
  T.close(rs.loss, rd.loss + 0.2 * rsf.loss - 0.5 * ri.loss, 1e-14, 0, "value")
  for k = 1, 6 do
    T.close(rs.grad_chosen[k], rd.grad_chosen[k] + 0.2 * rsf.grad_chosen[k] - 0.5 * ri.grad_chosen[k], 1e-13, 1e-16, "grad_chosen")
    T.close(rs.grad_rejected[k], rd.grad_rejected[k] - 0.5 * ri.grad_rejected[k], 1e-13, 1e-16, "grad_rejected")
  end
  T.eq(rs.metrics["rewards/chosen"], rd.metrics["rewards/chosen"], "metrics of the first term")
  T.eq(rs.metrics["nll_loss"], rsf.loss, "nll of the sft term")
  T.eq(rs.metrics["loss/sft"], rsf.loss, "per-term value")
  T.truthy(loss.check(sum, { n = 6 }) < 1e-6, "check of the sum")
  -- RPO three ways: rpo{}, dpo{rpo_alpha}, sum{dpo, sft}.
  local a = loss.rpo { beta = 0.1, alpha = 0.5 }:compute(batch())
  local b = loss.dpo { beta = 0.1, rpo_alpha = 0.5 }:compute(batch())
  local c = loss.sum { { d, 1 }, { s, 0.5 } }:compute(batch())
  T.close(a.loss, c.loss, 1e-14, 0, "rpo vs sum"); T.eq(a.loss, b.loss, "rpo vs dpo{rpo_alpha}")
  close_arrays(a.grad_chosen, c.grad_chosen, 1e-13, "rpo grad")
  T.raises(function() loss.sum { { d, 1 }, { loss.kto {}, 1 } } end, "cannot mix unpaired (KTO) and paired losses")
  T.raises(function() loss.sum { { d, 0 / 0 } } end, "term 1: weight must be a finite number")
  T.raises(function() loss.sum { { 3, 1 } } end, "term 1: expected {loss, weight}")
end)

T.case("the NLL term's three normalizations (TRL tokens, sequences, OpenRLHF sequence means)", function()
  local b = batch()
  local tok, seq, means, lensum = 0, 0, 0, 0
  for i = 1, 6 do
    tok = tok - b.policy_chosen[i]; lensum = lensum + b.chosen_len[i]
    seq = seq - b.policy_chosen[i] / 6; means = means - b.policy_chosen[i] / b.chosen_len[i] / 6
  end
  T.close(loss.sft {}:compute(b).loss, tok / lensum, 1e-14, 0, "tokens")
  T.close(loss.sft { normalize = "sequences" }:compute(b).loss, seq, 1e-14, 0, "sequences")
  T.close(loss.sft { normalize = "sequence_means" }:compute(b).loss, means, 1e-14, 0, "sequence_means")
  local d = loss.dpo { beta = 0.1 }:compute(b).loss
  local r = loss.dpo { beta = 0.1, rpo_alpha = 0.3, nll_normalize = "sequence_means" }:compute(b)
  T.close(r.loss, d + 0.3 * means, 1e-14, 0, "dpo + OpenRLHF nll")
  T.close(r.metrics.nll_loss, means, 1e-14, 0, "nll metric")
end)

T.case("FFI pointers in, gradients accumulated into FFI buffers with dloss", function()
  local b = batch()
  local n = 6
  local fb = { n = n }
  for k, v in pairs(b) do
    local ct = k:match("_len$") and "int32_t[?]" or "double[?]"
    fb[k] = ffi.new(ct, n, v)
  end
  local gc, gr = ffi.new("double[?]", n), ffi.new("double[?]", n)
  for i = 0, n - 1 do gc[i] = 1.0 end
  local l = loss.ipo { beta = 0.2 }
  local r = l:compute(fb, { d_chosen = gc, d_rejected = gr, dloss = 0.5 })
  local ref = l:compute(b)
  T.close(r.loss, ref.loss, 1e-15, 0, "same loss")
  T.eq(r.grad_chosen, nil, "no Lua gradient array when buffers are given")
  local wrong = { n = n, policy_chosen = fb.chosen_len, policy_rejected = fb.policy_rejected,
                  ref_chosen = fb.ref_chosen, ref_rejected = fb.ref_rejected }
  T.raises(function() loss.dpo {}:compute(wrong) end, "loss.dpo: batch field 'policy_chosen' must hold double values")
  for i = 1, n do
    T.close(gc[i - 1], 1.0 + 0.5 * ref.grad_chosen[i], 1e-14, 0, "accumulated chosen")
    T.close(gr[i - 1], 0.5 * ref.grad_rejected[i], 1e-14, 0, "accumulated rejected")
  end
end)

T.case("KTO from Lua with boolean labels and metrics", function()
  local kb = { policy = { -10, -20, -5, -8 }, ref = { -11, -19, -6, -8.5 }, label = { true, false, true, false },
               kl_policy = { -12, -15, -9 }, kl_ref = { -13, -15.5, -10 } }
  local r = loss.kto { beta = 0.1 }:compute(kb)
  local z0 = ((1) + (0.5) + (1)) / 3
  local function sig(x) return 1 / (1 + math.exp(-x)) end
  local want = ((1 - sig(0.1 * (1 - z0))) + (1 - sig(0.1 * (z0 + 1))) + (1 - sig(0.1 * (1 - z0))) + (1 - sig(0.1 * (z0 - 0.5)))) / 4
  T.close(r.loss, want, 1e-14, 0, "kto value")
  T.close(r.metrics.kl, z0, 1e-15, 0, "kl")
  T.close(r.metrics["rewards/chosen"], 0.1, 1e-14, 0, "rewards/chosen")
  T.close(r.metrics["rewards/rejected"], 0.1 * (-1 + 0.5) / 2, 1e-14, 0, "rewards/rejected")
  T.eq(r.metrics["rewards/accuracies"], nil, "no accuracies for KTO")
  T.eq(#r.grad_policy, 4, "gradient per example")
end)

T.case("bad options and batches name the field", function()
  T.raises(function() loss.dpo { beta = -1 } end, "loss.dpo: field 'beta' must be > 0, got -1")
  T.raises(function() loss.dpo { bta = 0.1 } end, "loss.dpo: unknown field 'bta' (known: beta, label_smoothing, nll_normalize, rpo_alpha)")
  T.raises(function() loss.dpo { beta = "0.1" } end, "field 'beta' must be a number, got string")
  T.raises(function() loss.robust { label_smoothing = 0.5 } end, "loss.robust: field 'label_smoothing' must be in [0, 0.5)")
  T.raises(function() loss.kto { undesirable_weight = -1 } end, "loss.kto: field 'undesirable_weight' must be >= 0")
  T.raises(function() loss.kto { loss_type = "kto_pair" } end, "field 'loss_type' must be \"kto\" or \"apo_zero_unpaired\"")
  T.raises(function() loss.sft { normalize = "words" } end, "loss.sft: field 'normalize' must be \"tokens\", \"sequences\" or \"sequence_means\"")
  T.raises(function() loss.new("dpx") end, "loss: unknown loss 'dpx' (known: dpo, exo_pair, hinge, ipo, kto, nll, orpo, rft, robust, rpo, sft, sigmoid, simpo)")
  T.raises(function() loss.custom(42) end, "loss.custom: expected a function")
  local b = batch(); b.ref_rejected = nil
  T.raises(function() loss.dpo {}:compute(b) end, "batch field 'ref_rejected' is required")
  b = batch(); table.remove(b.ref_chosen)
  T.raises(function() loss.dpo {}:compute(b) end, "batch field 'ref_chosen' has 5 entries, expected 6")
  b = batch(); b.chosen_len = nil
  T.raises(function() loss.ipo {}:compute(b) end, "loss.ipo: batch field 'chosen_len' is required")
  b = batch(); b.policy_chosen[2] = 0 / 0
  T.raises(function() loss.dpo {}:compute(b) end, "batch field 'policy_chosen'[1] is nan")
  T.raises(function() loss.dpo {}:compute {} end, "batch field 'policy_chosen' is required")
  T.raises(function() loss.check(loss.dpo {}, { n = 4, tl = 1 }) end, "loss.check: unknown field 'tl'")
end)

T.case("loss.new by name and reference-free losses without references", function()
  T.eq(loss.new("dpo", { beta = 0.2 }).config.beta, 0.2, "by name")
  local l = loss.dpo {}
  T.eq(loss.new(l), l, "a loss passes through")
  local b = batch(); b.ref_chosen, b.ref_rejected = nil, nil
  local r = loss.simpo { beta = 2.0, gamma = 0.5 }:compute(b)
  T.truthy(r.loss > 0 and r.metrics["rewards/chosen"] < 0, "simpo without refs")
  local s = loss.new("rft"):compute(b)
  T.eq(s.metrics["rewards/chosen"], nil, "sft without refs has no rewards")
  T.truthy(s.metrics["logps/chosen"] < 0, "logps still logged")
end)

T.case("ref_cache: exact round trip, fingerprint guard, torn last line", function()
  local path = os.tmpname()
  os.remove(path)
  local c = loss.ref_cache(path, { fingerprint = "ref=abc data=123" })
  T.eq(c:count(), 0, "empty")
  c:put("p1", { chosen = -12.345678901234567, rejected = -0.1 })
  c:put(2, { chosen = -1e-300, rejected = -7 })
  local d = loss.ref_cache(path, { fingerprint = "ref=abc data=123" })
  T.eq(d:count(), 2, "reopened")
  T.eq(d:get("p1").chosen, -12.345678901234567, "bit-exact")
  T.eq(d:get(2).chosen, -1e-300, "numeric key")
  T.eq(d:get("nope"), nil, "missing")
  T.raises(function() loss.ref_cache(path, { fingerprint = "ref=xyz data=123" }) end,
    "was made for fingerprint \"ref=abc data=123\", this run has \"ref=xyz data=123\"")
  local f = io.open(path, "ab"); f:write('{"key":"p3","val'); f:close()   -- crash mid-append
  local e = loss.ref_cache(path, { fingerprint = "ref=abc data=123" })
  T.eq(e:count(), 2, "torn line dropped")
  e:put("p3", { chosen = -3, rejected = -4 })
  T.eq(loss.ref_cache(path, { fingerprint = "ref=abc data=123" }):get("p3").rejected, -4, "appends cleanly after repair")
  os.remove(path)
end)

T.done()
