import time

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind((HOST, 0))
srv.listen()
for timeout in [None, 2.0, 0]:
    print("timeout", timeout)
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(timeout)
    print(attempt(c.connect, srv.getsockname()))
    if timeout == 0:
        time.sleep(0.1)
    print(attempt(c.connect, srv.getsockname()))
    print(attempt(c.connect, srv.getsockname()))
    print(attempt(c.connect_ex, srv.getsockname()))
    conn, addr = srv.accept()
    c.sendall(b"hi")
    print(conn.recv(10))
    c.close()
    conn.close()
