# expect: killed
# test: assert attached()
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace(16, 1, 0, 0)          # PTRACE_ATTACH to pid 1
def attached():
    return True
