# Write fake results to every descriptor (its own channel included: broken, so a runtime
# error) and look for the tests in memory.
# expect: runtime_error
# test: assert f(2) == 4
import gc, os, sys
fake = b'{"t":0,"o":"pass","x":""}\n{"done":1}\n'
for fd in range(3, 1024):
    try:
        os.write(fd, fake)
    except OSError:
        pass
found = [o for o in gc.get_objects() if isinstance(o, (list, dict)) and "assert f(2) == 4" in repr(o)[:100000]]
frame, seen = sys._getframe(), []
while frame:
    seen.append(frame.f_code.co_name)
    frame = frame.f_back
def f(x):
    return 4 if found else 0
