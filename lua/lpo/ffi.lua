-- lpo.ffi — hands the C API to LuaJIT's FFI.
-- Each public header in engine/include marks its FFI-readable part between
-- LPO_CDEF_BEGIN and LPO_CDEF_END; we read that text at run time so the header stays
-- the single source of truth. `lib` is the executable itself (symbols are exported).
local ffi = require "ffi"

local M = { C = ffi.C, loaded = {} }

local function include_dirs()
  local root = rawget(_G, "LPO_ROOT") or os.getenv("LPO_ROOT") or "."
  return { root .. "/engine/include", root .. "/include" }
end

local function read_header(name)
  for _, dir in ipairs(include_dirs()) do
    local f = io.open(dir .. "/" .. name, "rb")
    if f then local s = f:read("*a"); f:close(); return s, dir .. "/" .. name end
  end
  error("lpo.ffi: header " .. name .. " not found in " .. table.concat(include_dirs(), ", "), 2)
end

--- Declares a header's FFI part once; `lpo.h` is always declared first.
function M.load(name)
  if M.loaded[name] then return M.C end
  if name ~= "lpo.h" then M.load("lpo.h") end
  local text, path = read_header(name)
  local body = text:match("/%* LPO_CDEF_BEGIN %*/(.-)/%* LPO_CDEF_END %*/")
  if not body then error("lpo.ffi: " .. path .. " has no LPO_CDEF_BEGIN/END block", 2) end
  ffi.cdef(body)
  M.loaded[name] = true
  return M.C
end

--- Raises the engine's last error (with a traceback) when rc signals failure.
function M.check(rc, what)
  if rc == nil or rc == -1 or (type(rc) == "cdata" and rc == nil) then
    local msg = ffi.string(M.load("lpo.h").lpo_last_error())
    error(what and (what .. ": " .. msg) or msg, 2)
  end
  return rc
end

function M.last_error() return ffi.string(M.load("lpo.h").lpo_last_error()) end

return M
