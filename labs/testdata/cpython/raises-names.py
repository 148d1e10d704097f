def aliases(e):
    return tuple(n for n in dir(errno) if n.startswith("E") and getattr(errno, n) == e.errno and n != errno.errorcode[e.errno])


def show(what, e):
    # A lab's error without an errno (a timeout) has errno 0 where CPython's has None.
    print(what, errno.errorcode.get(e.errno, "timeout"), e.errno or 0, aliases(e) if e.errno else ())
    print(e, repr(e))


u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.recv(1, socket.MSG_DONTWAIT)
except OSError as e:
    if e.errno == errno.EWOULDBLOCK:
        show("EWOULDBLOCK", e)
try:
    u.listen(1)
except OSError as e:
    if e.errno == errno.EOPNOTSUPP:
        show("EOPNOTSUPP", e)
try:
    u.recv(1, socket.MSG_DONTWAIT)
except BlockingIOError as e:
    show("BlockingIOError", e)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    c.connect((HOST, 1))
except ConnectionRefusedError as e:
    show("ConnectionRefusedError", e)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    c.connect((HOST, 1))
except ConnectionError as e:
    show("ConnectionError", e)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    c.connect((HOST, 1))
except OSError as e:
    show("OSError", e)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    c.connect((HOST, 1))
except socket.error as e:
    show("error", e)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    c.connect((HOST, 1))
except (BlockingIOError, ConnectionRefusedError) as e:
    show("tuple", e)
u.settimeout(0.05)
try:
    u.recv(1)
except socket.timeout as e:
    show("timeout", e)
try:
    u.recv(1)
except TimeoutError as e:
    show("TimeoutError", e)
try:
    u.recv(1)
except (BlockingIOError, socket.timeout) as e:
    show("tuple", e)

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind((HOST, 0))
srv.listen(1)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
c.connect(srv.getsockname())
c.shutdown(socket.SHUT_WR)
try:
    c.send(b"x")
except BrokenPipeError as e:
    show("BrokenPipeError", e)
