"""What a model's failures do, through the real SDKs: rate limits (with and without a
retry-after the deadline cannot afford), overload, server errors, timeouts and refused keys —
retried by our policy alone, then raised as the errors the workflow's Retry and Catch name, or
(in-process) fallen back to traditional with the reason. Never an invalid record."""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tda.app import operations
from tda.app.service import generate
from tda.domain.contract import GenerateRequest
from tda.domain.errors import LLMAuthError, LLMRateLimitedError, LLMTimeoutError, TransientError
from tda.paths.llm import policy

from .scripted import Transport, scripted_client, status, timeout

REVIEWS = {"entity": "review", "count": 3, "seed": 5, "context": "reviews of trail shoes"}


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff pauses of milliseconds; every pause taken is recorded."""
    slept: list[float] = []
    monkeypatch.setattr(policy, "BACKOFF_BASE_SECONDS", 0.001)
    monkeypatch.setattr("time.sleep", slept.append)
    return slept


def in_llm_state(provider: str) -> dict[str, Any]:
    """The llm Lambda's answer (the workflow's Llm state): its errors propagate."""
    return operations.model_path(REVIEWS, "llm", provider=provider)


def test_a_429_is_retried_after_its_retry_after(
    openai_model: Transport, quick_backoff: list[float]
) -> None:
    openai_model.then(status(429, {"retry-after": "0.05"}))
    meta = generate(GenerateRequest.model_validate(REVIEWS)).metadata
    assert meta.generation_path == "llm" and meta.llm is not None
    assert meta.llm.retries == 1 and meta.llm.records_from_model == 3
    assert quick_backoff == [0.05]
    assert openai_model.calls == 2


def test_a_retry_after_past_the_deadline_is_not_waited_for(
    openai_model: Transport, quick_backoff: list[float]
) -> None:
    openai_model.then(status(429, {"retry-after": "200"}))
    with pytest.raises(LLMRateLimitedError, match="past the request's deadline"):
        in_llm_state("openai")
    assert quick_backoff == [] and openai_model.calls == 1
    # In-process (no workflow), the same failure falls back to traditional and says why.
    openai_model.then(status(429, {"retry-after": "200"}))
    meta = generate(GenerateRequest.model_validate(REVIEWS)).metadata
    assert meta.generation_path == "traditional" and meta.routed_path == "llm"
    assert "failed (openai answered HTTP 429" in meta.fallback_reason


@pytest.mark.parametrize("path", ["llm", "hybrid"])
def test_a_model_state_keeps_to_what_is_left_of_the_workflows_budget(
    openai_model: Transport, quick_backoff: list[float], path: str
) -> None:
    # The Hybrid state took no deadline from the workflow (only the llm generator had
    # with_deadline): its calls ran on LLM_DEADLINE_SECONDS, past the state's TimeoutSeconds
    # (States.Timeout: what the model wrote was lost, and the llm state found no time left).
    started = (datetime.now(UTC) - timedelta(seconds=8)).isoformat()  # 15 - 3 - 8: 4 s left
    openai_model.then(status(429, {"retry-after": "6"}))
    request = {**REVIEWS, "learn_from_history": True} if path == "hybrid" else REVIEWS
    with pytest.raises(LLMRateLimitedError, match="past the request's deadline"):
        operations.model_path(request, path, execution_started=started)
    assert quick_backoff == [] and openai_model.calls == 1


def test_anthropic_overloaded_529_is_retried(anthropic_model: Transport) -> None:
    anthropic_model.then(status(529), status(529))
    result = in_llm_state("anthropic")
    assert result["metadata"]["llm"]["retries"] == 2
    assert anthropic_model.calls == 3


def test_server_errors_are_retried_then_raised_as_transient(openai_model: Transport) -> None:
    openai_model.then(*[status(503)] * 4)
    with pytest.raises(TransientError, match="HTTP 503"):
        in_llm_state("openai")
    assert openai_model.calls == 4  # our policy's attempts; the SDK's own retries are off


def test_timeouts_are_retried_then_raised_as_llm_timeouts(openai_model: Transport) -> None:
    openai_model.then(timeout(), timeout())
    assert in_llm_state("openai")["metadata"]["llm"]["retries"] == 2
    openai_model.then(*[timeout()] * 4)
    with pytest.raises(LLMTimeoutError):
        in_llm_state("openai")


def test_a_refused_key_fails_at_once(anthropic_model: Transport) -> None:
    anthropic_model.then(status(401))
    with pytest.raises(LLMAuthError, match="credentials were refused"):
        in_llm_state("anthropic")
    assert anthropic_model.calls == 1


def test_a_provider_not_configured_is_unavailable_to_its_state(openai_model: Transport) -> None:
    from tda.domain.errors import PathUnavailableError

    with pytest.raises(PathUnavailableError, match="anthropic provider is not configured"):
        in_llm_state("anthropic")
    assert openai_model.calls == 0


def test_the_adaptive_limit_halves_on_throttling_and_grows_after_successes() -> None:
    limit = policy.AdaptiveLimit(start=8, ceiling=10, grow_after=3)
    for outcome in ("throttled", "throttled"):
        limit.acquire(deadline=float("inf"))
        limit.release(outcome)
    assert limit.limit == 2
    for _ in range(6):
        limit.acquire(deadline=float("inf"))
        limit.release("ok", latency=0.1)
    assert limit.limit == 4
    limit.acquire(deadline=float("inf"))
    limit.release("ok", latency=30.0)  # a latency blow-up counts as throttling
    assert limit.limit == 2


def test_no_slot_before_the_deadline_is_a_timeout() -> None:
    limit = policy.AdaptiveLimit(start=1)
    limit.acquire(deadline=float("inf"))
    with pytest.raises(LLMTimeoutError, match="no model call slot"):
        limit.acquire(deadline=0.0)


def test_response_json_names_the_cost_from_the_price_table(
    anthropic_model: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_MODEL", "claude-sonnet-4-20250514")

    from tda import wiring

    wiring.install(model_http_client=scripted_client(anthropic_model))
    llm = json.loads(json.dumps(in_llm_state("anthropic")))["metadata"]["llm"]
    expected = (
        llm["tokens_input"] * 3.0 + llm["tokens_output"] * 15.0 + llm["tokens_cache_read"] * 0.3
    ) / 1e6
    assert llm["cost_usd"] == pytest.approx(expected, abs=1e-6) and llm["cost_usd"] > 0
    assert llm["price_table"] == "2026-12"


def test_an_answer_of_unbounded_size_is_refused_not_parsed(openai_model: Transport) -> None:
    from tda.domain.errors import LLMRequestError

    from .scripted import chat_text

    openai_model.then(chat_text("x" * (9 << 20)))
    with pytest.raises(LLMRequestError, match="more than 8,388,608"):
        in_llm_state("openai")
    assert openai_model.calls == 1  # a request error is not retried


def nested_body(body: dict[str, Any]) -> Any:
    import httpx2

    return httpx2.Response(
        200, content=b"[" * 200_000, headers={"content-type": "application/json"}
    )


def nested_content(body: dict[str, Any]) -> Any:
    from .scripted import chat_text

    return chat_text("[" * 200_000 + "]" * 200_000)(body)


@pytest.mark.parametrize(
    ("provider", "answer"),
    [
        ("openai_model", nested_body),
        ("openai_model", nested_content),
        ("anthropic_model", nested_body),
    ],
    ids=["openai-body", "openai-content", "anthropic-body"],
)
def test_an_answer_nested_past_the_parser_is_unreadable_not_a_crash(
    request: pytest.FixtureRequest, provider: str, answer: Any
) -> None:
    # json.loads raises RecursionError, not ValueError, on deep nesting: it escaped as a crash.
    model: Transport = request.getfixturevalue(provider)
    model.then(*[answer] * 8)
    response = generate(GenerateRequest.model_validate(REVIEWS))
    meta = response.metadata
    assert json.loads(response.data) and meta.generation_path in ("llm", "traditional")
    said = meta.fallback_reason + " ".join(meta.llm.notes if meta.llm else [])
    assert "RecursionError" not in said and re.search("(not|other than) JSON", said), said


def test_what_the_model_wrote_in_time_is_kept_and_the_rest_filled(
    openai_model: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx2

    from tda import wiring
    from tda_local import scripted_model

    monkeypatch.setenv("LLM_DEADLINE_SECONDS", "2")
    wiring.install(model_http_client=scripted_client(openai_model))

    def answered(body: dict[str, Any]) -> httpx2.Response:
        return httpx2.Response(200, json=scripted_model.chat_completion(body))

    openai_model.then(answered, *[timeout()] * 40)
    response = generate(GenerateRequest.model_validate({**REVIEWS, "count": 20}))
    llm = response.metadata.llm
    assert response.metadata.generation_path == "llm" and llm is not None
    assert llm.records_from_model == 5 and llm.records_filled == 15
    assert any("call(s) failed" in note and "openai" in note for note in llm.notes)
    reviews = json.loads(response.data)
    assert sum("_filled_by" in r for r in reviews) == 15


def test_a_request_with_many_calls_leaves_another_its_share_of_the_slots() -> None:
    import threading
    import time

    limit = policy.AdaptiveLimit(start=4)
    big, small = object(), object()
    for _ in range(4):  # alone, a request may use every slot
        limit.acquire(deadline=float("inf"), owner=big)
    got = threading.Event()

    def small_call() -> None:
        limit.acquire(deadline=float("inf"), owner=small)
        got.set()

    waiter = threading.Thread(target=small_call)
    waiter.start()
    assert not got.wait(0.2)  # every slot is taken
    limit.release("ok", 0.1, owner=big)
    assert got.wait(10)  # the freed slot goes to the request that has none
    waiter.join()
    # With two requests in, the big one (3 in flight) starts no more than its share (2).
    with pytest.raises(LLMTimeoutError, match="no model call slot"):
        limit.acquire(deadline=time.monotonic() + 0.1, owner=big)


class ModelServer:
    """An OpenAI- and Anthropic-compatible server of real sockets that sends its answer in
    pieces of ``piece`` bytes, ``pause`` seconds apart; ``body`` makes the answer from the
    request (the scripted model's, by default). ``drip_headers``: the headers are sent so too,
    ahead of the answer, made that many bytes longer by a padding header."""

    def __init__(
        self,
        pause: float = 0.0,
        piece: int = 1,
        body: Callable[[dict[str, Any]], bytes] | None = None,
        chunked: bool = False,
        encoding: str = "",
        drip_headers: int = 0,
    ) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from tda_local import scripted_model

        server = self
        pausing = threading.Event()
        self.sent: list[int] = []  # bytes sent of each answer before the client left
        self.lengths: list[int] = []
        self.asked_encodings: list[str] = []  # each request's Accept-Encoding
        assert not (chunked and drip_headers), "dripped headers say the answer's length"

        def scripted(asked: dict[str, Any]) -> bytes:
            return json.dumps(scripted_model.chat_completion(asked)).encode()

        make = body or scripted

        class Answering(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                answer = make(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                server.asked_encodings.append(self.headers.get("accept-encoding", ""))
                if encoding == "gzip" and not answer.startswith(b"\x1f\x8b"):
                    answer = gzip.compress(answer)
                if drip_headers:  # sent below, in pieces, as the answer is
                    answer = self.head(answer, b"a" * drip_headers) + answer
                else:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    if encoding:
                        self.send_header("content-encoding", encoding)
                    if chunked:  # no length said: the client learns it by reading
                        self.send_header("transfer-encoding", "chunked")
                    else:
                        self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                server.lengths.append(len(answer))
                sent = 0
                try:
                    for at in range(0, len(answer), piece):
                        part = answer[at : at + piece]
                        framed = b"%x\r\n%s\r\n" % (len(part), part) if chunked else part
                        self.wfile.write(framed)
                        self.wfile.flush()
                        sent += len(part)
                        pausing.wait(pause)  # not time.sleep: quick_backoff replaces it
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client hung up
                server.sent.append(sent)

            def head(self, answer: bytes, padding: bytes) -> bytes:
                return (
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"x-padding: %s\r\ncontent-length: %d\r\n\r\n" % (padding, len(answer))
                )

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Answering)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_port}"

    def hung_up_early(self) -> bool:
        """Whether the client left every answer before half of it was sent."""
        for _ in range(200):  # the server notices the hang-up at its next write
            if len(self.sent) == len(self.lengths):
                break
            threading.Event().wait(0.05)
        return bool(self.lengths) and all(
            sent < length / 2 for sent, length in zip(self.sent, self.lengths, strict=True)
        )


class ForwardProxy:
    """An HTTP proxy of real sockets, as ``HTTP_PROXY`` names one: each request it is sent (by
    its absolute URL) is passed on, and the answer relayed as it comes; ``asked``: the URLs."""

    def __init__(self) -> None:
        import socket
        import socketserver
        from urllib.parse import urlsplit

        proxy = self
        self.asked: list[str] = []

        class Relay(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                method, target, version = self.rfile.readline().decode().split()
                head, length = [], 0
                while (line := self.rfile.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                    if name.strip().lower() not in (b"connection", b"proxy-connection"):
                        head.append(line)
                body = self.rfile.read(length)
                proxy.asked.append(target)
                url = urlsplit(target)
                assert url.hostname is not None and url.port is not None
                with socket.create_connection((url.hostname, url.port)) as upstream:
                    first = f"{method} {url.path} {version}\r\n".encode()
                    upstream.sendall(first + b"".join(head) + b"connection: close\r\n\r\n" + body)
                    try:
                        while data := upstream.recv(1 << 16):
                            self.wfile.write(data)  # as it comes: a drip stays a drip
                    except OSError:
                        pass  # the client hung up

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Relay)
        self.tcp.daemon_threads = True
        threading.Thread(target=self.tcp.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.tcp.server_address[1]}"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_proxy_the_environment_names_carries_the_calls(
    monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    """The SDKs' client was given a transport of ours, and httpx reads no proxy from the
    environment for a client given one: behind HTTP(S)_PROXY, calls went around it."""
    from tda import wiring
    from tda_local import scripted_model

    answer = scripted_model.chat_completion if provider == "openai" else scripted_model.message
    server = ModelServer(body=lambda asked: json.dumps(answer(asked)).encode())
    proxy = ForwardProxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    reached_at(monkeypatch, provider, server)
    try:
        assert in_llm_state(provider)["metadata"]["generation_path"] == "llm"
        assert proxy.asked and all(url.startswith(server.url) for url in proxy.asked)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # and a host it names goes around it
        reached_at(monkeypatch, provider, server)
        asked = len(proxy.asked)
        assert in_llm_state(provider)["metadata"]["generation_path"] == "llm"
        assert len(proxy.asked) == asked
    finally:
        monkeypatch.undo()
        wiring.install()
        server.http.shutdown()
        proxy.tcp.shutdown()


@pytest.mark.parametrize(
    ("drip_headers", "proxied"),
    [(0, False), (2000, False), (2000, True)],
    ids=["answer", "headers-too", "headers-through-a-proxy"],
)
def test_an_answer_dripped_a_byte_at_a_time_is_cut_off_at_the_calls_timeout(
    monkeypatch: pytest.MonkeyPatch, drip_headers: int, proxied: bool
) -> None:
    # httpx's timeouts bound each read: a server sending a byte every 50 ms (each read quick)
    # held a call for as long as it liked, 2.5 minutes past a 6-second deadline. Its headers
    # were bounded only once they were in (httpcore reads them with no hook between reads):
    # 2,000 bytes of them held a call 100 s past a 1-second timeout.
    from tda import wiring

    server = ModelServer(pause=0.05, drip_headers=drip_headers)
    if proxied:
        proxy = ForwardProxy()
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("LLM_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("LLM_MODEL", f"dripping-{drip_headers}")  # its own adaptive limit
    monkeypatch.setenv("LLM_CALL_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("LLM_DEADLINE_SECONDS", "2")
    wiring.install()  # the SDK's HTTP client as in production, not a scripted transport
    try:
        response = generate(GenerateRequest.model_validate({**REVIEWS, "count": 2}))
    finally:
        monkeypatch.undo()
        wiring.install()
        server.http.shutdown()
    assert response.record_count == 2
    said = response.metadata.fallback_reason + " ".join(
        response.metadata.llm.notes if response.metadata.llm else []
    )
    assert "no answer in time" in said or "deadline" in said, said
    assert server.hung_up_early(), (server.sent, server.lengths)
    if proxied:
        assert proxy.asked
        proxy.tcp.shutdown()


def reached_at(monkeypatch: pytest.MonkeyPatch, provider: str, server: ModelServer) -> None:
    """The llm path's ``provider`` (openai, anthropic) on ``server``, through the SDK's own
    HTTP client as in production (no scripted transport)."""
    from tda import wiring

    for name in ("LLM_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    if provider == "openai":
        monkeypatch.setenv("LLM_BASE_URL", server.url + "/v1")
    else:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    wiring.install()


GIGABYTE = 1 << 30


def a_gigabyte(asked: dict[str, Any]) -> bytes:
    return b" " * GIGABYTE  # sent in 1 MiB pieces: what a client reads is what it holds


@pytest.mark.parametrize("chunked", [False, True], ids=["length-said", "chunked"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_answer_of_a_gigabyte_is_cut_off_as_it_comes_not_held(
    monkeypatch: pytest.MonkeyPatch, provider: str, chunked: bool
) -> None:
    # The answer was read whole, then measured (OpenAI) or parsed (Anthropic): a server gone
    # wrong could make a call hold any amount of memory.
    from tda import wiring
    from tda.domain.errors import LLMRequestError

    server = ModelServer(piece=1 << 20, body=a_gigabyte, chunked=chunked)
    reached_at(monkeypatch, provider, server)
    try:
        with pytest.raises(LLMRequestError, match="more than 8,388,608"):
            in_llm_state(provider)
    finally:
        monkeypatch.undo()
        wiring.install()
        server.http.shutdown()
    assert server.hung_up_early(), (server.sent, server.lengths)


def content_in_parts(body: dict[str, Any]) -> Any:
    import httpx2

    from tda_local import scripted_model

    made = scripted_model.chat_completion(body)
    text = made["choices"][0]["message"]["content"]
    half = len(text) // 2
    made["choices"][0]["message"]["content"] = [
        {"type": "text", "text": text[:half]},
        {"type": "text", "text": text[half:]},
    ]
    return httpx2.Response(200, json=made)


def usage_not_numbers(body: dict[str, Any]) -> Any:
    import httpx2

    from tda_local import scripted_model

    made = scripted_model.chat_completion(body)
    made["usage"] = {"prompt_tokens": "many", "completion_tokens": None, "total_tokens": -3}
    return httpx2.Response(200, json=made)


@pytest.mark.parametrize("answer", [content_in_parts, usage_not_numbers])
def test_an_answer_shaped_otherwise_is_read_not_a_crash(
    openai_model: Transport, answer: Any
) -> None:
    # Content as a list of parts (as some OpenAI-compatible servers send it) was a TypeError;
    # usage that is not numbers a ValueError: both escaped generate.
    openai_model.then(*[answer] * 4)
    response = generate(GenerateRequest.model_validate({**REVIEWS, "count": 2}))
    llm = response.metadata.llm
    assert (response.metadata.generation_path, response.metadata.fallback_reason) == ("llm", "")
    assert llm is not None and llm.records_from_model == 2


def test_an_error_answered_with_200_says_what_the_server_said(openai_model: Transport) -> None:
    import httpx2

    def error(body: dict[str, Any]) -> Any:  # as some routers answer a provider's failure
        return httpx2.Response(200, json={"error": {"message": "Provider returned error"}})

    openai_model.then(*[error] * 4)
    response = generate(GenerateRequest.model_validate({**REVIEWS, "count": 2}))
    reason = response.metadata.fallback_reason
    assert "answered with no choices: Provider returned error" in reason, reason


def message_edited(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], Any]:
    """An Anthropic answer, the scripted model's, changed by ``edit``."""

    def answer(body: dict[str, Any]) -> Any:
        import httpx2

        from tda_local import scripted_model

        made = scripted_model.message(body)
        edit(made)
        return httpx2.Response(200, json=made)

    return answer


ODD_MESSAGES = {
    "usage-not-numbers": (lambda m: m.update(usage={"input_tokens": "many"}), True),
    "no-usage": (lambda m: m.pop("usage"), True),
    "odd-blocks-beside": (lambda m: m["content"].extend([5, {"type": "weird"}]), True),
    "content-a-string": (lambda m: m.update(content="hello"), False),
    "content-null": (lambda m: m.update(content=None), False),
    "tool-input-a-string": (
        lambda m: m.update(content=[{"type": "tool_use", "input": "x"}]),
        False,
    ),
}


@pytest.mark.parametrize("case", list(ODD_MESSAGES))
def test_an_anthropic_answer_shaped_otherwise_is_read_or_refused_not_a_crash(
    anthropic_model: Transport, case: str
) -> None:
    # The SDK builds its models without checking them: each of these escaped generate as an
    # AttributeError or a TypeError (an Anthropic-compatible proxy may answer so).
    edit, readable = ODD_MESSAGES[case]
    anthropic_model.then(*[message_edited(edit)] * 8)
    response = generate(GenerateRequest.model_validate({**REVIEWS, "count": 2}))
    llm = response.metadata.llm
    assert response.record_count == 2
    if readable:
        assert response.metadata.fallback_reason == "" and llm is not None
        assert llm.records_from_model == 2
    else:
        said = response.metadata.fallback_reason + " ".join(llm.notes if llm else [])
        assert "no content" in said or "unreadable" in said or "no JSON" in said, said


def a_gzip_bomb(asked: dict[str, Any]) -> bytes:
    """512 KiB on the wire, 512 MiB once inflated (made once, ~0.5 s)."""
    if not _BOMB:
        _BOMB.append(_compressed_zeros(512 << 20))
    return _BOMB[0]


_BOMB: list[bytes] = []


def _compressed_zeros(size: int) -> bytes:
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(size >> 20)), packer.flush()])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_gzipped_answer_is_read_and_a_gzip_bomb_is_cut_off_as_it_inflates(
    monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    # Only the bytes on the wire were counted: 4 MiB of gzip passed (8 MiB allowed), and httpx
    # inflated it to 4 GiB in memory. An answer is inflated here, counted as it grows; gzip is
    # all it asks for.
    from tda import wiring
    from tda.domain.errors import LLMRequestError

    def anthropic_message(asked: dict[str, Any]) -> bytes:
        from tda_local import scripted_model

        return json.dumps(scripted_model.message(asked)).encode()

    plain = None if provider == "openai" else anthropic_message
    honest = ModelServer(piece=1 << 16, body=plain, encoding="gzip")
    bomb = ModelServer(piece=1 << 20, body=a_gzip_bomb, encoding="gzip")
    try:
        for server in (honest, bomb):
            reached_at(monkeypatch, provider, server)
            if server is honest:
                assert in_llm_state(provider)["record_count"] == 3
            else:
                with pytest.raises(LLMRequestError, match="more than 8,388,608 bytes inflated"):
                    in_llm_state(provider)
    finally:
        monkeypatch.undo()
        wiring.install()
        honest.http.shutdown()
        bomb.http.shutdown()
    assert honest.asked_encodings and set(honest.asked_encodings) == {"gzip"}


def test_a_limit_cut_back_grows_back_to_its_start_once_the_provider_has_been_quiet() -> None:
    now = [0.0]
    limit = policy.AdaptiveLimit(start=4, recover_seconds=10.0, clock=lambda: now[0])
    for _ in range(3):
        limit.acquire(deadline=float("inf"))
        limit.release("throttled")
    assert limit.limit == 1
    now[0] = 9.0
    assert limit.limit == 1  # not yet a quiet spell
    now[0] = 10.0
    assert limit.limit == 2  # one slot back for each quiet spell since the last cut-back
    limit.acquire(deadline=float("inf"))
    limit.release("throttled")  # a cut-back starts the count again
    assert limit.limit == 1
    now[0] = 19.0
    assert limit.limit == 1
    now[0] = 1000.0
    assert limit.limit == 4  # time alone brings it back to where it started, no further


def test_a_slot_held_by_a_call_left_from_a_heavy_spell_does_not_hold_the_next_request() -> None:
    # After a hostile load the limit sat at its floor: a 5-record request waited 12 s for the
    # one slot a call of a request already gone still held.
    import threading

    limit = policy.AdaptiveLimit(start=4, recover_seconds=0.2)
    for _ in range(3):
        limit.acquire(deadline=float("inf"))
        limit.release("throttled")
    limit.acquire(deadline=float("inf"), owner="left over")  # the floor's one slot, held
    got = threading.Event()

    def next_request() -> None:
        limit.acquire(deadline=float("inf"), owner="next")
        got.set()

    # A daemon: if it never gets a slot, it must not keep pytest from ending.
    waiter = threading.Thread(target=next_request, daemon=True)
    waiter.start()
    assert got.wait(10), "the next request still waits for the held slot"
    waiter.join()
    assert limit.in_flight == 2
