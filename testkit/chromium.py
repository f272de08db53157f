"""A second real headless Chromium for tests, driven over the DevTools protocol.

Odoo's ``HttpCase`` drives one browser per test (``start_tour``); a test that needs two
people at once (two members on one shared conversation) starts this one for the second
person. It runs the real web client, with that person's session cookie, on loopback
only; the test reads and clicks its DOM with ``Runtime.evaluate``.

    with HeadlessChromium(ports=range(9411, 9420)) as chrome:
        chrome.open("http://127.0.0.1:8069/odoo/crm-inbox",
                    cookies={"session_id": sid})
        chrome.wait_for("!!document.querySelector('.o_crm_inbox_row')", timeout=60)

Test-only code: never imported by the addon at runtime.
"""

from __future__ import annotations

import contextlib
import json
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from urllib.parse import urlsplit

import requests
import websocket

HOST = "127.0.0.1"


class ChromiumError(Exception):
    """The browser did not start, a DevTools call failed, or a wait timed out."""


def free_port(ports):
    """The first port of *ports* (iterable of int) nothing listens on at 127.0.0.1.

    :raises ChromiumError: all are taken.
    """
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise ChromiumError(f"no free remote debugging port in {list(ports)}")


def _unlimited_address_space():
    """Lift the address-space limit Odoo's server sets (``limit_memory_hard``): V8 reserves
    far more virtual memory than it uses, and Chromium dies (SIGTRAP) under the limit
    (Odoo's own ``ChromeBrowser`` does the same)."""
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class HeadlessChromium:
    """One headless ``chromium`` process with its own profile directory, and a DevTools
    websocket on its first page. Thread-safe: calls are serialised by a lock, so a
    worker thread may drive it while the test's main thread runs a tour.

    :param ports: remote debugging ports to choose from (the first free one is used).
    :param size: window size in CSS pixels, ``(width, height)``.
    """

    def __init__(self, ports=range(9411, 9420), size=(1440, 900), executable="chromium"):
        self.ports = list(ports)
        self.size = size
        self.executable = executable
        self.process = None
        self.profile = None
        self.ws = None
        self.port = None
        self.exceptions = []  # uncaught JS exceptions of the page (their description)
        self._lock = threading.Lock()
        self._ids = iter(range(1, 1_000_000))

    # -- process ------------------------------------------------------------------
    def start(self, timeout=30):
        """Start Chromium and connect to its page.

        :raises ChromiumError: it did not answer on the debugging port within *timeout* s.
        """
        self.port = free_port(self.ports)
        self.profile = tempfile.mkdtemp(prefix="crm-inbox-chromium-")
        width, height = self.size
        self.process = subprocess.Popen([
            self.executable, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows", "--disable-breakpad",
            f"--user-data-dir={self.profile}", f"--remote-debugging-address={HOST}",
            f"--remote-debugging-port={self.port}", f"--window-size={width},{height}",
            "about:blank",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_unlimited_address_space)  # noqa: PLW1509
        deadline = time.monotonic() + timeout
        page = None
        while page is None:
            if self.process.poll() is not None:
                raise ChromiumError(f"chromium exited with {self.process.returncode}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout, ValueError):
                # not listening yet
                targets = requests.get(f"http://{HOST}:{self.port}/json", timeout=2).json()
                page = next((t for t in targets if t.get("type") == "page"), None)
            if page is None:
                if time.monotonic() > deadline:
                    raise ChromiumError(f"chromium did not answer on port {self.port}")
                time.sleep(0.2)
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.call("Runtime.enable")
        self.call("Page.enable")
        self.call("Network.enable")
        return self

    def stop(self):
        """Close the DevTools socket, kill Chromium, remove its profile. Idempotent."""
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
            self.ws = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            self.process = None
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- DevTools protocol ----------------------------------------------------------
    def call(self, method, **params):
        """Send one DevTools command and return its ``result`` (dict).

        :raises ChromiumError: the browser answered with an error.
        """
        with self._lock:
            ws = self.ws  # stop() from another thread may clear it meanwhile
            if ws is None:
                raise ChromiumError(f"{method}: the browser is stopped")
            msg_id = next(self._ids)
            try:
                ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
            except (websocket.WebSocketException, OSError) as exc:
                raise ChromiumError(f"{method}: {exc}") from exc
            while True:
                try:
                    msg = json.loads(ws.recv())
                except (websocket.WebSocketException, OSError, ValueError) as exc:
                    raise ChromiumError(f"{method}: {exc}") from exc
                if msg.get("method") == "Runtime.exceptionThrown":
                    details = msg["params"]["exceptionDetails"]
                    self.exceptions.append(
                        details.get("exception", {}).get("description") or details.get("text"))
                if msg.get("id") == msg_id:
                    if "error" in msg:
                        raise ChromiumError(f"{method}: {msg['error']}")
                    return msg.get("result", {})

    def open(self, url, cookies=None):
        """Set *cookies* (``{name: value}``, for *url*'s host, path ``/``), then load *url*."""
        host = urlsplit(url).hostname
        for name, value in (cookies or {}).items():
            self.call("Network.setCookie", name=name, value=value, domain=host, path="/")
        self.call("Page.navigate", url=url)

    def evaluate(self, expression):
        """The value of a JavaScript *expression* in the page (promises awaited; JSON-able
        values only).

        :raises ChromiumError: the expression threw.
        """
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise ChromiumError(details.get("exception", {}).get("description")
                                or details.get("text"))
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout=30, interval=0.25):
        """Evaluate *expression* until it is truthy and return its value.

        :raises ChromiumError: still falsy after *timeout* seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.ws is None:
                raise ChromiumError(f"the browser stopped while waiting for: {expression}")
            with contextlib.suppress(ChromiumError):  # a page still loading may throw
                value = self.evaluate(expression)
                if value:
                    return value
            if time.monotonic() > deadline:
                raise ChromiumError(f"still false after {timeout} s: {expression}")
            time.sleep(interval)
