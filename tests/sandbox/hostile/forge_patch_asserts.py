# Patch everything a test might lean on; the function itself is wrong.
# expect: failed
# test: import math
# test+ assert math.isclose(f(2), 4)
# test: assert abs(f(3) - 9) < 1e-9
# test: import unittest
# test+ unittest.TestCase().assertEqual(f(2), 4)
import builtins, math, unittest
builtins.abs = lambda x: 0
builtins.AssertionError = type("AssertionError", (Exception,), {})
math.isclose = lambda *a, **k: True
unittest.TestCase.assertEqual = lambda *a, **k: None
unittest.TestCase.assertTrue = lambda *a, **k: None
def f(x):
    return 0
