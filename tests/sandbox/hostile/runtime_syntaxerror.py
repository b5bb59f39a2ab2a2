# A SyntaxError raised at run time is a runtime error, not a syntax error.
# expect: runtime_error
# test: assert f() == 1
def f():
    return 1
raise SyntaxError("invalid syntax (fake)")
