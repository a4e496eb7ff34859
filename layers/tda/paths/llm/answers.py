"""A model's answer as records: the structured output when the provider parsed it, else JSON
found in the text — bare, in a markdown fence, after a preamble or a reasoning model's
``<think>`` block, among other braces — an object with ``records`` or a bare array. Anything
else is no records (the batch is then retried, repaired or filled)."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
# A reasoning model's thinking, which servers without a reasoning parser leave in the content
# (DeepSeek-R1, Qwen3): braces and brackets that are not the answer.
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)
_BRACKET = re.compile(r"[{}\[\]]")
MAX_BRACKETS_READ = 256  # each value tried may be read to the end of the answer


class UnreadableAnswerError(ValueError):
    """No JSON records could be read from a model's answer."""


def records_of(data: Any, text: str) -> list[Any]:
    if data is None:
        data = _json_in(text)
    if isinstance(data, dict):
        for key in ("records", "data", "items", "results"):
            if isinstance(data.get(key), list):
                return list(data[key])
        if any(not k.startswith("_") for k in data):  # one record, unwrapped
            return [data]
    if isinstance(data, list):
        return data
    raise UnreadableAnswerError("the answer holds no JSON array of records")


def without_thinking(text: str) -> str:
    return _THINKING.sub("", text)


def _json_in(text: str) -> Any:
    text = without_thinking(text)
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, stop = text.find(opener), text.rfind(closer)
        if 0 <= start < stop:
            candidates.append(text[start : stop + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):  # RecursionError: nested past the parser
            continue
    # Braces around the JSON too ("I kept each {title} short"): the first whole value that
    # starts at an opener outside any other (inside one, it is a part of an answer that was
    # cut off: a record, not the records), from the first few openers.
    decoder = json.JSONDecoder()
    depth = 0
    for bracket in itertools.islice(_BRACKET.finditer(text), MAX_BRACKETS_READ):
        if bracket.group() in "}]":
            depth = max(0, depth - 1)
            continue
        depth += 1
        if depth > 1:
            continue
        try:
            value, _ = decoder.raw_decode(text, bracket.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, (dict, list)) and value:
            return value
    raise UnreadableAnswerError("the answer is not JSON" if text.strip() else "the answer is empty")
