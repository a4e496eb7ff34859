"""A model's answer as records: the structured output when the provider parsed it, else JSON
found in the text — bare, in a markdown fence, after a preamble, an object with ``records`` or a
bare array. Anything else is no records (the batch is then retried, repaired or filled)."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


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


def _json_in(text: str) -> Any:
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, stop = text.find(opener), text.rfind(closer)
        if 0 <= start < stop:
            candidates.append(text[start : stop + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise UnreadableAnswerError("the answer is not JSON" if text.strip() else "the answer is empty")
