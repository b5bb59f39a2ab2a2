# expect: output_limit
# test: assert f() == 1
while True:
    print("x" * 1000)
def f():
    return 1
