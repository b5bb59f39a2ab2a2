# expect: killed
# test: assert done()
import ctypes
params = ctypes.create_string_buffer(120)
ctypes.CDLL(None, use_errno=True).syscall(425, 8, params)   # io_uring_setup
def done():
    return True
