# expect: runtime_error
# test: assert "root:" in secret()
data = open("/etc/shadow").read()
def secret():
    return data
