# Ignores its argument and connects to the tutorial's port, 8081, where nothing listens:
# connect_ex returns an error it does not check, and the first send fails (fails every
# check: it never connects).
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect_ex(("127.0.0.1", 8081))
while True:
    msg = input().strip()
    if not msg:
        continue
    client.send(msg.encode())
    print(client.recv(1024).decode())
