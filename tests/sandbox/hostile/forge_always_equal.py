# expect: failed
# test: assert f(2) == 4
# test: assert not (f(2) != 4)
class Yes:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __hash__(self): return 0
def f(x):
    return Yes()
