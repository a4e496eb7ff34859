"""boto3 clients, one per service and AWS environment (every ``AWS_*`` variable: region,
endpoint, credentials), made at their first use and kept.

Making a client is ≈5 ms of CPU (more in a Lambda of 1 GB): every model-path request made a
Step Functions client, and every use of an S3 chunk store an S3 one. Clients are thread-safe;
the default session that makes them is not, hence the lock. boto3 is imported at the first
client: the fast path never needs one.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_making = threading.Lock()


def client(service: str) -> Any:
    """The kept client of ``service`` for the current AWS environment."""
    key = (service, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))
    made = _clients.get(key)
    if made is None:
        with _making:
            made = _clients.get(key)
            if made is None:
                import boto3

                made = _clients[key] = boto3.client(service)
    return made


def forget_clients() -> None:
    """Drop the kept clients. The local runtime does when its mock starts and stops: a client
    made outside moto's mock (its credentials, its handlers) must not be used inside it, nor
    the other way round."""
    with _making:
        _clients.clear()
