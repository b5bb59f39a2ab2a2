-- expect: memory_limit
-- timeout: 3
-- test: assert(#f() > 0)
local t = {}
for i = 1, 1e9 do t[i] = string.rep("x", 32 * 1024 * 1024) .. i end
function f() return t end
