# Run last: a job sees an empty work dir and an empty /tmp.
# expect: passed
# test: assert f() == (["tmp"], [])
import os
def f():
    return sorted(os.listdir(".")), sorted(os.listdir("/tmp"))
