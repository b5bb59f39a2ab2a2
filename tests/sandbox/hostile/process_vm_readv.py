# expect: killed
# test: assert len(f()) > 0
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(64)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local = iovec(ctypes.addressof(buf), 64)
remote = iovec(0x400000, 64)
libc.syscall(310, 1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
def f():
    return buf.raw
