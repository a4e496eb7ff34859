"""The real anthropic and openai SDKs over a scripted transport (``httpx2.MockTransport``):
answers come from ``tda_local.scripted_model`` unless a test scripts something else for the
next calls (an error status, a header, a broken body, a timeout)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest

from tda import wiring
from tda_local import scripted_model

Answer = Callable[[dict[str, Any]], httpx2.Response]


@dataclass
class Transport:
    """Every request seen, and a queue of scripted answers used before the default one."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        with self.lock:
            self.seen.append(body)
            answer = self.script.pop(0) if self.script else None
        if answer is not None:
            return answer(body)
        if request.url.path.endswith("/messages"):
            return httpx2.Response(200, json=scripted_model.message(body))
        return httpx2.Response(200, json=scripted_model.chat_completion(body))

    def then(self, *answers: Answer) -> None:
        self.script.extend(answers)

    @property
    def calls(self) -> int:
        return len(self.seen)


def status(code: int, headers: dict[str, str] | None = None) -> Answer:
    def answer(body: dict[str, Any]) -> httpx2.Response:
        kind = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}
        error = {
            "type": "error",
            "error": {"type": kind.get(code, "api_error"), "message": f"HTTP {code}"},
        }
        return httpx2.Response(code, json=error, headers=headers or {})

    return answer


def timeout() -> Answer:
    def answer(body: dict[str, Any]) -> httpx2.Response:
        raise httpx2.ReadTimeout("scripted: no answer")

    return answer


def chat_text(text: str, finish_reason: str = "stop") -> Answer:
    """An OpenAI-compatible answer whose content is ``text``."""

    def answer(body: dict[str, Any]) -> httpx2.Response:
        made = scripted_model.chat_completion(body)
        made["choices"][0]["message"]["content"] = text
        made["choices"][0]["finish_reason"] = finish_reason
        return httpx2.Response(200, json=made)

    return answer


def chat_records(
    edit: Callable[[list[dict[str, Any]]], Any], finish_reason: str = "stop"
) -> Answer:
    """The scripted records of this call, changed by ``edit`` before they are sent."""

    def answer(body: dict[str, Any]) -> httpx2.Response:
        made = scripted_model.chat_completion(body)
        data = json.loads(made["choices"][0]["message"]["content"])
        edit(data["records"])
        made["choices"][0]["message"]["content"] = json.dumps(data)
        made["choices"][0]["finish_reason"] = finish_reason
        return httpx2.Response(200, json=made)

    return answer


def scripted_client(transport: Callable[[httpx2.Request], httpx2.Response]) -> httpx2.Client:
    """An HTTP client for the SDKs whose answers come from ``transport``, behind the transport
    their own clients have in production (each answer's time and size bounded)."""
    from tda.adapters.model_http import deadline_transport

    return httpx2.Client(transport=deadline_transport(httpx2.MockTransport(transport)))


@pytest.fixture
def openai_model(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Transport]:
    """The llm path on an OpenAI-compatible server reached through the real openai SDK."""
    transport = Transport()
    for name in ("ANTHROPIC_API_KEY", "LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_BASE_URL", "http://model.test/v1")
    monkeypatch.setenv("LLM_MODEL", f"scripted-{request.node.name}")  # its own adaptive limit
    monkeypatch.setenv("LLM_DEADLINE_SECONDS", "20")
    wiring.install(model_http_client=scripted_client(transport))
    yield transport
    monkeypatch.undo()
    wiring.install()


@pytest.fixture
def anthropic_model(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Transport]:
    """The llm path on Anthropic, reached through the real anthropic SDK."""
    transport = Transport()
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("CLAUDE_MODEL", f"claude-scripted-{request.node.name}")
    monkeypatch.setenv("LLM_DEADLINE_SECONDS", "20")
    wiring.install(model_http_client=scripted_client(transport))
    yield transport
    monkeypatch.undo()
    wiring.install()
