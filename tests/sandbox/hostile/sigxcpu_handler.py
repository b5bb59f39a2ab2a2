# Survive the soft CPU limit by ignoring SIGXCPU: the wall clock still ends it.
# expect: timeout
# test: assert f() == 1
import signal
signal.signal(signal.SIGXCPU, signal.SIG_IGN)
signal.signal(signal.SIGALRM, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    pass
def f():
    return 1
