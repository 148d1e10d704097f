def message(f, *args):
    try:
        return repr(f(*args))
    except Exception as e:
        return type(e).__name__ + ": " + str(e)


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
x = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
print(message(s.recv, 2.5))
print(message(s.recv, "x"))
print(message(s.recv, None))
print(message(s.recv, -1))
print(message(u.recvfrom, -1))
print(message(s.recv, 1, 2.5))
print(attempt(s.recv, 1 << 70))
print(attempt(s.recv))
print(message(s.send, "s"))
print(message(s.sendall, 1))
print(message(u.sendto, b"x", "x"))
print(message(u.sendto, b"x", (1, 2)))
print(message(u.sendto, b"x", (HOST, "p")))
print(message(u.sendto, b"x", (HOST, 70000)))
print(message(u.sendto, b"x", (HOST, -1)))
print(message(u.sendto, b"x", (HOST, 1, 2)))
print(message(s.bind, [HOST, 1]))
print(message(s.connect_ex, "x"))
print(message(s6.bind, ("::1",)))
print(message(s6.bind, "::1"))
print(message(x.bind, 1))
print(message(s.listen, "x"))
print(message(s.listen, 1 << 40))
print(message(s.settimeout, -1))
print(message(s.settimeout, "x"))
print(message(s.settimeout, float("nan")))
# CPython 3.11.2 and 3.11.7 word these two OverflowErrors differently.
print(attempt(s.settimeout, float("inf")))
print(attempt(s.settimeout, 1e10))
print(message(s.settimeout, 1 << 40))
print(message(s.settimeout, True), s.gettimeout())
print(message(s.setsockopt, socket.SOL_SOCKET, socket.SO_REUSEADDR, "x"))
print(message(s.setsockopt, socket.SOL_SOCKET, socket.SO_REUSEADDR, 2.5))
print(message(s.setsockopt, socket.SOL_SOCKET, socket.SO_REUSEADDR, 1 << 40))
print(message(socket.socket, "x"))
print(message(socket.socket, socket.AF_INET, "x"))
print(message(b"\xff".decode))
print(message(b"ok\x80".decode, "ascii"))
print(message("a\u4f60".encode, "ascii"))
print(message("\u00e9".encode, "ascii"))

for cls in [TypeError, Exception]:
    try:
        s.recv(2.5)
    except cls as e:
        print(type(e).__name__, e, repr(e))
try:
    b"\xff".decode()
except ValueError as e:
    print(type(e).__name__, e)
try:
    u.sendto(b"x", (HOST, 70000))
except (BlockingIOError, ArithmeticError) as e:
    print(type(e).__name__, e)
