# Sends str() of the encoded line, b'hello' as text, instead of the bytes themselves
# (fails sends-input: the tutorial's caveat 8, encode before sending).
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("127.0.0.1", PORT))
while True:
    try:
        msg = input().strip()
    except EOFError:
        break
    if not msg:
        continue
    client.sendall(str(msg.encode()).encode())
    print(client.recv(1024).decode())
client.close()
