# Concurrent byte-exact echo check: C connections at once, each sending M
# messages of pseudo-random bytes (a different seed per connection and
# message, sizes 1..S) and reading each back in full before the next.
# Prints "ok conns=C messages=N bytes=B rate=R/s" (R: echoed messages per
# second), or "FAIL ..." and exits 1 on the first mismatch, short read or error.
# Usage: python3 python_echo_client.py PORT C M S
import random
import socket
import sys
import threading
import time


def session(port, idx, messages, max_size, errors, counts):
    try:
        rng = random.Random(idx)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            for m in range(messages):
                size = rng.randint(1, max_size)
                payload = rng.randbytes(size)
                s.sendall(payload)
                got = bytearray()
                while len(got) < size:
                    chunk = s.recv(size - len(got))
                    if not chunk:
                        raise RuntimeError(f"conn {idx} msg {m}: closed after {len(got)}/{size} bytes")
                    got += chunk
                if got != payload:
                    raise RuntimeError(f"conn {idx} msg {m}: {size} bytes differ")
                counts[idx] += size
    except Exception as e:  # noqa: BLE001 -- every failure is reported
        errors.append(str(e))


def main():
    port, conns, messages, max_size = map(int, sys.argv[1:5])
    errors, counts = [], [0] * conns
    t0 = time.monotonic()
    threads = [threading.Thread(target=session, args=(port, i, messages, max_size, errors, counts))
               for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if errors:
        print(f"FAIL {len(errors)} of {conns} connections: {errors[0]}")
        sys.exit(1)
    total = conns * messages
    print(f"ok conns={conns} messages={total} bytes={sum(counts)} rate={total / elapsed:.0f}/s")


if __name__ == "__main__":
    main()
