# Tutorial program 7 with framing: the remote command client reads the 4-byte length of
# each answer, then receives until it has that many bytes, so that every command gets
# its own whole answer however long it is; "quit" leaves.
# Differs from the tutorial's program 7: the length prefix; the server's address comes
# from SERVER and argv[1] (defaults 127.0.0.1 and 8080); it shows no prompt and ends at
# the end of its input (Ctrl-D) instead of with a traceback.
import os
import socket
import struct
import sys

SERVER = os.environ.get("SERVER", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
BUFSIZE = 1024


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(min(BUFSIZE, n - len(data)))
        if len(chunk) == 0:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect((SERVER, PORT))
try:
    while True:
        cmd = input().strip()
        if len(cmd) == 0:
            continue
        if cmd == "quit":
            break
        client.send(cmd.encode("utf-8"))
        length = struct.unpack("!I", recv_exactly(client, 4))[0]
        answer = recv_exactly(client, length)
        print(answer.decode("utf-8"), end="")
except EOFError:
    pass
client.close()
