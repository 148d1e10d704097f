names = [n for n in dir(errno) if n.startswith("E")]
print(len(names), len(errno.errorcode))
print([(n, getattr(errno, n)) for n in names])
print(sorted(errno.errorcode.items()))
print(errno.ECONNREFUSED, errno.EWOULDBLOCK == errno.EAGAIN, errno.errorcode[errno.EOPNOTSUPP], errno.errorcode[errno.EDEADLK])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect((HOST, 1))
except OSError as e:
    print(e.errno == errno.ECONNREFUSED, errno.errorcode[e.errno])
