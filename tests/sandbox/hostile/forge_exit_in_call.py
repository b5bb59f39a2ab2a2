# Exiting from inside the tested call.
# expect: runtime_error
# test: assert f(1) == 2
import os
def f(x):
    os._exit(0)
