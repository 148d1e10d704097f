# Does not start: a SyntaxError (a missing colon).
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("127.0.0.1", PORT))
while True
    msg = input().strip()
    if msg:
        client.sendall(msg.encode())
        print(client.recv(1024).decode())
