# expect: syntax_error
# test: assert f() == 1
def f(:
    return 1
