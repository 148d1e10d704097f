# A thread per client, but no EOF check: once a client leaves, recv returns b"" at
# once, every time, and the thread spins (fails no-spin).
import os
import socket
import sys
import threading

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080


def handle(conn):
    while True:
        data = conn.recv(1024)
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
