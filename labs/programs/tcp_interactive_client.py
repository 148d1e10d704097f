# Tutorial program 4: an interactive TCP client for program 3. It connects with
# connect_ex (an error code instead of an exception), then sends each line typed on
# stdin and prints the reply. Empty lines are skipped: an empty send sends nothing, and
# the recv after it would wait forever.
# Differs from the tutorial: the server's address comes from SERVER and argv[1]
# (defaults 127.0.0.1 and 8081); it prints connect_ex's result, shows no prompt, and
# ends at the end of its input (Ctrl-D) instead of with a traceback.
import os
import socket
import sys

SERVER = os.environ.get("SERVER", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
BUFSIZE = 1024

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
print("connect_ex returned", client.connect_ex((SERVER, PORT)))
try:
    while True:
        msg = input().strip()
        if len(msg) == 0:
            continue
        client.send(msg.encode("utf-8"))
        reply = client.recv(BUFSIZE)
        print(reply.decode("utf-8"))
except EOFError:
    pass
client.close()
