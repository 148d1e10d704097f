# The reference solution of tcp-upper-server: the tutorial's looping server (program 3),
# made concurrent with a thread per client. It sets SO_REUSEADDR so that a restart binds
# while the old port is in TIME_WAIT, and it ends a client's loop when recv returns b''.
import os
import socket
import sys
import threading

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
BUFSIZE = 1024


def serve(conn, addr):
    with conn:
        while True:
            msg = conn.recv(BUFSIZE)
            if len(msg) == 0:  # the client has closed
                break
            conn.sendall(msg.upper())
    print("client left:", addr[0])


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((HOST, PORT))
server.listen(5)
print("listening on", HOST, PORT)
while True:
    conn, addr = server.accept()
    threading.Thread(target=serve, args=(conn, addr), daemon=True).start()
