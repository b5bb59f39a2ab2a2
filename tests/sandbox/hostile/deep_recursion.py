# expect: runtime_error
# test: assert f(0) == 1
def f(n):
    return f(n + 1)
