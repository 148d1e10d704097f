# The reference solution of tcp-upper-client: the tutorial's interactive client (program
# 4). It connects to the server at 127.0.0.1 on the port given as its argument, sends each
# line typed on stdin and prints the reply. It skips empty lines (an empty send sends
# nothing, so the recv after it would wait forever) and at the end of its input (Ctrl-D)
# closes the connection and exits.
import socket
import sys

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
BUFSIZE = 1024

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect((HOST, PORT))
while True:
    try:
        msg = input().strip()
    except EOFError:  # the input has ended
        break
    if len(msg) == 0:
        continue
    client.sendall(msg.encode("utf-8"))
    reply = client.recv(BUFSIZE)
    print(reply.decode("utf-8"))
client.close()
