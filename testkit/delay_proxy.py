"""A loopback TCP proxy that adds a fixed delay per direction (a far-away provider).

Test and benchmark tool (never runtime code): ``DelayProxy(upstream_port,
delay=0.020)`` listens on 127.0.0.1 and forwards every connection to
``127.0.0.1:upstream_port``; each chunk read from either side is written to the other
*delay* seconds after it arrived, in order, so a request/response round trip costs
``2 * delay`` more (plus the TCP handshake, which is not delayed). Bandwidth is not
limited. Runs an asyncio loop in a daemon thread::

    with DelayProxy(dovecot.imap_port, delay=0.020) as proxy:
        ...connect to 127.0.0.1:proxy.port...

:ivar port: the listening port. :ivar connections: connections accepted so far.
:ivar active: connections open now; :ivar peak: the most open at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Self

from .mail_servers import wait_for_port

LOOPBACK = "127.0.0.1"


class DelayProxy:
    """See the module docstring.

    :param upstream_port: the real server's port on 127.0.0.1.
    :param delay: seconds added in each direction (>= 0).
    :param upstream_host: a loopback address only (the socket guard refuses others).
    """

    def __init__(self, upstream_port: int, delay: float = 0.020, *,
                 upstream_host: str = LOOPBACK):
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, not {delay}")
        self.upstream = (upstream_host, upstream_port)
        self.delay = delay
        self.port = 0
        self.connections = 0
        self.active = 0
        self.peak = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or not wait_for_port(self.port):
            raise RuntimeError("the delay proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._handle, LOOPBACK, 0, backlog=1024))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter):
        self.connections += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            try:
                up_r, up_w = await asyncio.open_connection(*self.upstream)
            except OSError:
                client_w.close()
                return
            await asyncio.gather(self._pipe(client_r, up_w), self._pipe(up_r, client_w),
                                 return_exceptions=True)
        finally:
            self.active -= 1

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        """Copy *reader* to *writer*, each chunk *delay* seconds after it arrived."""
        queue: asyncio.Queue = asyncio.Queue()

        async def send():
            while True:
                due, chunk = await queue.get()
                if chunk is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(send())
        try:
            while True:
                chunk = await reader.read(65536)
                queue.put_nowait((time.monotonic() + self.delay, chunk or None))
                if not chunk:
                    break
        except (ConnectionError, OSError):
            queue.put_nowait((0, None))
        with contextlib.suppress(ConnectionError, OSError):  # the peer went away
            await sender
