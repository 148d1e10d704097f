# Correct, written another way: it iterates over sys.stdin (the loop ends at the end of
# input), sends each line with its newline, and reads the reply up to its newline.
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080

with socket.create_connection(("127.0.0.1", PORT)) as s:
    for line in sys.stdin:
        if line.strip() == "":
            continue
        s.sendall(line.encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(1024)
            if not chunk:
                sys.exit("the server closed the connection")
            reply += chunk
        sys.stdout.write(reply.decode())
