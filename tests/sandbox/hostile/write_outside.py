# expect: runtime_error
# test: assert wrote()
for path in ("/usr/lpo_pwned", "/etc/lpo_pwned", "/lpo_pwned", "/dev/lpo_pwned"):
    try:
        open(path, "w").write("pwned")
    except OSError:
        pass
open("/usr/bin/lpo_pwned", "w").write("pwned")
def wrote():
    return True
