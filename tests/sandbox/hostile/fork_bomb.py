# expect: timeout
# test: assert f() == 1
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
def f():
    return 1
