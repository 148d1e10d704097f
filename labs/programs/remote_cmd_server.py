# Tutorial program 7: remote command execution, the server. Each line a client sends
# runs through a shell, and the server sends back its stderr, then its stdout, as two
# sends. Its hidden lessons: TCP has no message boundaries (an output longer than the
# client's recv is left in the stream, and two sends may arrive as one), and anyone who
# can connect runs commands: a remote shell with no authentication.
# Differs from the tutorial: the address comes from SOCKLAB_HOST_IP and argv[1]
# (defaults 127.0.0.1 and 8080).
import os
import socket
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
        err = res.stderr.read()
        out = res.stdout.read()
        conn.send(err)
        conn.send(out)
    conn.close()
