# The tutorial's interactive client (program 4) as a student hands it in: connect_ex, a
# loop reading lines, empty lines skipped, the reply printed; EOFError ends the loop.
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
err = client.connect_ex(("127.0.0.1", PORT))
if err != 0:
    print("connect_ex returned", err)
    sys.exit(1)
while True:
    try:
        msg = input(">>> ").strip()
    except EOFError:
        break
    if not msg:
        continue
    client.send(msg.encode("utf-8"))
    data = client.recv(1024)
    print(data.decode("utf-8"))
client.close()
