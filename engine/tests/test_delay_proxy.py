"""testkit.delay_proxy: a round trip through it costs twice the delay, data intact."""

import socket
import threading
import time

from testkit.delay_proxy import DelayProxy


def _echo_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return srv


def test_round_trip_is_delayed_and_data_intact():
    srv = _echo_server()
    try:
        with DelayProxy(srv.getsockname()[1], delay=0.05) as proxy, \
                socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as conn:
            payload = bytes(range(256)) * 1000
            started = time.monotonic()
            conn.sendall(b"ping")
            assert conn.recv(16) == b"ping"
            elapsed = time.monotonic() - started
            assert 0.1 <= elapsed < 0.5
            conn.sendall(payload)
            got = b""
            while len(got) < len(payload):
                got += conn.recv(65536)
            assert got == payload
            assert proxy.connections >= 1  # (and the start-up probe)
    finally:
        srv.close()
