# expect: runtime_error
# test: assert len(secret()) > 0
data = open("/proc/1/environ", "rb").read()
def secret():
    return data
