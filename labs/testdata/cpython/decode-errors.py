cases = [b"\xff", b"\xe4\xbd", b"\xe4A", b"\xe4\xbdA", b"\xf0\x9f\x98", b"\xf0\x8f", b"\xed\xa0\x80", b"a\xc3",
         b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xff\xfe", b"ok\x80x", "你好".encode()[:4], "你好".encode()]
for b in cases:
    for codec in ["utf-8", "ascii"]:
        for mode in ["strict", "replace", "ignore"]:
            try:
                print(repr(b.decode(codec, mode)))
            except UnicodeDecodeError as e:
                print(type(e).__name__, e)
