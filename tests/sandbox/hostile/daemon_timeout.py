# A daemon started by a job that then runs out of time; the suite checks it is gone.
# expect: timeout
# test: assert f() == 1
import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, b"lpodaemon2", 0, 0, 0)
        while True:
            time.sleep(0.05)
    os._exit(0)
while True:
    pass
def f():
    return 1
