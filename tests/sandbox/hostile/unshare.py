# expect: killed
# test: assert done()
import ctypes
ctypes.CDLL(None, use_errno=True).unshare(0x10000000 | 0x00020000)   # CLONE_NEWUSER | CLONE_NEWNS
def done():
    return True
