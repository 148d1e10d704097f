# Tutorial program 3: a looping TCP server. An accept loop around a message loop: each
# message goes back upper-cased, and an empty recv (the client has closed) ends the
# message loop, so the server goes back to accept the next client. It serves one
# client at a time.
# Differs from the tutorial: the address comes from SOCKLAB_HOST_IP and argv[1]
# (defaults 127.0.0.1 and 8081), and it says when a client leaves.
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
        if len(msg) == 0:  # the client has closed: without this check the loop spins
            print("client left")
            break
        print("received:", msg.decode("utf-8"))
        conn.send(msg.upper())
    conn.close()
