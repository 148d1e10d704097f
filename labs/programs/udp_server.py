# Tutorial program 5: a UDP server. No listen, no accept: a recvfrom loop that sends
# each datagram back upper-cased to the address it came from.
# Differs from the tutorial: the address comes from SOCKLAB_HOST_IP and argv[1]
# (defaults 127.0.0.1 and 9000).
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
BUFSIZE = 1024

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((HOST, PORT))

while True:
    msg, addr = server.recvfrom(BUFSIZE)
    print("received:", msg.decode("utf-8"), "from", addr)
    server.sendto(msg.upper(), addr)
