"""The model port's adapters: Anthropic (tool use) and any OpenAI-compatible server (vLLM,
llama.cpp, Ollama, OpenAI), through their official SDKs.

The SDKs are imported when a client is made, never at module import: a process that never
calls a model never pays their import (anthropic ~1.4 s cold). Their own retries are off
(``max_retries=0``): ``tda.paths.llm.policy`` sees every 429/529/5xx and owns the waiting, so a
``retry-after: 200`` can never hold a Lambda past its deadline. Errors become the domain's
(``tda.ports.model``), by status, the same for both providers.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from tda.adapters.model_http import AnswerTooLargeError, deadline_client  # no SDK at import
from tda.app.environment import RESPONSE_FORMATS
from tda.domain.errors import (
    LLMAuthError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMTimeoutError,
    PathUnavailableError,
    TransientError,
)
from tda.ports.model import ModelCall, ModelClient, ModelReply, Usage

RESPONSE_TOOL = "emit"  # Anthropic: the one tool the model must call, its input is the answer
# OpenAI-compatible structured output: "json_schema" (strict: OpenAI, vLLM), "json_object"
# (+ the schema: llama.cpp, which answers 500 to json_schema; Ollama), "text" (extract JSON).
# The longest string a "json_object" schema asks for. llama.cpp compiles the schema into a
# grammar, a string's maxLength into that many nested rules: past ~1,000 (a review's body
# allows 2,000) the grammar fails to parse and llama-cpp-python's server dies, dropping the
# connection (SmolLM2 on llama-cpp-python 0.3.36: 1,000 served, 1,024 killed it). The answer is
# validated against the whole schema either way.
GRAMMAR_MAX_LENGTH = 512
MESSAGES_PATH = "/v1/messages"  # Anthropic, under its base URL
COMPLETIONS_PATH = "/chat/completions"  # OpenAI-compatible, under theirs (".../v1")


class DeferredClient:
    """A client made at its first call. Its provider and model are known before (they key the
    cache: a job's chunk reads a stored catalog with no SDK at all), its SDK imported only then;
    a function packaged without the SDK answers ``PathUnavailableError``, saying so."""

    def __init__(self, provider: str, model: str, make: Callable[[], ModelClient]) -> None:
        self.provider = provider
        self.model = model
        self._make = make
        self._made: ModelClient | None = None

    def complete(self, call: ModelCall, timeout: float) -> ModelReply:
        if self._made is None:
            try:
                self._made = self._make()
            except ImportError as exc:
                raise PathUnavailableError(
                    f"the {self.provider} SDK is not installed here ({exc.name})"
                ) from exc
        return self._made.complete(call, timeout)


class AnthropicClient:
    """Structured output as a forced tool call whose input schema is the answer's schema.
    (Sampling temperature is not sent: this SDK's Messages API no longer takes it.)"""

    provider = "anthropic"

    def __init__(
        self,
        api_key: str,
        model: str,
        base_url: str | None = None,
        http_client: Any = None,
    ) -> None:
        import anthropic  # lazily: only the model paths pay for it

        self.model = model
        self._sdk = anthropic
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=http_client or deadline_client(anthropic.DefaultHttpxClient),
        )

    def complete(self, call: ModelCall, timeout: float) -> ModelReply:
        body = {
            "model": self.model,
            "max_tokens": call.max_tokens,
            # The static part first, marked for the provider's prompt cache.
            "system": [
                {"type": "text", "text": call.system, "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [{"role": "user", "content": call.prompt}],
            "tools": [
                {
                    "name": RESPONSE_TOOL,
                    "description": "Return the generated data.",
                    "input_schema": call.schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": RESPONSE_TOOL},
        }
        with _answer_errors(self._sdk, self.provider):
            message = _object(json.loads(_posted(self._client, MESSAGES_PATH, body, timeout)))
        content = message.get("content")
        blocks = [_object(b) for b in content] if isinstance(content, list) else []
        if not blocks:
            said = _said(message.get("error"))
            raise LLMRequestError(f"{self.provider} answered with no content{said}")
        data: Any = next(
            (b["input"] for b in blocks if b.get("type") == "tool_use" and "input" in b), None
        )
        texts = [
            b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        usage = _object(message.get("usage"))
        return ModelReply(
            text=json.dumps(data) if data is not None else "".join(texts),
            data=data,
            usage=Usage(
                input=_count(usage.get("input_tokens")),
                output=_count(usage.get("output_tokens")),
                cache_read=_count(usage.get("cache_read_input_tokens")),
                cache_write=_count(usage.get("cache_creation_input_tokens")),
            ),
            truncated=message.get("stop_reason") == "max_tokens",
            model=str(message.get("model") or self.model),
        )


class OpenAICompatibleClient:
    provider = "openai"

    def __init__(
        self,
        api_key: str,
        model: str,
        base_url: str | None = None,
        response_format: str = "json_object",
        http_client: Any = None,
    ) -> None:
        import openai  # lazily: only the model paths pay for it

        if response_format not in RESPONSE_FORMATS:
            raise ValueError(f"LLM_RESPONSE_FORMAT must be one of {', '.join(RESPONSE_FORMATS)}")
        self.model = model
        self.response_format = response_format
        self._sdk = openai
        self._client = openai.OpenAI(
            api_key=api_key or "unused",
            base_url=base_url,
            max_retries=0,
            http_client=http_client or deadline_client(openai.DefaultHttpxClient),
        )

    def _format(self, schema: dict[str, Any]) -> dict[str, Any] | None:
        if self.response_format == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": "records", "schema": strict_safe(schema), "strict": True},
            }
        if self.response_format == "json_object":
            return {"type": "json_object", "schema": grammar_safe(schema)}  # llama.cpp: "schema"
        return None

    def complete(self, call: ModelCall, timeout: float) -> ModelReply:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": call.max_tokens,
            "temperature": call.temperature,
            "messages": [
                {"role": "system", "content": call.system},
                {"role": "user", "content": call.prompt},
            ],
        }
        response_format = self._format(call.schema)
        if response_format is not None:
            body["response_format"] = response_format
        if call.seed is not None:
            body["seed"] = call.seed
        with _answer_errors(self._sdk, self.provider):
            completion = _object(json.loads(_posted(self._client, COMPLETIONS_PATH, body, timeout)))
        # Read as a server nobody here wrote may send it: each field checked for its type.
        choices = completion.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            said = _said(completion.get("error"))  # an error answered with a 200 (routers)
            raise LLMRequestError(f"{self.provider} answered with no choices{said}")
        choice = choices[0]
        usage = _object(completion.get("usage"))
        cached = _count(_object(usage.get("prompt_tokens_details")).get("cached_tokens"))
        return ModelReply(
            text=_text(_object(choice.get("message")).get("content")),
            data=None,
            usage=Usage(
                input=max(0, _count(usage.get("prompt_tokens")) - cached),
                output=_count(usage.get("completion_tokens")),
                cache_read=cached,
            ),
            truncated=choice.get("finish_reason") == "length",
            model=str(completion.get("model") or self.model),
        )


def _posted(client: Any, path: str, body: dict[str, Any], timeout: float) -> bytes:
    """The answer's bytes to ``body`` POSTed through the SDK's client (its own documented way
    to a route: the same auth, headers, timeouts and errors as its typed methods). The typed
    methods first walk their parameters against the API's types, the record schema and the
    prompt field by field (≈0.3 ms of CPU a call, a fifth of a call's whole cost in the SDK),
    then build models of the answer we read four fields of, and which they never check (a
    compatible server's odd answer, no usage or content a string, broke later): the body goes
    as it is, the answer comes back as bytes and is read here."""
    return cast(bytes, client.post(path, cast_to=bytes, body=body, options={"timeout": timeout}))


@contextmanager
def _answer_errors(sdk: Any, provider: str) -> Iterator[None]:
    """A call and the reading of its answer, their failures as the domain's: the SDK's errors
    by kind and status; an answer past MAX_ANSWER_BYTES (model_http raises it under the SDK:
    openai lets it through as it is, anthropic wraps it) or not JSON (ValueError, or
    RecursionError when nested past the parser) as a request error, which no retry mends."""
    try:
        yield
    except sdk.APIError as exc:
        raise _domain_error(sdk, exc, provider) from exc
    except AnswerTooLargeError as exc:
        raise LLMRequestError(f"{provider} answered {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise LLMRequestError(f"{provider} answered something other than JSON") from exc


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    """A token count, or 0 for anything that is not one."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _text(content: Any) -> str:
    """A message's content: a string, or a list of parts (some servers send that) joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (_object(p).get("text") for p in content)
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def _said(error: Any) -> str:
    message = _object(error).get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message.strip():
        return ""
    return ": " + _clipped(message)


def grammar_safe(schema: Any) -> Any:
    """``schema`` as a grammar server parses it: every string's maxLength at most
    GRAMMAR_MAX_LENGTH (lowered to it when its minLength allows, else left out), and no enum
    with a value holding a double quote (a caller's ``12" pizza`` made a grammar that does not
    parse, and llama-cpp-python's server died; the prompt lists the values)."""
    if isinstance(schema, list):
        return [grammar_safe(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    safe = {key: grammar_safe(value) for key, value in schema.items()}
    values = safe.get("enum")
    if isinstance(values, list) and any(isinstance(v, str) and '"' in v for v in values):
        del safe["enum"]  # asked for in the prompt; llama-cpp-python's grammar did not parse
    longest = safe.get("maxLength")
    if isinstance(longest, int) and longest > GRAMMAR_MAX_LENGTH:
        if int(safe.get("minLength") or 0) <= GRAMMAR_MAX_LENGTH:
            safe["maxLength"] = GRAMMAR_MAX_LENGTH
        else:
            del safe["maxLength"]
    return safe


# Keywords OpenAI's strict mode answers 400 to ("'maxLength' is not permitted"). The prompt
# states the lengths, and the answer is validated against the whole schema.
STRICT_UNSUPPORTED = frozenset({"minLength", "maxLength"})


def strict_safe(schema: Any) -> Any:
    """``schema`` without the keywords strict json_schema refuses (a property may be named
    like one: a ``properties`` map's keys are names, left as they are)."""
    if isinstance(schema, list):
        return [strict_safe(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: (
            {name: strict_safe(sub) for name, sub in value.items()}
            if key == "properties" and isinstance(value, dict)
            else strict_safe(value)
        )
        for key, value in schema.items()
        if key not in STRICT_UNSUPPORTED
    }


def _domain_error(sdk: Any, exc: Exception, provider: str) -> Exception:
    """An SDK error as the domain's, by kind and status (the two SDKs share these names)."""
    if isinstance(exc.__cause__, AnswerTooLargeError):  # anthropic's wrapping of it
        return LLMRequestError(f"{provider} answered {exc.__cause__}")
    if isinstance(exc, sdk.APITimeoutError):
        return LLMTimeoutError(f"{provider}: no answer in time")
    if isinstance(exc, sdk.APIConnectionError):
        return LLMTimeoutError(f"{provider}: connection failed ({type(exc).__name__})")
    status = getattr(exc, "status_code", None)
    detail = f"{provider} answered HTTP {status}"
    if status in (429, 529) or "overloaded" in str(exc).lower():
        return LLMRateLimitedError(f"{detail} (rate limited or overloaded)", _retry_after(exc))
    if status in (401, 403):
        return LLMAuthError(f"{detail}: the credentials were refused")
    if isinstance(status, int) and status >= 500:
        return TransientError(f"{detail} (server error)")
    return LLMRequestError(f"{detail}: {_message(exc)}")


def _message(exc: Exception) -> str:
    return _clipped(str(getattr(exc, "message", "") or exc))


def _clipped(text: str) -> str:
    """A server's message, at most 200 characters of it."""
    return text if len(text) <= 200 else text[:199] + "…"


def _retry_after(exc: Exception) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after`` as seconds or
    an HTTP date), if it said."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(parsed.timestamp() - time.time(), 0.0)
