"""The service's settings in the environment: each one's name, default and the values it may
take, in one table, so that every entry point can refuse a bad one before any work starts.

A value that is not a number where one is needed, a NaN, a negative count or a search mode that
does not exist was read where it was used: a traceback at import for some, a request answered
500 for others, a silent default for the search mode. Now the first import of the settings
checks them all and names every bad one at once (``ConfigurationError``): the CLI exits 2 with
that sentence, a server does not start, a Lambda function's init fails with it in its log.
"""

from __future__ import annotations

import math
import os

from tda.domain.errors import ConfigurationError, shown

# The values two settings may take (the OpenAI-compatible client checks its own against the first).
RESPONSE_FORMATS = ("json_schema", "json_object", "text")
SEARCH_MODES = ("vector", "keyword", "hybrid")


class Knob:
    """One setting: a whole number, a number or one of ``choices``, within ``low``..``high``;
    or a URL of one of ``schemes`` (with ``folder``, a folder's path too).

    A ``clamped`` setting out of its range is held to it (documented so); any other is refused.
    ``above_low``: the value must be greater than ``low``, not equal to it (seconds to wait).
    A plain class, not a dataclass: every process imports this table at start, and a dataclass's
    generated methods cost ≈2 ms to compile there."""

    __slots__ = (
        "above_low",
        "choices",
        "clamped",
        "default",
        "folder",
        "high",
        "kind",
        "low",
        "name",
        "schemes",
    )

    def __init__(
        self,
        name: str,
        default: int | float | str | None,
        kind: type = float,
        *,
        low: float | None = None,
        high: float | None = None,
        above_low: bool = False,
        clamped: bool = False,
        choices: tuple[str, ...] = (),
        schemes: tuple[str, ...] = (),
        folder: bool = False,
    ) -> None:
        self.name = name
        self.default = default
        self.kind = kind
        self.low = low
        self.high = high
        self.above_low = above_low
        self.clamped = clamped
        self.choices = choices
        self.schemes = schemes
        self.folder = folder

    def read(self) -> int | float | str | None:
        raw = os.environ.get(self.name)
        if raw is None or raw.strip() == "":
            return self.default
        if self.choices:
            if raw not in self.choices:
                raise self._refused(raw)
            return raw
        if self.schemes:
            if not _url_fits(raw, self.schemes, self.folder):
                raise self._refused(raw)
            return raw
        number = self._number(raw)
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if self.clamped:
            return min(max(low, number), high)
        if number < low or number > high or (self.above_low and number == low):
            raise self._refused(raw)
        return number

    @property
    def expected(self) -> str:
        what = "a whole number" if self.kind is int else "a number"
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.schemes:
            urls = ", ".join(f"{scheme}://…" for scheme in self.schemes)
            return f"a folder or a URL: {urls}" if self.folder else f"a URL: {urls}"
        if self.low is not None and self.high is not None:
            if self.clamped:
                return f"{what}, held within {_shown(self.low)} to {_shown(self.high)}"
            return f"{what} from {_shown(self.low)} to {_shown(self.high)}"
        if self.low is not None:
            return f"{what} {'>' if self.above_low else '≥'} {_shown(self.low)}"
        return what

    def _number(self, raw: str) -> float:
        try:
            number = int(raw) if self.kind is int else float(raw)
        except ValueError:
            raise self._refused(raw) from None
        if not math.isfinite(number):
            raise self._refused(raw)
        return number

    def _refused(self, raw: str) -> ConfigurationError:
        return ConfigurationError([f"{self.name}={shown(raw)}: expected {self.expected}"])


def _url_fits(raw: str, schemes: tuple[str, ...], folder: bool) -> bool:
    """``raw`` has one of ``schemes``, and what it names (a host, a bucket, a path), with a
    port in range if it has one; or it is a folder's path, where one is taken."""
    if "://" not in raw:
        return folder
    from urllib.parse import parse_qs, urlsplit  # only when a URL is set

    try:
        parts = urlsplit(raw)
        ports = [parts.port, *(int(p) for p in parse_qs(parts.query).get("grpc", []))]
    except ValueError:  # a port that is not a number, or past 65535
        return False
    if parts.scheme not in schemes or not all(p is None or 0 < p < 65536 for p in ports):
        return False
    if parts.scheme in ("file", "unix"):
        return bool(parts.netloc + parts.path)
    return bool(parts.hostname)


def _shown(bound: float) -> str:
    return f"{bound:,.0f}" if float(bound).is_integer() else f"{bound:g}"


DAY = 86_400
WEB = ("http", "https")
WEAVIATE = ("weaviate", "weaviates")
KNOBS = {
    knob.name: knob
    for knob in (
        # The service's limits (``Settings``).
        Knob("MAX_SYNC_RECORDS", 1000, int, low=1),
        Knob("MAX_RECORDS", 1_000_000, int, low=1),
        Knob("DEFAULT_BATCH_SIZE", 50, int, low=1),
        Knob("COHERENCE_THRESHOLD", 0.85, low=0, high=1),
        Knob("MAX_REQUEST_BYTES", 1 << 20, int, low=1, high=2**31 - 1),  # gRPC's: a C int
        # gRPC sends a message of up to 64 MiB here, its metadata with it: above, a response
        # failed after all its work ("Sent message larger than max").
        Knob("MAX_RESPONSE_BYTES", 32 << 20, int, low=1, high=63 << 20),
        Knob("MAX_OUTPUT_BYTES", 16 << 30, int, low=1),
        Knob("HEAVY_QUEUE_SECONDS", 15.0, low=0, above_low=True),
        # Also gRPC's keepalive, which takes it in whole milliseconds (at most 2**31 - 1).
        Knob("STREAM_STALL_SECONDS", 60.0, low=0.001, high=20 * DAY),
        Knob("MAX_UNSENT_BYTES", 256 << 20, int, low=1),
        # Jobs.
        Knob("MAX_RUNNING_JOBS_PER_CALLER", 5, int, low=1),
        Knob("MAX_RUNNING_JOBS", 0, int, low=0),
        Knob("MIN_FREE_DISK_BYTES", None, int, low=0),
        # One chunk is one file (one Lambda's work); past a million, a count past 64 bits broke
        # a job's start.
        Knob("JOB_CHUNK_RECORDS", 10_000, int, low=1, high=1_000_000),
        Knob("JOB_RETENTION_DAYS", 7.0, low=0),
        # The model paths.
        Knob("LLM_RESPONSE_FORMAT", None, str, choices=RESPONSE_FORMATS),
        Knob("LLM_DEADLINE_SECONDS", 60.0, low=0, above_low=True),
        Knob("SYNC_BUDGET_SECONDS", 15.0, low=0, above_low=True),
        Knob("LLM_CALL_TIMEOUT_SECONDS", 45.0, low=0, above_low=True),
        Knob("LLM_MAX_TOKENS_PER_REQUEST", 200_000, int, low=1),
        Knob("LLM_MAX_CONCURRENCY", 16, int, low=1),
        # The memory paths.
        Knob("RAG_MIN_QUALITY", 0.0, low=0, high=1),
        Knob("RAG_SEARCH_MODE", "hybrid", str, choices=SEARCH_MODES),
        Knob("LANCEDB_VERSIONS_KEPT_SECONDS", 60.0, low=0, high=30 * DAY, clamped=True),
        Knob("VECTOR_STORE_TIMEOUT_SECONDS", 5.0, low=0.1, high=600, clamped=True),
        # The local server.
        Knob("HTTP_READ_TIMEOUT_SECONDS", 20.0, low=0, above_low=True),
        # What requests not yet whole may hold in a process: HTTP counts their bodies; gRPC
        # can only count the calls waiting for theirs (each may hold up to MAX_REQUEST_BYTES).
        Knob("MAX_RECEIVING_BYTES", 64 << 20, int, low=1),
        # A request not whole after this long gives way to one that would be refused for room
        # (HTTP: a body since slower than 64 KiB/s; gRPC: the call waiting longest).
        Knob("RECEIVE_GRACE_SECONDS", 1.0, low=0),
        Knob("GRPC_MAX_RECEIVING_CALLS", 256, int, low=1),
        # gRPC calls in flight in a process, whatever they wait for (an open Watch ≈21 KB);
        # one more is a connection's SETTINGS_MAX_CONCURRENT_STREAMS, which gRPC takes as a C int.
        Knob("GRPC_MAX_CALLS", 4096, int, low=1, high=2**31 - 2),
        # gRPC's core takes a message for as long as its sender likes, and Python has no way
        # to cut one off: a connection is sent away (GOAWAY) at its age, and whatever it still
        # has in flight, an unfinished request included, is cut off after the grace. gRPC
        # takes the two in whole milliseconds, at most 2**31 - 1 (24.8 days).
        Knob("GRPC_CONNECTION_AGE_SECONDS", 300.0, low=1, high=20 * DAY),
        Knob("GRPC_CONNECTION_GRACE_SECONDS", 1800.0, low=1, high=4 * DAY),
        Knob("SHUTDOWN_GRACE_SECONDS", 30.0, low=0, above_low=True),
        # Where things are: a URL that could not name anything is refused here (one that names
        # something unreachable is the request's to report, as a fallback).
        Knob("LLM_BASE_URL", "", str, schemes=WEB),
        Knob("ANTHROPIC_BASE_URL", "", str, schemes=WEB),
        Knob("VECTOR_STORE_URL", "", str, schemes=("file", "s3", *WEAVIATE), folder=True),
        Knob("REDIS_URL", "", str, schemes=("redis", "rediss", "unix")),
        Knob("TDA_CHUNK_STORE", "", str, schemes=("file", "s3"), folder=True),
        Knob("TDA_CACHE_STORE", "", str, schemes=("file", "s3"), folder=True),
    )
}


def read(name: str) -> int | float | str | None:
    """``name``'s value: its default when unset or empty; ``ConfigurationError`` when bad."""
    return KNOBS[name].read()


def read_int(name: str) -> int:
    value = read(name)
    assert isinstance(value, int), name  # the table's kind: a whole-number setting
    return value


def read_text(name: str) -> str:
    value = read(name)
    assert isinstance(value, str), name  # a URL or a choice with a default
    return value


def read_float(name: str) -> float:
    value = read(name)
    assert isinstance(value, int | float), name
    return float(value)


def check_environment() -> None:
    """Every setting read once: ``ConfigurationError`` naming each bad one, or nothing."""
    problems: list[str] = []
    for knob in KNOBS.values():
        try:
            knob.read()
        except ConfigurationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigurationError(problems)
