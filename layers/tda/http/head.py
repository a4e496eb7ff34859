"""HEAD answered wherever GET is: the GET's status and headers, and no body (RFC 9110 §9.3.2;
a load balancer's health check sends HEAD). FastAPI's routes take only the methods they
name, so before this every HEAD was 405, though the 405's Allow named HEAD.

A GET's body is made and dropped: a chunk's bytes are read for nothing, which a HEAD of a
chunk, rare and bounded as a GET is, may cost.
"""

from __future__ import annotations

from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


class HeadAsGet:
    """ASGI middleware: a HEAD runs as the GET of its path, with the body left out."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def head_only(message: Message) -> None:
            nonlocal ended
            if message["type"] != "http.response.body":
                await send(message)
            elif not ended:  # the first piece ends the answer; the rest is dropped
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, head_only)
