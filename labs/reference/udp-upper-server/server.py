# The reference solution of udp-upper-server: the tutorial's program 5. Each datagram,
# the empty one included, goes back upper-cased to the address it came from; the buffer
# holds any datagram the lab sends.
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
BUFSIZE = 65535

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((HOST, PORT))
print("bound to", HOST, PORT)
while True:
    msg, addr = server.recvfrom(BUFSIZE)
    server.sendto(msg.upper(), addr)
