"""Every response held under a size by construction (a Lambda response is capped at 6 MB, and
Mangum base64-encodes the binary media types, a third more): a body over ``limit`` bytes is put
in the chunk store and answered by a ``303 See Other`` to where the client fetches it (a
presigned S3 URL, good for an hour). Used by the ``api`` function; ``tda serve`` needs none.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import anyio
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tda.ports.chunk_store import ChunkStore


class OversizeToStore:
    def __init__(self, app: ASGIApp, limit: int, store: Callable[[], ChunkStore]) -> None:
        self.app = app
        self.limit = limit
        self.store = store  # made at first use: the wiring has installed the real one by then

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message = {}
        parts: list[bytes] = []

        async def held(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, receive, held)
        body = b"".join(parts)
        if len(body) > self.limit:
            moved = await anyio.to_thread.run_sync(self._moved, start, body)
            if moved is not None:
                start, body = moved
        await send(start)
        await send({"type": "http.response.body", "body": body})

    def _moved(self, start: Message, body: bytes) -> tuple[Message, bytes] | None:
        """The 303 that points at ``body`` once stored, or None when the store has no URL to
        give (a local folder: the body goes as it is)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
        media_type = headers.get("content-type", "application/octet-stream")
        store = self.store()
        key = f"responses/{uuid.uuid4().hex}"
        url = store.download_url(key, media_type)
        if url is None:
            return None
        store.put(key, body)
        note = orjson.dumps(
            {
                "moved": url,
                "status": start["status"],
                "bytes": len(body),
                "why": f"the response is over {self.limit:,} bytes, more than an API response "
                "may carry: fetch it from this URL (good for an hour)",
            }
        )
        moved_start = {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", url.encode("latin-1")),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(note)).encode()),
            ],
        }
        return moved_start, note
