# Tutorial program 6: a UDP client for program 5. Each line typed on stdin goes out
# with sendto; the reply comes back with recvfrom, and the client prints it with the
# address it came from.
# Differs from the tutorial: the server's address comes from SERVER and argv[1]
# (defaults 127.0.0.1 and 9000); it shows no prompt and ends at the end of its input
# (Ctrl-D) instead of with a traceback.
import os
import socket
import sys

SERVER = os.environ.get("SERVER", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
BUFSIZE = 1024

client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    while True:
        msg = input().strip()
        if len(msg) == 0:
            continue
        client.sendto(msg.encode("utf-8"), (SERVER, PORT))
        reply, addr = client.recvfrom(BUFSIZE)
        print(reply.decode("utf-8"), addr)
except EOFError:
    pass
client.close()
