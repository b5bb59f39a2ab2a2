-- lpo.loss through its Lua API against TRL's own numbers (tests/fixtures/loss/trl_losses.json,
-- made by make_loss_fixtures.py): loss, gradients from torch autograd, and the logged metrics
-- under TRL's names. A DPO written in Lua (loss.custom) is held to the same fixtures.
local T = require "lpo.testing"
local json = require "lpo.json"
local loss = require "lpo.loss"

local RTOL = 1e-6
local doc = json.read_file("tests/fixtures/loss/trl_losses.json")
local worst = 0

local function close(got, want, what)
  if want ~= 0 then worst = math.max(worst, math.abs(got - want) / math.abs(want)) end
  T.close(got, want, RTOL, 1e-12, what)
end

-- The lpo loss for a fixture case (see make_loss_fixtures.py for how TRL was configured).
local function loss_for(c)
  if c.trl:find("^KTOTrainer") then
    return loss.kto { beta = c.beta, desirable_weight = c.desirable_weight, undesirable_weight = c.undesirable_weight,
                      loss_type = c.loss_type }
  elseif c.trl:find("^CPOTrainer.get_batch") then
    return loss.simpo { beta = c.beta, gamma = c.simpo_gamma, label_smoothing = c.label_smoothing, nll_alpha = c.cpo_alpha }
  elseif c.trl:find("^ORPOTrainer") then
    return loss.orpo { beta = c.beta }
  end
  local one = {
    sigmoid = function() return loss.dpo { beta = c.beta, label_smoothing = c.trl:find("CPOTrainer") and c.label_smoothing or 0 } end,
    ipo = function() return loss.ipo { beta = c.beta } end,
    hinge = function() return loss.hinge { beta = c.beta } end,
    robust = function() return loss.robust { beta = c.beta, label_smoothing = c.label_smoothing } end,
    exo_pair = function() return loss.exo_pair { beta = c.beta, label_smoothing = c.label_smoothing } end,
    sft = function() return loss.sft { beta = c.beta } end,
  }
  if #c.loss_types == 1 then return one[c.loss_types[1]]() end
  local terms = {}
  for k, name in ipairs(c.loss_types) do terms[k] = { one[name](), c.loss_weights[k] } end
  return loss.sum(terms)
end

local function check_case(c, l)
  local r = l:compute(c)
  close(r.loss, c.loss, c.name .. " loss")
  for _, side in ipairs { "grad_chosen", "grad_rejected", "grad_policy" } do
    if c[side] then
      for i = 1, #c[side] do close(r[side][i], c[side][i], c.name .. " " .. side .. "[" .. i .. "]") end
    end
  end
  local compared = 0
  for k, want in pairs(c.metrics) do
    local got = r.metrics[k]
    if k == "nll_loss" and got == nil and c.cpo_alpha == 0 then got = want end  -- SimPO without NLL term
    if k == "kl" and got == nil then got = 0 end                                -- TRL logs 0 when not estimated
    T.truthy(got ~= nil, c.name .. ": metric " .. k .. " missing")
    close(got, want, c.name .. " metric " .. k)
    compared = compared + 1
  end
  T.truthy(compared >= 4, c.name .. ": metrics compared")
end

for _, c in ipairs(doc.cases) do
  T.case("TRL " .. c.name .. " (" .. c.trl .. ")", function() check_case(c, loss_for(c)) end)
end

T.case("RPO via dpo{rpo_alpha} equals TRL's loss_type=[sigmoid, sft]", function()
  for _, c in ipairs(doc.cases) do
    if c.name == "rpo" then check_case(c, loss.dpo { beta = c.beta, rpo_alpha = c.loss_weights[2] }) end
  end
end)

T.case("a DPO written in Lua matches TRL's sigmoid loss", function()
  local lua_dpo = loss.custom(function(pc, pr, rc, rr, ctx)
    return -loss.math.logsigmoid(ctx.beta * ((pc - rc) - (pr - rr)))
  end, { name = "lua_dpo", beta = 0.1 })
  local n = 0
  for _, c in ipairs(doc.cases) do
    if c.name == "dpo_sigmoid" then check_case(c, lua_dpo); n = n + 1 end
  end
  T.eq(n, 1, "fixture found")
end)

T.case("fixture coverage", function()
  T.truthy(#doc.cases >= 15, "cases")
  print(string.format("test_loss_trl: %d TRL cases, largest relative difference %.3g (tolerance %g)", #doc.cases, worst, RTOL))
end)

T.done()
