# Tutorial program 1: a simple TCP server. It accepts ONE client, receives one message,
# prints it, sends it back upper-cased, then closes the connection and the server.
# Differs from the tutorial: the address comes from SOCKLAB_HOST_IP and argv[1]
# (defaults 127.0.0.1 and 8080), so that runs never collide.
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
BUFSIZE = 1024

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind((HOST, PORT))
server.listen(5)

conn, addr = server.accept()
msg = conn.recv(BUFSIZE)
print("received:", msg.decode("utf-8"))
conn.send(msg.upper())

conn.close()
server.close()
