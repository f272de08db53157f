"""Parse messages on another CPU core while the caller stores the previous batch.

MIME parsing with the ``email`` package is CPU-bound pure Python: in the sync it
took half the time of a first sync, with the other half in the database. A
thread cannot overlap the two (the GIL); a child process can.
:class:`ParseWorker` runs ``engine/parse_worker.py`` in a fresh interpreter
(no fork of the caller, whose sockets and threads stay its own) and falls back
to parsing in-process if the child cannot be used.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import Self

from . import mime

_logger = logging.getLogger(__name__)
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parse_worker.py")
#: The child names our classes ``engine.mime.*``; the caller may know this package
#: under another name (``odoo.addons.crm_inbox.engine``).
_PACKAGE = __name__.rsplit(".", 1)[0]


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "engine" or module.startswith("engine."):
            module = _PACKAGE + module[len("engine"):]
        elif module not in ("datetime", "builtins", "copyreg"):
            raise pickle.UnpicklingError(f"unexpected class {module}.{name}")
        return super().find_class(module, name)


class ParseWorker:
    """A child process running :func:`engine.mime.parse_message`.

    Use as a context manager. :meth:`parse_many` blocks until the child has
    parsed the batch; call it from a background thread to overlap parsing with
    other work. Not thread-safe: one caller at a time.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self.failed = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, close_fds=True,
            )
        except OSError as exc:
            _logger.warning("crm_inbox: parse worker not started (%s): parsing in-process", exc)
            self.failed = True

    def parse_many(self, raws: Sequence[bytes]) -> list[mime.ParsedMessage]:
        """Parse *raws* (raw RFC 5322 messages) in the child; same results as
        ``[parse_message(r) for r in raws]``, which is also the fallback."""
        if self._proc is not None and not self.failed:
            try:
                request = pickle.dumps([bytes(r) for r in raws], protocol=5)
                self._proc.stdin.write(struct.pack("!Q", len(request)))
                self._proc.stdin.write(request)
                self._proc.stdin.flush()
                header = self._proc.stdout.read(8)
                (size,) = struct.unpack("!Q", header)
                return _Unpickler(io.BytesIO(self._proc.stdout.read(size))).load()
            except (OSError, EOFError, struct.error, pickle.UnpicklingError) as exc:
                _logger.warning("crm_inbox: parse worker failed (%s): parsing in-process", exc)
                self.failed = True
                self.close()
        return [mime.parse_message(r) for r in raws]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
