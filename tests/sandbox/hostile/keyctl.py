# expect: killed
# test: assert done()
import ctypes
ctypes.CDLL(None, use_errno=True).syscall(250, 0, -3, 0, 0, 0)   # keyctl(GET_KEYRING_ID, session)
def done():
    return True
