# Tutorial program 8: "QQ" chat over UDP, the client. It keeps a name -> address book,
# asks whom to talk to, sends each line to that contact and prints the reply with the
# address it came from; "quit" goes back to choosing a contact.
# Differs from the tutorial: the book's one contact, "server", is at SERVER and argv[1]
# (defaults 127.0.0.1 and 8081), the text is English, it shows no prompts, and it ends
# at the end of its input (Ctrl-D) instead of with a traceback.
import os
import socket
import sys

SERVER = os.environ.get("SERVER", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
BUFSIZE = 1024

book = {"server": (SERVER, PORT)}

client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    while True:
        name = input().strip()
        while True:
            msg = input().strip()
            if msg == "quit":
                break
            if not msg or name not in book:
                continue
            client.sendto(msg.encode("utf-8"), book[name])
            reply, addr = client.recvfrom(BUFSIZE)
            print("\033[1;34mmessage from [%s:%s]:\033[0m %s" % (addr[0], addr[1], reply.decode("utf-8")))
except EOFError:
    pass
client.close()
