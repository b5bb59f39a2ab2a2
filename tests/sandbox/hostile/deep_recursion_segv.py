# Lift the recursion limit and recurse in C (repr of a deeply nested list) until the C stack
# overflows: a crash, reported as a runtime error.
# expect: runtime_error
# timeout: 4
# test: assert len(f()) > 0
import sys
sys.setrecursionlimit(10 ** 8)
nested = []
for _ in range(200000):
    nested = [nested]
text = repr(nested)
def f():
    return text
