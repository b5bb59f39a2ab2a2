# Many files under the size limit: stopped by the size of the job's tmpfs (ENOSPC).
# expect: runtime_error
# test: assert f() > 10 ** 4
i = 0
while True:
    with open("/tmp/f%d" % i, "wb") as out:
        out.write(b"x" * (1 << 20))
    i += 1
def f():
    return i
