# expect: runtime_error
# test: assert f() == 5000
import threading, time
threads = [threading.Thread(target=time.sleep, args=(60,), daemon=True) for _ in range(5000)]
for t in threads:
    t.start()
def f():
    return sum(t.is_alive() for t in threads)
