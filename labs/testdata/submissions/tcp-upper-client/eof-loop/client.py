# Reads with sys.stdin.readline() and skips empty lines, but at the end of its input
# readline() returns "" every time: it loops forever and never closes (fails exits-on-eof).
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("127.0.0.1", PORT))
while True:
    msg = sys.stdin.readline().strip()
    if not msg:
        continue
    client.sendall(msg.encode())
    print(client.recv(1024).decode())
