# Binds 127.0.0.1 only, as the tutorial does: correct on its own host, unreachable
# from another (graded with probe_from=other-host).
import os
import socket
import sys
import threading

HOST = "127.0.0.1"  # the tutorial's address: other hosts cannot reach it
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080


def handle(conn):
    while True:
        data = conn.recv(1024)
        if not data:
            break
        conn.sendall(data.upper())
    conn.close()


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((HOST, PORT))
s.listen(5)
while True:
    conn, addr = s.accept()
    print("connected by", addr)
    t = threading.Thread(target=handle, args=(conn,))
    t.daemon = True
    t.start()
