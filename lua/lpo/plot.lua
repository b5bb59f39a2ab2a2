-- lpo.plot — small-multiples SVG line charts: one panel per numeric metric over steps.
-- SVG because it needs no library, diffs as text and opens in any browser.
local json = require "lpo.json"
local M = {}

local function nice_num(v)
  if v == 0 then return "0" end
  local a = math.abs(v)
  if a >= 1000 or a < 0.01 then return string.format("%.2e", v) end
  return string.format("%.3g", v)
end

local function esc(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end

--- Renders series = { {name =, points = {{x, y}, ...}}, ... } as an SVG grid of panels.
function M.svg(series, opts)
  opts = opts or {}
  local cols = opts.cols or 3
  local pw, ph, pad = 300, 190, 42
  local rows = math.max(1, math.ceil(#series / cols))
  local W, H = cols * pw, rows * ph + 30
  local out = { string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">', W, H),
                string.format('<rect width="%d" height="%d" fill="white"/>', W, H),
                string.format('<text x="%d" y="18" font-size="14" text-anchor="middle">%s</text>', W / 2, esc(opts.title or "metrics")) }
  for i, s in ipairs(series) do
    local ox, oy = ((i - 1) % cols) * pw, 30 + math.floor((i - 1) / cols) * ph
    local xmin, xmax, ymin, ymax = math.huge, -math.huge, math.huge, -math.huge
    for _, p in ipairs(s.points) do
      xmin, xmax = math.min(xmin, p[1]), math.max(xmax, p[1])
      ymin, ymax = math.min(ymin, p[2]), math.max(ymax, p[2])
    end
    if xmax == xmin then xmax = xmin + 1 end
    if ymax == ymin then ymax, ymin = ymax + 0.5, ymin - 0.5 end
    local x0, y0, w, h = ox + pad, oy + 20, pw - pad - 12, ph - 50
    local function X(x) return x0 + (x - xmin) / (xmax - xmin) * w end
    local function Y(y) return y0 + h - (y - ymin) / (ymax - ymin) * h end
    out[#out + 1] = string.format('<text x="%d" y="%d" font-size="12">%s</text>', x0, oy + 13, esc(s.name))
    out[#out + 1] = string.format('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>', x0, y0, w, h)
    out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="end">%s</text>', x0 - 3, y0 + 8, nice_num(ymax))
    out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="end">%s</text>', x0 - 3, y0 + h, nice_num(ymin))
    out[#out + 1] = string.format('<text x="%d" y="%d">%s</text>', x0, y0 + h + 13, nice_num(xmin))
    out[#out + 1] = string.format('<text x="%d" y="%d" text-anchor="end">%s</text>', x0 + w, y0 + h + 13, nice_num(xmax))
    local pts = {}
    for _, p in ipairs(s.points) do pts[#pts + 1] = string.format("%.1f,%.1f", X(p[1]), Y(p[2])) end
    if #pts == 1 then
      out[#out + 1] = string.format('<circle cx="%s" cy="%s" r="3" fill="#1f77b4"/>', pts[1]:match("([^,]+),([^,]+)"))
    else
      out[#out + 1] = '<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="' .. table.concat(pts, " ") .. '"/>'
    end
  end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n") .. "\n"
end

--- Builds one series per numeric field of metrics records (x = step, else record index).
function M.series_from_records(records, xkey)
  xkey = xkey or "step"
  local by, order = {}, {}
  for i, r in ipairs(records) do
    local x = tonumber(r[xkey]) or i
    local keys = {}
    for k, v in pairs(r) do if type(v) == "number" and k ~= xkey then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local name = (r.kind and (r.kind .. ":") or "") .. k
      if not by[name] then by[name] = { name = name, points = {} }; order[#order + 1] = name end
      table.insert(by[name].points, { x, r[k] })
    end
  end
  table.sort(order)
  local out = {}
  for _, n in ipairs(order) do out[#out + 1] = by[n] end
  return out
end

--- Writes an SVG of a run's metrics records.
function M.metrics_svg(records, path, title)
  json.write_atomic(path, M.svg(M.series_from_records(records), { title = title or path }))
end

return M
