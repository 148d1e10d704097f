# Does not start: a SyntaxError (a missing colon), as a student's untested hand-in.
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind((HOST, PORT))
server.listen(5)
while True
    conn, addr = server.accept()
    conn.sendall(conn.recv(1024).upper())
    conn.close()
