# expect: runtime_error
# test: assert len(secret()) > 0
import os
names = os.listdir("/root") + os.listdir("/home") + os.listdir(os.path.expanduser("~/.."))
def secret():
    return names
