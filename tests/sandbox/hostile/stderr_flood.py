# expect: output_limit
# test: assert f() == 1
import sys
while True:
    sys.stderr.write("y" * 1000 + "\n")
def f():
    return 1
