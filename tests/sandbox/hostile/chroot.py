# expect: killed
# test: assert done()
import os
os.chroot("/tmp")
def done():
    return True
