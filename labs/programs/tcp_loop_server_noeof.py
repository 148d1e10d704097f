# Tutorial program 3 WITHOUT the empty-recv check: the student's bug. Once a client
# closes, recv returns b"" at once, every time, and the message loop spins forever
# instead of going back to accept.
# Differs from the tutorial: the address comes from SOCKLAB_HOST_IP and argv[1]
# (defaults 127.0.0.1 and 8081), and the message loop prints nothing: printing b''
# endlessly would flood the output, so the spin shows as CPU time instead.
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
BUFSIZE = 1024

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind((HOST, PORT))
server.listen(5)

while True:
    conn, addr = server.accept()
    print("connected by", addr[0])
    while True:
        msg = conn.recv(BUFSIZE)
        conn.send(msg.upper())
    conn.close()
