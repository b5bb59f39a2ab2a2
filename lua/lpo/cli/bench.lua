-- lpo bench NAME [args] — runs lua/lpo/bench/NAME.lua. Each benchmark measures lpo and a
-- named peer in the same run and prints, as its last line:
--   bench NAME: VALUE UNIT vs PEER VALUE UNIT = RATIOx
-- and exits non-zero, saying so on that line, when the peer is missing.
local M = {}

function M.main(args)
  local name = args[1]
  if not name then
    io.stderr:write("usage: lpo bench NAME [args]   (NAME: train, sample, sandbox ...)\n")
    return 2
  end
  local ok, mod = pcall(require, "lpo.bench." .. name)
  if not ok then
    if tostring(mod):match("module 'lpo.bench." .. name .. "' not found") then
      io.stderr:write("lpo bench: unknown benchmark '" .. name .. "'\n")
      return 2
    end
    error(mod, 0)
  end
  local rest = {}
  for i = 2, #args do rest[#rest + 1] = args[i] end
  return mod.main(rest) or 0
end

--- Formats the headline line; peer_value nil means the peer could not be measured.
function M.headline(name, value, unit, peer, peer_value, why_missing)
  if peer_value == nil then
    return string.format("bench %s: %.4g %s vs %s MISSING (%s)", name, value, unit, peer, why_missing or "not available")
  end
  return string.format("bench %s: %.4g %s vs %s %.4g %s = %.2fx", name, value, unit, peer, peer_value, unit, value / peer_value)
end

return M
