# expect: killed
# test: assert done()
import ctypes
ctypes.CDLL(None, use_errno=True).mount(b"tmpfs", b"/usr", b"tmpfs", 0, None)
def done():
    return True
