-- expect: timeout
-- test: assert(f() == 1)
function f() while true do end end
