"""``tda jobs``: a client of the jobs HTTP API, the same against ``tda serve`` and a deployed stack.

    tda jobs submit cart --count 1000000 [--seed 7] [--format ndjson] [--scenario …] [--wait]
                    [--retry-busy SECONDS]
    tda jobs status JOB_ID [--history]
    tda jobs fetch JOB_ID -o carts.ndjson
    tda jobs cancel JOB_ID

``--api URL`` (or ``TDA_API``) picks the server; the default is the local ``tda serve``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tda.app.jobs import check_job_id
from tda.domain.errors import FieldIssue, InvalidRequestError
from tda_local import retention
from tda_local.cli_io import (
    CliInputError,
    add_request_options,
    check_output,
    output_path,
    output_stream,
    request_from_args,
)

if TYPE_CHECKING:  # urllib.request (http.client, ssl: ≈35 ms) only when a job is called
    import urllib.request

DEFAULT_API = "http://127.0.0.1:8081"
FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class ApiError(RuntimeError):
    def __init__(
        self, status: int, body: Any, retry_after: str | None = None, hint: str = ""
    ) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after  # the server's Retry-After, as it sent it
        message = body.get("error", body) if isinstance(body, dict) else body
        details = body.get("details") if isinstance(body, dict) else None
        if isinstance(details, list):  # a 422's every field: the first ones, the rest counted
            issues = [
                FieldIssue(str(d.get("field")), str(d.get("message")))
                for d in details
                if isinstance(d, dict)
            ]
            message = InvalidRequestError(issues).summary() if issues else message
        super().__init__(f"HTTP {status}: {message}{hint}")


def add_parser(commands: Any) -> None:
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument(
        "--api",
        default=argparse.SUPPRESS,  # given before or after the action; the default is below
        help=f"the HTTP API's base URL (default: $TDA_API or {DEFAULT_API})",
    )
    jobs = commands.add_parser(
        "jobs", help="large jobs through the workflow (HTTP API client)", parents=[api]
    )
    actions = jobs.add_subparsers(dest="action", required=True)
    submit = actions.add_parser("submit", help="submit a job; prints its id", parents=[api])
    submit.add_argument("entity", help="entity name, or a name for --schema")
    add_request_options(submit, default_format="ndjson")
    submit.add_argument("--wait", action="store_true", help="poll until the job finishes")
    submit.add_argument(
        "--retry-busy",
        type=_patience,
        default=0.0,
        metavar="SECONDS",
        help="when the server is busy (429: too many jobs running) or unavailable for a moment "
        "(503), submit again after its Retry-After, for up to SECONDS (default 0: the first "
        "answer is the answer)",
    )
    status = actions.add_parser("status", help="status, progress and chunk links", parents=[api])
    status.add_argument("job_id")
    status.add_argument("--history", action="store_true", help="the execution's events")
    fetch = actions.add_parser("fetch", help="all chunks, in order, into one file", parents=[api])
    fetch.add_argument("job_id")
    fetch.add_argument(
        "-o",
        "--output",
        required=True,
        type=output_path,
        help="the file to write ('-': standard output)",
    )
    cancel = actions.add_parser(
        "cancel", help="stop a running job (chunks so far stay)", parents=[api]
    )
    cancel.add_argument("job_id")
    remove = actions.add_parser(
        "rm",
        help="delete a job and everything it wrote (cancelled first if running)",
        parents=[api],
    )
    remove.add_argument("job_id")
    gc = actions.add_parser(
        "gc", help="remove local jobs untouched for --days, and show what the rest takes"
    )
    gc.add_argument(
        "--days",
        type=_days,
        default=None,
        help="age to remove at (default: $JOB_RETENTION_DAYS or 7; 0 removes every job)",
    )


MAX_PATIENCE_SECONDS = 86_400.0


def _number(text: str) -> float:
    """``text`` as a float, or NaN (which every range check refuses) if it is none."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _days(text: str) -> float:
    """An age in days: NaN removed every job (no comparison with the cutoff holds), a negative
    one every job as if it were older than it is; infinity is none."""
    days = _number(text)
    if not 0 <= days < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days ≥ 0")
    return days


def _patience(text: str) -> float:
    seconds = _number(text)
    if not 0 <= seconds <= MAX_PATIENCE_SECONDS:  # NaN and infinities fail too
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds from 0 to {MAX_PATIENCE_SECONDS:.0f}"
        )
    return seconds


def api_of(args: argparse.Namespace) -> str:
    return str(getattr(args, "api", None) or os.environ.get("TDA_API") or DEFAULT_API)


def checked_url(url: str, source: str) -> str:
    """``url`` when urllib can send a request to it (http or https, a host, a port in range, no
    space or control character); otherwise a ``CliInputError`` naming ``source``, before
    anything is sent (urllib's own errors were tracebacks)."""
    try:
        parts = urlparse(url)
        parts.port  # noqa: B018 (read for the ValueError an out-of-range port raises)
    except ValueError as exc:
        raise CliInputError(f"{source}: {url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliInputError(f"{source}: {url!r} is not an http:// or https:// URL")
    if any(character.isspace() or not character.isprintable() for character in url):
        raise CliInputError(f"{source}: {url!r} has a space or control character")
    return url


def run(args: argparse.Namespace) -> int:
    source = "--api" if getattr(args, "api", None) else "TDA_API"
    api = checked_url(api_of(args), source).rstrip("/")
    if hasattr(args, "job_id"):
        check_job_id(args.job_id)  # before it is put in a URL: 'x?purge=true' made cancel a purge
    if args.action == "submit":
        return submit(api, args)
    if args.action == "status":
        query = "?history=true" if args.history else ""
        found = _call("GET", f"{api}/v1/jobs/{args.job_id}{query}")
        if args.history:
            for event in found.pop("history"):
                where = f" {event['state']}" if event.get("state") else ""
                error = f" ({event['error']})" if event.get("error") else ""
                print(f"{event['id']:>5} {event['timestamp']} {event['type']}{where}{error}")
        print(json.dumps(found, indent=2))
        return 0
    if args.action == "gc":
        return collect(args.days)
    if args.action == "rm":
        removed = _call("DELETE", f"{api}/v1/jobs/{args.job_id}?purge=true")
        print(f"removed {args.job_id} ({removed['status']})")
        return 0
    if args.action == "cancel":
        stopped = _call("DELETE", f"{api}/v1/jobs/{args.job_id}")
        print(stopped["status"])
        return 0 if stopped["cancelled"] else 1
    return fetch(api, args.job_id, args.output)


def submit(api: str, args: argparse.Namespace) -> int:
    # Parsed here as `tda generate` parses it; checked by the server, whose limits count.
    request = request_from_args(args)
    accepted = submitted_when_taken(api, request.to_payload(), args.retry_busy)
    print(accepted["job_id"], flush=True)
    if args.wait:
        final = wait(api, accepted["job_id"])
        print(
            f"{final['status']}: {final['progress']['chunks_done']}/"
            f"{final['progress']['chunks_total']} chunks",
            file=sys.stderr,
        )
        return 0 if final["status"] == "SUCCEEDED" else 1
    return 0


BUSY_RETRY_SECONDS = 5.0  # when a 429 says nothing usable of when to try again


# Answers that say "not now": busy (429), or unavailable for a moment (503: a store S3
# throttles, API Gateway's own).
NOT_NOW = (429, 503)


def submitted_when_taken(api: str, payload: Any, patience: float) -> dict[str, Any]:
    """The server's answer to the submit, tried again while it says "not now" (429, 503) after
    its Retry-After, until ``patience`` seconds have passed. Nothing else is tried again: a
    full disk (507) does not empty itself, and a bad request stays bad."""
    give_up_at = time.monotonic() + patience
    while True:
        try:
            accepted: dict[str, Any] = _call("POST", f"{api}/v1/jobs", payload)
            return accepted
        except ApiError as exc:
            if exc.status not in NOT_NOW:
                raise
            left = give_up_at - time.monotonic()
            if left <= 0:
                hint = (
                    f" (still busy after {patience:g} s)"
                    if patience
                    else " (tda jobs submit --retry-busy SECONDS waits for a place)"
                )
                raise ApiError(exc.status, exc.body, exc.retry_after, hint) from None
            pause = round(min(_seconds_or(exc.retry_after, BUSY_RETRY_SECONDS), left), 1)
            print(f"tda: server busy ({exc}); trying again in {pause:g} s", file=sys.stderr)
            time.sleep(pause)


def _seconds_or(retry_after: str | None, otherwise: float) -> float:
    """Retry-After's delay in seconds (RFC 9110 also allows a date, which is not waited for)."""
    try:
        seconds = float(retry_after or "")
    except ValueError:
        return otherwise
    return seconds if 0 <= seconds <= MAX_PATIENCE_SECONDS else otherwise


def collect(days: float | None) -> int:
    """``tda jobs gc``: local jobs older than ``days`` removed; what remains, and its size;
    the local cache's expired entries (model answers, built locale pools) removed."""
    root = retention.local_root()
    if root is None:
        raise CliInputError(
            "gc: chunks are in S3 (TDA_CHUNK_STORE); its lifecycle rule expires them"
        )
    removed = retention.collect(root, retention.retention_days() if days is None else days)
    left = retention.usage(root)
    print(
        f"removed {removed.jobs} jobs ({removed.bytes / 1e6:.1f} MB); "
        f"{left.jobs} jobs remain in {root} ({left.bytes / 1e6:.1f} MB)"
    )
    cache = retention.local_cache_root()
    if cache is not None:
        swept = retention.collect_cache(cache)
        print(f"removed {swept.jobs} expired cache entries ({swept.bytes / 1e6:.1f} MB)")
    return 0


def wait(api: str, job_id: str, poll: float = 0.5) -> dict[str, Any]:
    while True:
        found: dict[str, Any] = _call("GET", f"{api}/v1/jobs/{job_id}")
        if found["status"] in FINISHED:
            return found
        time.sleep(poll)


def fetch(api: str, job_id: str, output: Path | None) -> int:
    from tqdm import tqdm

    if output is not None:
        check_output(output, "--output")
    found = _call("GET", f"{api}/v1/jobs/{job_id}")
    if found["status"] != "SUCCEEDED":
        raise ApiError(409, {"error": f"job {job_id} is {found['status']}, not SUCCEEDED"})
    chunks = sorted(found["chunks"], key=lambda c: c["index"])
    # Each JSON chunk is an array of its own: the file gets one array of every record.
    json_array = found["format"] == "JSON"
    bar = tqdm(total=len(chunks), unit="chunk", disable=not sys.stderr.isatty(), file=sys.stderr)
    import urllib.request

    with output_stream(output) as handle:
        for i, entry in enumerate(chunks):
            url = _chunk_url(entry, i)
            with urllib.request.urlopen(signed(urllib.request.Request(url))) as response:
                if json_array:
                    body = response.read().strip()[1:-1]
                    handle.write((b"[" if i == 0 else b",") + body)
                else:
                    while block := response.read(1 << 20):
                        handle.write(block)
            bar.update(1)
        if json_array:
            handle.write(b"]")
    bar.close()
    return 0


def _chunk_url(entry: dict[str, Any], index: int) -> str:
    """The API's link to a chunk, when it is one urllib may follow: a ``file://`` link from a
    server would have read a file of this machine into the output."""
    try:
        return checked_url(str(entry.get("url") or ""), f"chunk {index}'s url")
    except CliInputError as exc:
        raise ApiError(502, {"error": f"the API's job status cannot be used: {exc}"}) from None


_EXECUTE_API = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


def signed(request: urllib.request.Request) -> urllib.request.Request:
    """``request`` signed with AWS SigV4 when it goes to an API Gateway behind IAM (an
    ``execute-api`` host, or any host when ``TDA_API_REGION`` names the API's region), with the
    credentials any AWS SDK finds (environment, profile, role). The signature is not sent on
    to where a redirect leads (a presigned S3 URL carries its own)."""
    host = urlparse(request.full_url).hostname or ""
    found = _EXECUTE_API.match(host)
    region = found.group(1) if found else os.environ.get("TDA_API_REGION", "")
    if not region:
        return request
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise CliInputError(
            f"--api: {host} takes requests signed by an IAM identity, and no AWS credentials "
            "were found (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role)"
        )
    headers = {k: v for k, v in request.header_items()}
    aws = AWSRequest(request.get_method(), request.full_url, data=request.data, headers=headers)
    SigV4Auth(credentials, "execute-api", region).add_auth(aws)
    for name, value in aws.headers.items():
        if name.lower() not in {k.lower() for k in headers}:
            request.add_unredirected_header(name, value)
    return request


def _call(method: str, url: str, body: Any = None) -> Any:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(signed(request)) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        raise ApiError(exc.code, parsed, exc.headers.get("retry-after")) from None
