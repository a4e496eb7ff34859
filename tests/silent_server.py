"""Endpoints gone wrong: one that takes every connection and never answers, and a proxy that
goes silent after it has answered."""

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
                connection = self.socket.accept()[0]
                self.held.append(connection)
                self._took(connection)

    def _took(self, connection: socket.socket) -> None:
        """What is done with a connection taken: nothing, here."""

    def close(self) -> None:
        self.socket.close()
        for held in self.held:
            with contextlib.suppress(OSError):
                held.close()


class GoingSilentProxy(SilentServer):
    """A TCP proxy to ``target`` (host, port) that can go silent, as an S3 endpoint gone wrong
    after a service connected to it: from then on no byte goes through, in either direction,
    on the connections it has or on new ones, and nothing is closed. ``speak()`` lets new
    connections through again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.silent = threading.Event()
        self.accepted = 0
        super().__init__()

    def _took(self, client: socket.socket) -> None:
        self.accepted += 1
        if self.silent.is_set():
            return
        upstream = socket.create_connection(self.target)
        self.held.append(upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self.silent.is_set():
                    return  # held open, never answered
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)

    def go_silent(self) -> None:
        self.silent.set()

    def speak(self) -> None:
        self.silent.clear()
