# expect: runtime_error
# test: assert f(1) == 2
import os
def f(x):
    return 0
os._exit(0)
