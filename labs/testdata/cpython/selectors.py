import selectors

sel = selectors.DefaultSelector()
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind((HOST, 0))
srv.listen(5)
srv.setblocking(False)
key = sel.register(srv, selectors.EVENT_READ, data="accept")
print(key.fileobj == srv, key.events, key.data, key.fd == srv.fileno())
print(sel.select(timeout=0))
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
c.connect(srv.getsockname())
for key, mask in sel.select(timeout=5):
    print(key.data, mask == selectors.EVENT_READ, key.fileobj == srv)
    conn, addr = key.fileobj.accept()
    conn.setblocking(False)
    sel.register(conn, selectors.EVENT_READ | selectors.EVENT_WRITE, data="echo")
for key, mask in sel.select(timeout=5):
    print(key.data, mask)
c.sendall(b"hello")
for key, mask in sel.select(timeout=5):
    print(key.data, mask)
    if mask & selectors.EVENT_READ:
        data = key.fileobj.recv(1024)
        print(data)
        if mask & selectors.EVENT_WRITE:
            key.fileobj.send(data.upper())
print(c.recv(1024))
sel.modify(conn, selectors.EVENT_READ, data="read only")
print(sel.get_key(conn).events, sel.get_key(conn).data, len(sel.get_map()))
print(sel.select(timeout=0))
c.close()
print([(k.data, m) for k, m in sel.select(timeout=5)])
print(sel.unregister(conn).data, len(sel.get_map()))
sel.close()
