"""An endpoint gone wrong: it takes every connection and never answers."""

from __future__ import annotations

import contextlib
import socket
import threading


class SilentServer:
    """A server that takes every connection and never answers (an S3 endpoint gone wrong)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        threading.Thread(target=self._take, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def _take(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.held.append(self.socket.accept()[0])

    def close(self) -> None:
        self.socket.close()
        for held in self.held:
            held.close()
