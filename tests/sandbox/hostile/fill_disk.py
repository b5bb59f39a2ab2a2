# One big file: stopped by RLIMIT_FSIZE (EFBIG).
# expect: runtime_error
# test: assert f() > 10 ** 9
import os
with open("big", "wb") as out:
    while True:
        out.write(b"x" * (1 << 20))
def f():
    return os.path.getsize("big")
