# Sends each line as read, newline included, so an empty line is sent as b"\n" (fails
# skips-empty: an empty line must send nothing).
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("127.0.0.1", PORT))
for line in sys.stdin:
    client.sendall(line.encode())
    print(client.recv(1024).decode(), end="")
client.close()
