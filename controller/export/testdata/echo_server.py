# A program under test for the exports' tests: a TCP server on its host's address
# (SOCKLAB_HOST_IP) that serves one client, sends back its message upper-cased and closes.
import os
import socket
import sys

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind((os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1"), int(sys.argv[1])))
server.listen(1)
conn, _ = server.accept()
msg = conn.recv(1024)
conn.sendall(msg.upper())
conn.close()
server.close()
