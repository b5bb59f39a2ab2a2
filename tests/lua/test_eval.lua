-- pass@k against the direct combinatorial formula (exact big-integer-free ratios).
local T = require "lpo.testing"
local eval = require "lpo.eval"

local function comb(n, k)
  if k < 0 or k > n then return 0 end
  local r = 1
  for i = 1, k do r = r * (n - k + i) / i end
  return r
end

T.case("pass@k equals 1 - C(n-c,k)/C(n,k)", function()
  for n = 1, 20 do
    for c = 0, n do
      for k = 1, n do
        T.close(eval.pass_at_k(n, c, k), 1 - comb(n - c, k) / comb(n, k), 1e-12, 1e-12, ("n=%d c=%d k=%d"):format(n, c, k))
      end
    end
  end
  T.close(eval.pass_at_k(10, 3, 1), 0.3, 1e-15, 0, "pass@1 is c/n")
end)

T.case("bad arguments", function()
  T.raises(function() eval.pass_at_k(5, 1, 6) end, "k=6 > n=5")
  T.raises(function() eval.pass_at_k(5, 7, 1) end, "c=7 outside")
end)

T.case("counts and mean", function()
  local counts = eval.counts {
    { problem_id = "a", verdict = "passed" }, { problem_id = "a", verdict = "failed" },
    { problem_id = "b", verdict = "timeout" }, { problem_id = "b", verdict = "passed" }, { problem_id = "b", verdict = "passed" },
  }
  T.eq(#counts, 2, "problems"); T.eq(counts[2].c, 2, "b passed"); T.eq(counts[2].n, 3, "b samples")
  T.close(eval.mean_pass_at_k(counts, 1), (0.5 + 2 / 3) / 2, 1e-12, 0, "mean pass@1")
end)

T.done()
