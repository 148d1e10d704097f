# The tutorial's program 3 with SO_REUSEADDR: correct, but it serves one client at a
# time, so a second client waits until the first leaves (fails concurrent-clients).
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((HOST, PORT))
server.listen(5)
while True:
    conn, addr = server.accept()
    while True:
        msg = conn.recv(1024)
        if len(msg) == 0:
            break
        conn.send(msg.upper())
    conn.close()
