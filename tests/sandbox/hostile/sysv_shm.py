# SysV shared memory would outlive the job: not allowed.
# expect: killed
# test: assert done()
import ctypes
ctypes.CDLL(None, use_errno=True).shmget(0x4c504f, 4096, 0o1666)   # IPC_CREAT
def done():
    return True
