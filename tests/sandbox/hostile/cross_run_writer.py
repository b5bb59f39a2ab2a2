# Run first on a one-worker pool; cross_run_reader.py runs next on the same worker.
# expect: passed
# test: assert f() == 1
import os
for path in ("/work/lpo_channel", "/tmp/lpo_channel", "/dev/shm/lpo_channel", "lpo_channel"):
    with open(path, "w") as out:
        out.write("secret from the previous run")
os.mkdir("/tmp/lpo_dir")
def f():
    return 1
