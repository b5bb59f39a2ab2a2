# A program-level abs/len/isinstance must not be what the test calls.
# expect: failed
# test: assert abs(f(3) - 9) < 1e-6
# test: assert len(g()) == 3
def abs(x):
    return 0
def len(x):
    return 3
def f(x):
    return 0
def g():
    return []
