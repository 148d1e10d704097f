# Sends each line but never reads the server's reply, so nothing is printed (fails
# prints-reply). At the end of its input it closes with the replies unread.
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
    client.sendall(msg.encode())
    print("sent", len(msg), "bytes")
client.close()
