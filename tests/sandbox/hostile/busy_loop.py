# expect: timeout
# test: assert False, "never reached"
while True:
    pass
