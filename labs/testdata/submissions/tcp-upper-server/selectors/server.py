# A correct submission with selectors: one thread, every socket non-blocking, the
# listener and each client registered for reading.
import os
import selectors
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

sel = selectors.DefaultSelector()


def accept(server):
    conn, addr = server.accept()
    print("connected by", addr)
    conn.setblocking(False)
    sel.register(conn, selectors.EVENT_READ, read)


def read(conn):
    data = conn.recv(1024)
    if data:
        conn.setblocking(True)  # short replies: send all of it before the next event
        conn.sendall(data.upper())
        conn.setblocking(False)
    else:
        sel.unregister(conn)
        conn.close()


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((HOST, PORT))
server.listen(100)
server.setblocking(False)
sel.register(server, selectors.EVENT_READ, accept)
while True:
    for key, mask in sel.select():
        key.data(key.fileobj)
