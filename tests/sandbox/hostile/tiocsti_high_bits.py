# TIOCSTI with bits above 32 set: the kernel ignores them, so must the filter.
# expect: killed
# test: assert done()
import ctypes
c = ctypes.c_char(b"x")
ctypes.CDLL(None, use_errno=True).syscall(16, 0, 0x5412 | (1 << 32), ctypes.byref(c))
def done():
    return True
