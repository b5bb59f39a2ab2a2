-- lpo.errors — user errors: a bad file, field, flag or line. They print as one clear
-- message without a Lua traceback (the traceback is for bugs), and exit non-zero.
local M = {}

local UserError = {}
UserError.__index = UserError
UserError.__tostring = function(e) return e.message end

--- Raises a user error; `where` names the file/field/line (e.g. "problems.jsonl:12").
function M.raise(where, fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  if where then msg = where .. ": " .. msg end
  error(setmetatable({ lpo_user_error = true, message = msg }, UserError), 0)
end

function M.is_user_error(e) return type(e) == "table" and e.lpo_user_error == true end

return M
