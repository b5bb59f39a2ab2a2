# expect: timeout
# test: assert f() == 1
def f():
    while True:
        pass
