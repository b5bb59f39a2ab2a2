# Page-touching growth, 1 MiB at a time.
# expect: memory_limit
# test: assert f() > 10 ** 6
chunks = []
while True:
    b = bytearray(1 << 20)
    b[::4096] = b"\x01" * 256
    chunks.append(b)
def f():
    return len(chunks)
