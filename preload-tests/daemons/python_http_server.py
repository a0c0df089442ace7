# python -m http.server's ThreadingHTTPServer (a thread per connection) with
# a listen backlog of 1024 instead of the stock 5, so 50 concurrent clients
# (or a proxy in front of it) are not throttled by the accept queue.
# Usage: python3 python_http_server.py PORT DIR   (binds 127.0.0.1)
# SIGTERM stops it cleanly: the main thread leaves serve_forever, exit 0.
import functools
import http.server
import signal
import sys


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024


class Handler(http.server.SimpleHTTPRequestHandler):
    # One line per request would flood the log under load; errors still print.
    def log_request(self, code="-", size="-"):
        pass


def stop(signum, frame):
    raise SystemExit(0)


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    handler = functools.partial(Handler, directory=directory)
    signal.signal(signal.SIGTERM, stop)
    with Server(("127.0.0.1", port), handler) as server:
        print(f"serving {directory} on 127.0.0.1:{port}", flush=True)
        try:
            server.serve_forever()
        finally:
            print("stopped", flush=True)


if __name__ == "__main__":
    main()
