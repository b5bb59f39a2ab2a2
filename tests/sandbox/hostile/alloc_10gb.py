# expect: memory_limit
# test: assert len(f()) == 10 * 2 ** 30
x = bytearray(10 * 2 ** 30)
def f():
    return x
