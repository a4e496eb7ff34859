"""Values that look like real personal data, found and masked before anything is remembered.

A team's own examples (``tda rag add``) may carry what production carried. Masked: emails at
any domain but the reserved ones (RFC 2606: example.com/.net/.org, .test, .example, .invalid,
.localhost) become ``local@example.com``; digit runs of 13-19 that pass the Luhn check (card
numbers) keep only their last four; phone numbers (10+ digits written with separators or a
leading +) become the fictional 555-01xx range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_EMAIL = re.compile(r"([A-Za-z0-9._%+'-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_PHONE = re.compile(r"(?<![\w])\+?\(?\d[\d\-. ()]{8,20}\d(?![\w])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_TLDS = (".test", ".example", ".invalid", ".localhost")


@dataclass
class Masking:
    """What was masked, by kind (``{"email": 3}``) and where (``$.records[0].email``)."""

    counts: dict[str, int] = field(default_factory=dict)
    where: list[str] = field(default_factory=list)

    def saw(self, kind: str, path: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.where) < 20:
            self.where.append(f"{path} ({kind})")

    @property
    def found(self) -> bool:
        return bool(self.counts)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def reserved_domain(domain: str) -> bool:
    domain = domain.lower()
    return (
        domain in _RESERVED_DOMAINS
        or domain.endswith(_RESERVED_TLDS)
        or any(domain.endswith("." + d) for d in _RESERVED_DOMAINS)
    )


def mask(value: Any, masking: Masking, path: str = "$") -> Any:
    """``value`` with personal data masked (a new value; ``masking`` records what)."""
    if isinstance(value, str):
        return _mask_text(value, masking, path)
    if isinstance(value, dict):
        return {k: mask(v, masking, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, masking, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 13:
        text = str(abs(value))
        if len(text) <= 19 and luhn_ok(text):
            masking.saw("card_number", path)
            return int("0" * (len(text) - 4) + text[-4:])
    return value


def _mask_text(text: str, masking: Masking, path: str) -> str:
    def email(m: re.Match[str]) -> str:
        if reserved_domain(m.group(2)):
            return m.group(0)
        masking.saw("email", path)
        return f"{m.group(1)}@example.com"

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if not luhn_ok(digits):
            return m.group(0)
        masking.saw("card_number", path)
        return "*" * (len(digits) - 4) + digits[-4:]

    def phone(m: re.Match[str]) -> str:
        raw = m.group(0)
        digits = re.sub(r"\D", "", raw)
        if len(digits) < 10 or not (raw.startswith("+") or re.search(r"[\-. ()]", raw)):
            return raw
        if "*" in raw or _DATE.match(raw):
            return raw
        masking.saw("phone", path)
        return f"+1-555-01{digits[-2:]}"

    text = _EMAIL.sub(email, text)
    text = _CARD.sub(card, text)
    return _PHONE.sub(phone, text)
