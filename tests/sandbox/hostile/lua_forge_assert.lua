-- The program replaces assert; the test keeps its own.
-- expect: failed
-- test: assert(f(2) == 4)
assert = function() return true end
error = function() end
function f(x) return 0 end
