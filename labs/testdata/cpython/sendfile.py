with open("data.txt", "wb") as f:
    f.write(b"line one\nline two\n" * 100)
open("empty.txt", "wb").close()
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind((HOST, 0))
srv.listen(1)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
c.connect(srv.getsockname())
conn, addr = srv.accept()


def recv_exactly(n):
    got = b""
    while len(got) < n:
        got += conn.recv(n - len(got))
    return got


with open("data.txt", "rb") as f:
    print(c.sendfile(f))
got = recv_exactly(1800)
print(len(got), got[:18])
with open("data.txt", "rb") as f:
    print(c.sendfile(f, 5, 4))
print(recv_exactly(4))
with open("data.txt", "rb") as f:
    print(c.sendfile(f, 1791))
print(recv_exactly(9))
with open("empty.txt", "rb") as f:
    print(c.sendfile(f))
c.settimeout(2)
with open("data.txt", "rb") as f:
    print(c.sendfile(f, count=9))
print(recv_exactly(9))
print(attempt(open, "missing.txt", "rb"))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
with open("data.txt", "rb") as f:
    print(attempt(u.sendfile, f))
    print(attempt(c.sendfile, f, 0, 0))
    c.setblocking(False)
    print(attempt(c.sendfile, f))
