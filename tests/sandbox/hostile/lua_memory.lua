-- expect: memory_limit
-- test: assert(#f() > 0)
local t = {}
for i = 1, 1e9 do t[i] = string.rep("x", 1024 * 1024) .. i end
function f() return t end
