-- lpo — the top-level module. Submodules load lazily: `lpo.tensor`, `lpo.model`, ...
-- so `require "lpo"` stays cheap in the REPL and in recipes.
local M = { version = rawget(_G, "LPO_VERSION") or "dev" }

local submodules = {
  tensor = "lpo.tensor", model = "lpo.model", sandbox = "lpo.sandbox", tokenizer = "lpo.tokenizer",
  gen = "lpo.gen", loss = "lpo.loss", select = "lpo.select", collect = "lpo.collect",
  train = "lpo.train", eval = "lpo.eval", tasks = "lpo.tasks", recipe = "lpo.recipe", chat = "lpo.chat",
  optim = "lpo.optim", data = "lpo.data", progress = "lpo.progress", json = "lpo.json",
  doc = "lpo.doc", plot = "lpo.plot", errors = "lpo.errors", checkpoint = "lpo.checkpoint",
}

setmetatable(M, {
  __index = function(t, k)
    local name = submodules[k]
    if not name then return nil end
    local ok, mod = pcall(require, name)
    if not ok then error(mod, 2) end
    rawset(t, k, mod)
    return mod
  end,
})

--- Creates a run (see lpo.recipe): `lpo.run { name =, seed =, ... }`.
function M.run(defaults) return require("lpo.recipe").new(defaults) end

--- Names of the lazily loaded submodules (used by REPL completion and help).
function M.modules()
  local names = {}
  for k in pairs(submodules) do names[#names + 1] = k end
  table.sort(names)
  return names
end

return M
