# A daemon (double fork + setsid) that would outlive the job; the suite checks it is gone.
# expect: passed
# test: assert f() == 1
import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, b"lpodaemon1", 0, 0, 0)
        while True:
            time.sleep(0.05)
    os._exit(0)
time.sleep(0.05)
def f():
    return 1
