# socketserver.ThreadingTCPServer echo (a thread per connection): every byte
# read is written back until the client closes. Backlog 1024 (the stock 5
# would throttle 50 concurrent clients).
# Usage: python3 python_echo_server.py PORT   (binds 127.0.0.1)
# SIGTERM stops it cleanly: the main thread leaves serve_forever, exit 0.
import signal
import socketserver
import sys


class Server(socketserver.ThreadingTCPServer):
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


def stop(signum, frame):
    raise SystemExit(0)


def main():
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, stop)
    with Server(("127.0.0.1", port), Echo) as server:
        print(f"echo on 127.0.0.1:{port}", flush=True)
        try:
            server.serve_forever()
        finally:
            print("stopped", flush=True)


if __name__ == "__main__":
    main()
