# expect: killed
# test: assert connected()
import socket
s = socket.create_connection(("1.1.1.1", 80), timeout=1)
def connected():
    return True
