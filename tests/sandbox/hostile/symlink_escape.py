# Symlinks in the work dir resolve inside the sandbox's root, never the host's.
# expect: runtime_error
# test: assert "root:" in secret()
import os
os.symlink("/etc/shadow", "s1")
os.symlink("/../../../../etc/shadow", "s2")
os.symlink("/tmp/../../../../proc/1/root/etc/shadow", "s3")
data = ""
for name in ("s1", "s2", "s3"):
    try:
        data += open(name).read()
    except OSError:
        pass
if not data:
    raise FileNotFoundError("no host file reachable")
def secret():
    return data
