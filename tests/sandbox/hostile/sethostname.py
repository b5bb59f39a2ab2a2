# expect: killed
# test: assert done()
import ctypes
ctypes.CDLL(None, use_errno=True).sethostname(b"pwned", 5)
def done():
    return True
