-- The shared string metatable is protected.
-- expect: runtime_error
-- test: assert(("x"):len() == 42)
getmetatable("").__index.len = function() return 42 end
