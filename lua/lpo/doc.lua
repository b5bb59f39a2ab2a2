-- lpo.doc — docstrings for lpo functions, read by help(x) in the REPL.
-- Modules register with doc.add(fn, "signature", "text"); keys are weak so docs never
-- keep a value alive.
local M = { entries = setmetatable({}, { __mode = "k" }) }

function M.add(value, signature, text)
  M.entries[value] = { signature = signature, text = text }
  return value
end

--- Registers every entry of a table { name = {fn, signature, text} } into module `mod`.
function M.module(mod, name, docs)
  for k, d in pairs(docs) do
    if mod[k] ~= nil then M.add(mod[k], name .. "." .. d[1], d[2]) end
  end
  M.add(mod, name, docs.__module or ("module " .. name))
end

--- Returns the help text for a value (its docstring, or a listing of its fields).
function M.help(value)
  local e = M.entries[value]
  if e then return e.signature .. "\n  " .. (e.text or ""):gsub("\n", "\n  ") end
  if type(value) == "table" then
    local keys = {}
    for k, v in pairs(value) do
      if type(k) == "string" and not k:match("^_") then
        local d = M.entries[v]
        keys[#keys + 1] = string.format("  %-18s %s", k, d and d.signature or type(v))
      end
    end
    table.sort(keys)
    return "fields:\n" .. table.concat(keys, "\n")
  end
  return "no help for this " .. type(value)
end

return M
