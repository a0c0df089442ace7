# Hold N TCP connections to 127.0.0.1:PORT until stdin closes, so a daemon's
# OS thread count can be read with N connections open. Prints "held N" once
# all N are connected.
# With PREFIX, each connection first sends it, and with SUFFIX sends that when
# released and reads the reply to its end (backslash escapes decoded in
# both): an HTTP request cut before its final blank line gets a connection
# past TCP_DEFER_ACCEPT (apache, nginx leave silent ones in the kernel),
# keeps the server reading it, and is then completed like any request, so the
# server logs no error. Exits 1 if a reply is empty.
# Usage: python3 hold_conns.py PORT N [PREFIX [SUFFIX]]
import socket
import sys


def unescape(s):
    return s.encode().decode("unicode_escape").encode()


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    prefix = unescape(sys.argv[3]) if len(sys.argv) > 3 else b""
    suffix = unescape(sys.argv[4]) if len(sys.argv) > 4 else b""
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if prefix:
            s.sendall(prefix)
        conns.append(s)
    print(f"held {n}", flush=True)
    sys.stdin.read()          # until the test closes our stdin
    empty = 0
    if suffix:
        for s in conns:
            s.sendall(suffix)
        for s in conns:
            got = 0
            while chunk := s.recv(65536):
                got += len(chunk)
            empty += got == 0
    for s in conns:
        s.close()
    if empty:
        print(f"{empty} of {n} held requests had no reply", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
