-- expect: runtime_error
-- test: assert(f() == 1)
local chunk = string.dump(function() return 1 end)
f = load(chunk)
