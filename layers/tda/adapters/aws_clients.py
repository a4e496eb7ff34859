"""boto3 clients, one per service and AWS environment (every ``AWS_*`` variable: region,
endpoint, credentials), made at their first use and kept.

Making a client is ≈5 ms of CPU (more in a Lambda of 1 GB): every model-path request made a
Step Functions client, and every use of an S3 chunk store an S3 one. Clients are thread-safe;
the default session that makes them is not, hence the lock. boto3 is imported at the first
client: the fast path never needs one.

S3's waits are bounded (``S3_CONFIG``). botocore's defaults are 60 s to connect, 60 s for each
read and five attempts: a job's status, read from an S3 endpoint that took the connection and
never answered, held its request for five minutes. S3 answers in milliseconds and the clients
here read small objects or send one chunk, so 2 s to connect, 5 s a read and three attempts
(botocore's "standard" retries, throttling included) bound one call at ≈21 s, within API
Gateway's 30. Step Functions keeps botocore's defaults: a sync execution's answer comes when
the execution ends, up to its budget, and the workflow bounds its own states.
"""

from __future__ import annotations

import os
import threading
from typing import Any

S3_CONFIG = {
    "connect_timeout": 2.0,
    "read_timeout": 5.0,
    "retries": {"mode": "standard", "total_max_attempts": 3},
}

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
                made = _clients[key] = _bounded(service)
    return made


def _bounded(service: str) -> Any:
    import boto3

    if service != "s3":
        return boto3.client(service)
    from botocore.config import Config

    return boto3.client(service, config=Config(**S3_CONFIG))


def forget_clients() -> None:
    """Drop the kept clients. The local runtime does when its mock starts and stops: a client
    made outside moto's mock (its credentials, its handlers) must not be used inside it, nor
    the other way round."""
    with _making:
        _clients.clear()
