# Tutorial program 8: "QQ" chat over UDP, the server. It prints each incoming message
# with the sender's address (ANSI-coloured) and replies with a line its operator types.
# Differs from the tutorial: the address comes from SOCKLAB_HOST_IP and argv[1]
# (defaults 127.0.0.1 and 8081), the text is English, and it shows no prompt.
import os
import socket
import sys

HOST = os.environ.get("SOCKLAB_HOST_IP", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
BUFSIZE = 1024

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind((HOST, PORT))

while True:
    msg, addr = server.recvfrom(BUFSIZE)
    print("\033[1;44mmessage from [%s:%s]:\033[0m %s" % (addr[0], addr[1], msg.decode("utf-8")))
    reply = input().strip()
    server.sendto(reply.encode("utf-8"), addr)
