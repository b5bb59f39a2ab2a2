# socketpair() is allowed for AF_UNIX only.
# expect: killed
# test: assert made()
import socket
a, b = socket.socketpair(socket.AF_INET, socket.SOCK_STREAM)
def made():
    return True
