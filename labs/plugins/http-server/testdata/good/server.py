# An HTTP/1.0 file server (the assignment's model answer): python3 server.py PORT.
# It serves GET requests for the files in its working directory, one connection at a
# time: 200 with Content-Length and the file's bytes, 404 for a file it does not have,
# 400 for a request it cannot read, and closes each connection after its response.
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(1024)
        if not chunk:
            break
        data += chunk
    return data


def respond(conn, status, reason, body):
    head = "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (status, reason, len(body))
    conn.sendall(head.encode("ascii") + body)


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((HOST, PORT))
server.listen(5)
while True:
    conn, addr = server.accept()
    request = read_request(conn)
    parts = request.split(b"\r\n", 1)[0].split()
    if len(parts) != 3 or parts[0] != b"GET" or not parts[1].startswith(b"/"):
        respond(conn, 400, "Bad Request", b"bad request\n")
    else:
        name = os.path.basename(parts[1].decode("utf-8", "replace"))
        if name and os.path.isfile(name):
            with open(name, "rb") as f:
                respond(conn, 200, "OK", f.read())
        else:
            respond(conn, 404, "Not Found", b"not found\n")
    conn.close()
