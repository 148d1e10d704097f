# Sends each datagram back lower-cased instead of upper-cased.
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9000

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((HOST, PORT))
while True:
    msg, addr = server.recvfrom(4096)
    print("received", len(msg), "bytes from", addr)
    server.sendto(msg.lower(), addr)
