# Tutorial program 7 with framing: the remote command server sends each answer (stderr,
# then stdout) as one message with a 4-byte big-endian length in front, so that the
# client can receive exactly one whole answer per command. Still a remote shell with no
# authentication.
# Differs from the tutorial's program 7: the length prefix; the address comes from
# SOCKLAB_HOST_IP and argv[1] (defaults 127.0.0.1 and 8080).
import os
import socket
import struct
import subprocess
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
BUFSIZE = 1024

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((HOST, PORT))
server.listen(5)

while True:
    conn, addr = server.accept()
    print("connected by", addr)
    while True:
        cmd = conn.recv(BUFSIZE)
        if len(cmd) == 0:
            break
        print("running:", cmd.decode("utf-8"))
        res = subprocess.Popen(cmd.decode("utf-8"), shell=True, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        answer = res.stderr.read() + res.stdout.read()
        conn.sendall(struct.pack("!I", len(answer)) + answer)  # one send: a second small send can wait ~40 ms for a delayed ACK
    conn.close()
