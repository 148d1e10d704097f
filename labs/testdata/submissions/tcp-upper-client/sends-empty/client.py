# Does not skip empty lines: send(b"") sends nothing, and the recv after it waits for a
# reply that never comes (fails skips-empty: the tutorial's warning).
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
    client.send(msg.encode())
    print(client.recv(1024).decode())
client.close()
