def unused_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port

for timeout in [None, 2.0]:
    print("timeout", timeout)
    port = unused_port()
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(timeout)
    print(attempt(c.connect, (HOST, port)))
    print(attempt(c.recv, 10))
    print(attempt(c.getpeername))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((HOST, port))
    srv.listen()
    print(attempt(c.connect_ex, (HOST, port)))
    print(attempt(c.connect_ex, (HOST, port)))
    conn, addr = srv.accept()
    c.sendall(b"after")
    print(conn.recv(10))
    c.close()
    conn.close()
    srv.close()
