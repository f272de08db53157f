"""A child process that parses raw messages for :class:`engine.parallel.ParseWorker`.

Protocol on stdin/stdout: each request and each answer is an 8-byte big-endian
length followed by that many bytes of pickle; a request is a list of raw
messages (bytes), the answer the list of :class:`engine.mime.ParsedMessage`.
The parent is the only peer (inherited pipes), so pickle is safe here. EOF on
stdin ends the process.
"""

import os
import pickle
import struct
import sys


def serve(inp, out) -> None:
    """Answer requests until EOF on *inp* (binary streams)."""
    from engine.mime import parse_message

    while True:
        header = inp.read(8)
        if len(header) < 8:
            return
        (size,) = struct.unpack("!Q", header)
        raws = pickle.loads(inp.read(size))
        answer = pickle.dumps([parse_message(raw) for raw in raws], protocol=5)
        out.write(struct.pack("!Q", len(answer)))
        out.write(answer)
        out.flush()


if __name__ == "__main__":
    # the addon folder holds the engine package; nothing else of the addon is imported
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    serve(sys.stdin.buffer, sys.stdout.buffer)
