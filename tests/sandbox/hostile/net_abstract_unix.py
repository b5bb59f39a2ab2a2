# expect: killed
# test: assert connected()
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0lpo-sandbox-abstract")
def connected():
    return True
