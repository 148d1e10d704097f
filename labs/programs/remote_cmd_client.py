# Tutorial program 7: remote command execution, the client. It sends each command typed
# on stdin, does ONE recv(1024) and prints what came; "quit" leaves. A longer answer is
# left in the stream and printed as the answer to the next command.
# Differs from the tutorial: the server's address comes from SERVER and argv[1]
# (defaults 127.0.0.1 and 8080); it shows no prompt and ends at the end of its input
# (Ctrl-D) instead of with a traceback.
import os
import socket
import sys

SERVER = os.environ.get("SERVER", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
BUFSIZE = 1024

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
        answer = client.recv(BUFSIZE)
        print(answer.decode("utf-8"), end="")
except EOFError:
    pass
client.close()
