# Tutorial program 2: a simple TCP client. It connects, sends "hello", receives the
# reply and prints it.
# Differs from the tutorial: the server's address comes from SERVER and argv[1]
# (defaults 127.0.0.1 and 8080).
import os
import socket
import sys

SERVER = os.environ.get("SERVER", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
BUFSIZE = 1024

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect((SERVER, PORT))
client.send("hello".encode("utf-8"))
reply = client.recv(BUFSIZE)
print("received:", reply.decode("utf-8"))
client.close()
