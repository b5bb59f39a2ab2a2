-- No io, os.execute, require, load or debug in the program's environment.
-- expect: runtime_error
-- test: assert(f())
local h = io.open("/etc/shadow")
function f() return h:read("*a") end
