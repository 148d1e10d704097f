# A student's HTTP server with the usual mistakes: python3 server.py PORT. It reads one
# recv() as the whole request, answers every path with the same file (index.txt, which
# it does not have either), sends no Content-Length, and says 200 even when it has
# nothing to send.
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
    conn.recv(1024)
    body = b""
    if os.path.isfile("index.txt"):
        with open("index.txt", "rb") as f:
            body = f.read()
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + body)
    conn.close()
