-- tostring(tensor) against torch's own repr for the same values (fixture made by
-- tests/fixtures/tensor/make_print_cases.py): layout, number format, alignment, row
-- wrapping and summarization must match torch exactly; only the suffix differs (we always
-- print ", dtype=..., shape={...})", torch prints a dtype only when it is not the default).
local T = require "lpo.testing"
local json = require "lpo.json"
local tensor = require "lpo.tensor"

local cases = json.read_file("tests/fixtures/tensor/print_cases.json")
local special = { nan = 0 / 0, inf = math.huge, ["-inf"] = -math.huge }

for _, c in ipairs(cases) do
  T.case("print " .. c.name, function()
    local vals = {}
    for i, v in ipairs(c.values) do vals[i] = special[v] or v end
    local t = tensor.tensor(vals, { dtype = c.dtype })
    t = #c.shape == 0 and t:reshape({}) or t:reshape(c.shape)
    local ours = tostring(t)
    local suffix = ", dtype=" .. c.dtype .. ", shape={" .. table.concat(c.shape, ",") .. "})"
    T.eq(ours:sub(-#suffix), suffix, "suffix")
    local body = ours:sub(1, -#suffix - 1)
    -- torch: drop ", dtype=torch.X" (possibly on its own line) and the closing paren
    local want = c.torch:gsub(",%s*dtype=torch%.%w+%)$", ")"):gsub("%)$", "")
    if body ~= want then
      error("layout differs from torch:\n--- ours\n" .. body .. "\n--- torch\n" .. want)
    end
  end)
end

T.case("fixture has the cases", function() T.truthy(#cases >= 20, "at least 20 print cases") end)

T.case("empty, freed and bf16 suffix", function()
  T.eq(tostring(tensor.zeros(0, 3)), "tensor([], dtype=f32, shape={0,3})", "empty")
  local x = tensor.ones(2)
  x:free()
  T.eq(tostring(x), "tensor(<freed>)", "freed")
  T.eq(tostring(tensor.ones(1, { dtype = "bf16" })), "tensor([1.], dtype=bf16, shape={1})", "bf16")
end)

-- T.done() leaves through os.exit, which skips finalizers: collect first so the
-- sanitizer build sees every tensor freed.
collectgarbage("collect")
collectgarbage("collect")
T.done()
