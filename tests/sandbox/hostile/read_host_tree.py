# What the job can see is the minimal root: no /proc, /sys, /home, /root, /work/wt, /var ...
# expect: failed
# test: assert visible() & {"proc", "sys", "home", "root", "var", "opt", "srv", "boot"}
import os
def visible():
    return set(os.listdir("/"))
