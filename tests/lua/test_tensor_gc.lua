-- Memory pressure: the Lua collector cannot see tensor memory (a tensor is a tiny cdata
-- for Lua), so lpo.tensor checks the engine's live bytes after each allocation and runs a
-- full collection past a threshold. Allocating 2000 tensors of 1 MiB without freeing them
-- must keep live bytes bounded, and everything must be returned at the end.
local T = require "lpo.testing"
local tensor = require "lpo.tensor"

local MiB = 1024 * 1024

T.case("2000 x 1 MiB garbage tensors stay bounded", function()
  collectgarbage("collect")
  local base = tensor.live_bytes()
  tensor.gc_config({ min = 64 * MiB })
  local peak = 0
  for i = 1, 2000 do
    local x = tensor.zeros(MiB / 4)            -- 1 MiB of f32, dropped at once
    if i % 3 == 0 then x = x + 1 end           -- results of ops count too
    peak = math.max(peak, tensor.live_bytes() - base)
  end
  -- without the collector rule this would reach ~2600 MiB
  T.truthy(peak <= 64 * MiB + 4 * MiB, string.format("peak %.1f MiB above base stays under 68 MiB", peak / MiB))
  T.truthy(peak >= 32 * MiB, string.format("peak %.1f MiB: garbage did accumulate up to the threshold", peak / MiB))
  collectgarbage("collect")
  T.eq(tensor.live_bytes(), base, "all bytes returned after a final collection")
end)

T.case("the threshold follows what survives", function()
  collectgarbage("collect")
  local base = tensor.live_bytes()
  tensor.gc_config({ min = 16 * MiB, factor = 2 })
  local keep = {}
  for i = 1, 40 do keep[i] = tensor.zeros(MiB / 4) end     -- 40 MiB that stays alive
  for _ = 1, 200 do local _ = tensor.zeros(MiB / 4) end     -- 200 MiB of garbage
  local cfg = tensor.gc_config()
  T.truthy(cfg.threshold >= 2 * 40 * MiB, "threshold rose to twice the live set")
  T.truthy(tensor.live_bytes() - base <= cfg.threshold + MiB, "live bytes stay within the threshold")
  keep = nil
  collectgarbage("collect")
  T.eq(tensor.live_bytes(), base, "freed")
end)

-- T.done() leaves through os.exit, which skips finalizers: collect first so the
-- sanitizer build sees every tensor freed.
collectgarbage("collect")
collectgarbage("collect")
T.done()
