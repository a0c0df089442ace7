# Hold N idle TCP connections to 127.0.0.1:PORT until stdin closes (or the
# process is killed), so a daemon's OS thread count can be read with N
# connections open. Prints "held N" once all N are connected.
# Usage: python3 hold_conns.py PORT N
import socket
import sys


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        conns.append(s)
    print(f"held {n}", flush=True)
    sys.stdin.read()          # until the test closes our stdin
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
