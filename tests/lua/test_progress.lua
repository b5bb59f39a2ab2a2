-- lpo.progress: formatting helpers, the log style's 10% / 30 s rule, the terminal style's
-- in-place redraw and throttling, ETA from a fake clock, and resume-aware rates.
local T = require "lpo.testing"
local progress = require "lpo.progress"

local function fake()
  local t = { now = 100.0, out = {} }
  t.clock = function() return t.now end
  t.write = function(s) t.out[#t.out + 1] = s end
  return t
end

T.case("format_duration", function()
  local cases = {
    { 0, "0s" }, { 0.4, "0s" }, { 59.4, "59s" }, { 59.6, "1m00s" }, { 65, "1m05s" }, { 3599.4, "59m59s" },
    { 3599.6, "1h00m" }, { 3661, "1h01m" }, { 86399, "1d00h" }, { 2 * 86400 + 3 * 3600, "2d03h" },
    { -1, "?" }, { 0 / 0, "?" }, { math.huge, "?" },
  }
  for _, c in ipairs(cases) do T.eq(progress.format_duration(c[1]), c[2], "format_duration(" .. tostring(c[1]) .. ")") end
end)

T.case("format_count and format_rate", function()
  T.eq(progress.format_count(950), "950", "small")
  T.eq(progress.format_count(9999), "9999", "exact below 10^4")
  T.eq(progress.format_count(12345), "12.3k", "thousands")
  T.eq(progress.format_count(999999), "1.00M", "rounds up a unit")
  T.eq(progress.format_count(4.56e6), "4.56M", "millions")
  T.eq(progress.format_count(2.5), "2.5", "fraction")
  T.eq(progress.format_rate(12.34, "samples"), "12.3 samples/s", "rate")
  T.eq(progress.format_rate(850.2, "tok"), "850 tok/s", "fast rate")
  T.eq(progress.format_rate(25000, "tok"), "25.0k tok/s", "very fast")
  T.eq(progress.format_rate(0.25, "samples"), "4.0s/sample", "slow: time per unit")
  T.eq(progress.format_rate(1 / 125, "samples"), "2m05s/sample", "very slow")
  T.eq(progress.format_rate(0, "samples"), "? samples/s", "no progress yet")
end)

T.case("log style: one line per 10% and the closing line", function()
  local f = fake()
  local bar = progress.new { total = 200, label = "sampling", unit = "samples", out = f.write, tty = false, clock = f.clock }
  for i = 1, 200 do f.now = f.now + 0.5; bar:update(i) end
  T.eq(#f.out, 10, "10 lines for 10 deciles")
  T.eq(f.out[1], "sampling   10%  20/200 samples  2.0 samples/s  ETA 1m30s\n", "first line")
  T.eq(f.out[10], "sampling  100%  200/200 samples  2.0 samples/s  ETA 0s\n", "last decile")
  bar:finish("loss 0.61")
  T.eq(f.out[11], "sampling  100%  200/200 samples  in 1m40s (2.0 samples/s)  loss 0.61\n", "closing line")
  bar:finish(); bar:update(5)
  T.eq(#f.out, 11, "finish is final")
end)

T.case("log style: a slow stage still prints every 30 s", function()
  local f = fake()
  local bar = progress.new { total = 1000, label = "train", unit = "steps", out = f.write, tty = false, clock = f.clock }
  for i = 1, 20 do f.now = f.now + 10; bar:update(i, { extra = "loss " .. i }) end  -- 2% in 200 s
  T.eq(#f.out, 6, "one line per 30 s")
  T.eq(f.out[6], "train    1%  18/1000 steps  10.0s/step  ETA 2h44m  loss 18\n", "sixth line, at 180 s")
end)

T.case("terminal style: redraws in place, throttled, newline only at the end", function()
  local f = fake()
  local bar = progress.new { total = 1000, label = "ref logps", unit = "seqs", out = f.write, tty = true, clock = f.clock, width = 200 }
  for i = 1, 1000 do f.now = f.now + 0.001; bar:update(i) end  -- 1 s in total
  T.truthy(#f.out >= 9 and #f.out <= 12, "about 10 redraws per second, got " .. #f.out)
  for _, s in ipairs(f.out) do
    T.eq(s:sub(1, 1), "\r", "starts with \\r")
    T.truthy(not s:find("\n"), "no newline while running")
  end
  T.truthy(f.out[#f.out]:find("100%", 1, true), "the final state is drawn")
  bar:finish()
  T.truthy(f.out[#f.out]:find("\27%[K\n$"), "finish ends the line")
  -- Narrow terminal: the line is cut, never wrapped.
  local g = fake()
  local narrow = progress.new { total = 10, label = "x", unit = "items", out = g.write, tty = true, clock = g.clock, width = 12 }
  narrow:update(3, "a very long extra text")
  T.eq(g.out[1], "\rx   30%  3/1\27[K", "truncated to width")
end)

T.case("unknown total, resume-aware rate, bad input", function()
  local f = fake()
  local bar = progress.new { label = "collect", unit = "samples", out = f.write, tty = false, clock = f.clock, interval = 30 }
  f.now = f.now + 31; bar:update(62)
  T.eq(f.out[1], "collect  62 samples  2.0 samples/s\n", "no percent or ETA without a total")
  local g = fake()
  local r = progress.new { total = 100, start = 50, label = "collect", unit = "samples", out = g.write, tty = false, clock = g.clock }
  g.now = g.now + 10; r:update(60)
  T.eq(g.out[1], "collect   60%  60/100 samples  1.0 samples/s  ETA 40s\n", "rate counts only new work")
  T.raises(function() progress.new { total = -1 } end, "progress.new: field 'total' must be a number >= 0, got -1")
  T.raises(function() r:update("x") end, "progress.update: done must be a number")
end)

T.done()
