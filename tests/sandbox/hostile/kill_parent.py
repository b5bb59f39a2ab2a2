# Kill the parent and pid 1: the harness must survive and judge correctly.
# expect: passed
# test: assert f() == 1
# test: assert f() + 1 == 2
import os, signal
for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
def f():
    return 1
