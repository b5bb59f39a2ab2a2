# Running a shell works, but it sees the same sandbox.
# expect: failed
# test: assert "root:" in f()
import subprocess
out = subprocess.run(["/bin/sh", "-c", "cat /etc/shadow /root/.bashrc 2>&1; id"], capture_output=True, text=True).stdout
def f():
    return out
