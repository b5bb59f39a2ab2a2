-- lpo.progress — a progress line with percent, rate and ETA for long stages (sampling,
-- sandbox runs, reference log-probs, training).
--
--   local bar = require("lpo.progress").new { total = 800, label = "sampling", unit = "samples" }
--   bar:update(done, { extra = "loss 0.61" })     -- or bar:update(done, "loss 0.61")
--   bar:finish()
--
-- On a terminal it redraws one line in place (\r), at most every 0.1 s. Otherwise (CI, logs,
-- a pipe) it prints a whole line only when progress crosses the next 10% or 30 s have passed
-- since the last line, so a log gets about a dozen lines per stage, not thousands.
-- LPO_PROGRESS=0 silences it; LPO_PROGRESS=plain forces the log style on a terminal.
-- Output goes to stderr so stdout stays clean for results.
local ffi = require "ffi"
local errors = require "lpo.errors"

local M = {}
local Bar = {}
Bar.__index = Bar

-- A monotonic clock in seconds (os.clock is CPU time, os.time whole seconds). The pointer is
-- void* so this declaration agrees with any other module's clock_gettime(int, struct timespec *).
pcall(ffi.cdef, "int clock_gettime(int clk, void *ts);")
pcall(ffi.cdef, "int isatty(int fd);")
local ts = ffi.new("long[2]")
local CLOCK_MONOTONIC = 1
function M.clock()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts[0]) + tonumber(ts[1]) * 1e-9
end

-- ---- formatting (pure functions, tested) ----------------------------------------------

--- "0s", "59s", "1m05s", "1h02m", "2d03h"; "?" for a negative, infinite or NaN duration.
function M.format_duration(s)
  if type(s) ~= "number" or s ~= s or s < 0 or s == math.huge then return "?" end
  local t = math.floor(s + 0.5)
  if t < 60 then return string.format("%ds", t) end
  if t < 3600 then return string.format("%dm%02ds", math.floor(t / 60), t % 60) end
  t = math.floor(s / 60 + 0.5)  -- minutes, rounded
  if t < 24 * 60 then return string.format("%dh%02dm", math.floor(t / 60), t % 60) end
  t = math.floor(s / 3600 + 0.5)  -- hours, rounded
  return string.format("%dd%02dh", math.floor(t / 24), t % 24)
end

--- 950 -> "950", 9999 -> "9999", 12345 -> "12.3k", 4.56e6 -> "4.56M" (exact below 10^4,
-- then three significant digits).
function M.format_count(n)
  if n ~= n then return "?" end
  local a = math.abs(n)
  if a < 1e4 then return (n % 1 == 0) and string.format("%d", n) or string.format("%.3g", n) end
  for _, p in ipairs { { 1e9, "G" }, { 1e6, "M" }, { 1e3, "k" } } do
    if a >= p[1] * 0.9995 then
      local v = n / p[1]
      local s = string.format(math.abs(v) >= 99.95 and "%.0f" or (math.abs(v) >= 9.995 and "%.1f" or "%.2f"), v)
      return s .. p[2]
    end
  end
end

--- Rate of `unit` per second: "12.3 samples/s", "850 tok/s"; below one per second it shows the
-- time per unit instead: "4.0s/sample" (unit's trailing s dropped), which reads better.
function M.format_rate(r, unit)
  unit = unit or "it"
  if type(r) ~= "number" or r ~= r or r <= 0 or r == math.huge then return "? " .. unit .. "/s" end
  if r >= 1 then
    local s = r >= 100 and string.format("%.0f", r) or string.format("%.1f", r)
    if r >= 1e4 then s = M.format_count(r) end
    return s .. " " .. unit .. "/s"
  end
  local one = unit:gsub("s$", "")
  local per = 1 / r
  return (per < 60 and string.format("%.1fs", per) or M.format_duration(per)) .. "/" .. one
end

-- ---- the bar --------------------------------------------------------------------------

local function default_tty()
  local mode = os.getenv("LPO_PROGRESS")
  if mode == "plain" then return false end
  local term = os.getenv("TERM")
  return ffi.C.isatty(2) == 1 and term ~= "dumb"
end

--- progress.new { total =, label =, unit =, out =, tty =, clock =, start =, every = 0.1, interval = 30 }
-- total: count to reach (nil or 0 = unknown: no percent or ETA); out: a function(string) or a
-- file (default io.stderr); tty: redraw in place (default: stderr is a terminal); clock:
-- seconds, for tests; start: items already done when the bar starts (after a resume), so the
-- rate counts only new work; every / interval: the log style's 10% / 30 s rule.
function M.new(opts)
  opts = opts or {}
  local where = "progress.new"
  local total = opts.total
  if total ~= nil and (type(total) ~= "number" or total < 0 or total ~= total) then
    errors.raise(where, "field 'total' must be a number >= 0, got %s", tostring(total))
  end
  local out = opts.out or io.stderr
  if type(out) ~= "function" then
    local f = out
    out = function(s) f:write(s); f:flush() end
  end
  local clock = opts.clock or M.clock
  local silent = os.getenv("LPO_PROGRESS") == "0" and opts.out == nil
  local self = setmetatable({
    total = (total and total > 0) and total or nil, label = opts.label or "progress", unit = opts.unit or "it",
    write = out, clock = clock, tty = opts.tty, silent = silent,
    every = opts.every or 0.1, interval = opts.interval or 30, redraw = opts.redraw or 0.1,
    width = opts.width or (tonumber(os.getenv("COLUMNS") or "") or 100) - 1,
    start = opts.start or 0, done = opts.start or 0, extra = nil, lines = 0, finished = false,
  }, Bar)
  if self.tty == nil then self.tty = default_tty() end
  self.t0 = clock()
  self.last_t = self.t0           -- time of the last printed line / redraw
  self.last_bucket = self.total and math.floor((self.done / self.total) / self.every + 1e-9) or 0
  return self
end

--- The status text at time `now` (no control characters); deterministic given the clock.
function Bar:line(now, final)
  now = now or self.clock()
  local elapsed = now - self.t0
  local new = self.done - self.start
  local rate = elapsed > 0 and new / elapsed or 0 / 0
  local parts = { self.label }
  if self.total then
    local pct = math.min(100, math.floor(100 * self.done / self.total))
    parts[#parts + 1] = string.format("%3d%%", pct)
    parts[#parts + 1] = string.format("%s/%s %s", M.format_count(self.done), M.format_count(self.total), self.unit)
  else
    parts[#parts + 1] = string.format("%s %s", M.format_count(self.done), self.unit)
  end
  if final then
    parts[#parts + 1] = string.format("in %s (%s)", M.format_duration(elapsed), M.format_rate(rate, self.unit))
  else
    parts[#parts + 1] = M.format_rate(rate, self.unit)
    if self.total then
      local left = self.total - self.done
      local eta = left <= 0 and 0 or (new > 0 and left / rate or 0 / 0)
      parts[#parts + 1] = "ETA " .. M.format_duration(eta)
    end
  end
  if self.extra and self.extra ~= "" then parts[#parts + 1] = self.extra end
  return table.concat(parts, "  ")
end

function Bar:_emit(text, final)
  if self.silent then return end
  if self.tty then
    if #text > self.width then text = text:sub(1, self.width) end
    self.write("\r" .. text .. "\27[K" .. (final and "\n" or ""))
  else
    self.write(text .. "\n")
  end
  self.lines = self.lines + 1
end

--- Records progress (`done` items so far) and prints when the style's rule says so.
-- `extra` is a string or { extra = "..." } shown at the end of the line (e.g. the loss).
function Bar:update(done, extra)
  if self.finished then return end
  if type(done) ~= "number" or done ~= done then errors.raise("progress.update", "done must be a number, got %s", tostring(done)) end
  self.done = done
  if type(extra) == "table" then extra = extra.extra end
  if extra ~= nil then self.extra = tostring(extra) end
  local now = self.clock()
  if self.tty then
    local complete = self.total and done >= self.total
    if now - self.last_t >= self.redraw or complete or self.lines == 0 then
      self.last_t = now
      self:_emit(self:line(now))
    end
    return
  end
  local bucket = self.total and math.floor((done / self.total) / self.every + 1e-9) or 0
  if bucket > self.last_bucket or now - self.last_t >= self.interval then
    self.last_bucket = math.max(bucket, self.last_bucket)
    self.last_t = now
    self:_emit(self:line(now))
  end
end

--- Prints the closing line (total time and average rate) once; later updates are ignored.
function Bar:finish(extra)
  if self.finished then return end
  if type(extra) == "table" then extra = extra.extra end
  if extra ~= nil then self.extra = tostring(extra) end
  self.finished = true
  self:_emit(self:line(self.clock(), true), true)
end

require("lpo.doc").module(M, "lpo.progress", {
  __module = "Progress lines with percent, rate and ETA: redrawn in place on a terminal, every 10% / 30 s in logs.",
  new = { "new{total=, label=, unit=, out=, tty=, start=} -> bar", "bar:update(done, {extra=}) / bar:finish()" },
  format_duration = { "format_duration(seconds) -> string", "\"59s\", \"1m05s\", \"1h02m\", \"2d03h\"; \"?\" if unknown." },
  format_rate = { "format_rate(per_second, unit) -> string", "\"12.3 samples/s\", or \"4.0s/sample\" below 1/s." },
  format_count = { "format_count(n) -> string", "\"950\", \"12.3k\", \"4.56M\"." },
})

return M
