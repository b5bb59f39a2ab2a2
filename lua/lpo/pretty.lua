-- lpo.pretty — value printer for the REPL: tables nested and sorted, tensors via their
-- own __tostring, cycles marked, long tables truncated.
local M = {}

local function is_identifier(k) return type(k) == "string" and k:match("^[%a_][%w_]*$") end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function fmt(v, indent, seen, depth)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t ~= "table" then
    local mt = getmetatable(v)
    if t == "cdata" or (mt and mt.__tostring) then return tostring(v) end
    return tostring(v)
  end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth > 6 then return "{...}" end
  seen[v] = true
  local n, keys = #v, {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_order)
  local items, limit = {}, 100
  for i = 1, math.min(n, limit) do items[#items + 1] = fmt(v[i], indent .. "  ", seen, depth + 1) end
  if n > limit then items[#items + 1] = "... (" .. (n - limit) .. " more)" end
  for i, k in ipairs(keys) do
    if i > limit then items[#items + 1] = "... (" .. (#keys - limit) .. " more keys)"; break end
    local ks = is_identifier(k) and k or ("[" .. fmt(k, indent, seen, depth + 1) .. "]")
    items[#items + 1] = ks .. " = " .. fmt(v[k], indent .. "  ", seen, depth + 1)
  end
  seen[v] = nil
  if #items == 0 then return "{}" end
  local one = "{ " .. table.concat(items, ", ") .. " }"
  if #one <= 78 and not one:find("\n") then return one end
  return "{\n" .. indent .. "  " .. table.concat(items, ",\n" .. indent .. "  ") .. "\n" .. indent .. "}"
end

--- Returns a readable string for any Lua value.
function M.format(v) return fmt(v, "", {}, 0) end

return M
