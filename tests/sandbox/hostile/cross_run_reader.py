# expect: failed
# test: assert f()
import os
def f():
    found = [p for p in ("/work/lpo_channel", "/tmp/lpo_channel", "/dev/shm/lpo_channel",
                         "lpo_channel", "/tmp/lpo_dir") if os.path.exists(p)]
    return found
