# kill(-1) reaches only the job's own processes: the harness must survive and judge correctly.
# expect: passed
# test: assert f() == 1
# test: assert f() * 2 == 2
import os, signal
def kill_all():
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
kill_all()
def f():
    kill_all()
    return 1
