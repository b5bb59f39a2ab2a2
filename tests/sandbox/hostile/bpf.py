# expect: killed
# test: assert done()
import ctypes
ctypes.CDLL(None, use_errno=True).syscall(321, 0, 0, 0)   # bpf(BPF_MAP_CREATE, NULL, 0)
def done():
    return True
