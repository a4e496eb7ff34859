"""Reuse counts kept right by writers with no lock between them: processes on one folder, and
on one ``s3://`` store (moto's S3 server, reached by LanceDB and boto3 as AWS would be), each
reuse appended, rows folded under the table's lock or S3 lease; and the lease itself."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

import tda.adapters.lance_store as lance_store
import tda.adapters.s3_lease as s3_lease
from tda import wiring
from tda.adapters.lance_store import LanceStore
from tda.adapters.s3_lease import LeaseBusyError, S3Leases
from tda.domain.errors import VectorStoreUnavailableError
from tda.ports.memory import ModelStamp

from .conftest import uploaded_seeded_store
from .test_memory_cli import stored_at_random
from .test_rag_path import served

COUNT_REUSES = """
import sys
import tda.adapters.lance_store as lance_store
lance_store.TIDY_EVERY_WRITES = 3  # folding often: each fold meets the others' appends
store = lance_store.LanceStore(sys.argv[1])
if sys.argv[2] == "no lock":
    store.lock_dir = None
for i in range(30):
    store.add_usage("patterns", ["E0", f"E{i % 19 + 1}"])
"""
WORKERS = 3
# Per worker: E0 30 times, E1-E11 twice, E12-E19 once.
COUNTED = {"E0": 30 * WORKERS, **{f"E{i}": (2 if i <= 11 else 1) * WORKERS for i in range(1, 20)}}


def counted_by_workers_at_once(url: str, lock: str, env: dict[str, str] | None = None) -> None:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", COUNT_REUSES, url, lock],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(WORKERS)
    ]
    logs = [worker.communicate(timeout=240)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * WORKERS, logs
    for log in logs:
        assert "put off" not in log and "Compaction commit failed" not in log, log


@pytest.mark.parametrize("lock", ["no lock", "lock"])
def test_processes_counting_at_once_count_every_reuse_once(tmp_path: Path, lock: str) -> None:
    """Counting takes no lock: 3 processes counting the same first reuses at once lost some
    and doubled others when a count was a row updated in place (and once left all but one at
    0); appended, every reuse is counted once. With the folder's lock, they fold and tidy as
    they go, and no tidy is preempted (one left its rewritten files for a week)."""
    folder = tmp_path / "v"
    store = LanceStore(str(folder))
    stored_at_random(store, 20, 4)
    if lock == "no lock":
        # The reuse table made first: made by lockless processes at once, it loses rows (once
        # in ~15 runs: the reason its making takes the lock). Appending is what is tried here.
        store.add_usage("another", ["A0"])
    counted_by_workers_at_once(str(folder), lock)
    assert {e.id: e.usage_count for e in store.entries("patterns")} == COUNTED


def usage_rows(store: LanceStore) -> int:
    table = store._table("_usage")
    return 0 if table is None else int(table.count_rows())


def test_reuse_rows_are_folded_into_one_per_entry_and_the_counts_kept(tmp_path: Path) -> None:
    store = LanceStore(str(tmp_path / "v"))
    stored_at_random(store, 20, 4)
    for i in range(2 * lance_store.TIDY_EVERY_WRITES):
        store.add_usage("patterns", ["E0", f"E{i % 3 + 1}"])
    # Folded at the 20th and 40th counts: one row per entry used.
    assert usage_rows(store) == 4
    uses = {e.id: e.usage_count for e in store.entries("patterns") if e.usage_count}
    assert uses == {"E0": 40, "E1": 14, "E2": 13, "E3": 13}
    store.add_usage("patterns", ["E0"])
    assert usage_rows(store) == 5  # appended, summed on read until the next fold
    assert store.get("patterns", ["E0"])[0].usage_count == 41


def test_folds_keep_each_collections_counts_apart_and_fold_sums_once(tmp_path: Path) -> None:
    """A fold reads the entries counted since the last one (its sums are marked) and theirs
    alone: an id two collections share is summed apart in each, an entry used once is folded
    like the rest, and a sum an earlier version left unmarked is folded once more, its count
    kept."""
    store = LanceStore(str(tmp_path / "v"))
    vectors, entries = stored_at_random(store, 20, 4)
    store.upsert("catalogs", entries, vectors, ModelStamp("m1", 8))
    import lancedb

    store.add_usage("patterns", ["E7"])  # makes the table
    lancedb.connect(str(tmp_path / "v")).open_table("_usage").add(
        [{"collection": "patterns", "id": "E7", "uses": 9, "event": "0123abcd"}]  # unmarked sum
    )
    expected = {"patterns": Counter({"E7": 1 + 9}), "catalogs": Counter()}
    for i in range(3 * lance_store.TIDY_EVERY_WRITES - 2):
        collection, ids = ("patterns" if i % 2 else "catalogs"), ["E0", f"E{i % 5 + 1}"]
        store.add_usage(collection, ids)
        expected[collection].update(ids)
    store.add_usage("catalogs", ["E9"])  # the 60th count: folded with the rest
    expected["catalogs"].update(["E9"])
    for collection, uses in expected.items():
        counted = {e.id: e.usage_count for e in store.entries(collection) if e.usage_count}
        assert counted == dict(uses), collection
    assert usage_rows(store) == len(expected["patterns"]) + len(expected["catalogs"])


def test_a_usage_table_from_before_events_is_counted_and_folded(tmp_path: Path) -> None:
    """A store whose reuse counts were rows updated in place (no event column), two of them
    the same entry's (a race's): counted as they were, then folded with the new rows."""
    import lancedb
    import pyarrow as pa

    folder = tmp_path / "v"
    store = LanceStore(str(folder))
    stored_at_random(store, 20, 4)
    old = pa.schema([("collection", pa.string()), ("id", pa.string()), ("uses", pa.int64())])
    rows = [("patterns", "E1", 5), ("patterns", "E2", 3), ("patterns", "E2", 3)]
    lancedb.connect(str(folder)).create_table(
        "_usage", [dict(zip(old.names, r, strict=True)) for r in rows], schema=old
    )
    assert {e.id: e.usage_count for e in store.get("patterns", ["E1", "E2"])} == {"E1": 5, "E2": 6}
    for _ in range(lance_store.TIDY_EVERY_WRITES):
        store.add_usage("patterns", ["E1", "E2"])
    assert usage_rows(store) == 2
    assert {e.id: e.usage_count for e in store.get("patterns", ["E1", "E2"])} == {
        "E1": 25,
        "E2": 26,
    }


def test_seeding_again_keeps_counted_reuses_once(tmp_path: Path) -> None:
    """An entry written again comes with its whole count (Memory.add keeps it); the reuses
    counted beside it stay there and are not counted twice."""
    store = LanceStore(str(tmp_path / "v"))
    vectors, _ = stored_at_random(store, 20, 4)
    for _ in range(3):
        store.add_usage("patterns", ["E5"])
    kept = store.get("patterns", ["E5"])
    assert kept[0].usage_count == 3
    store.upsert("patterns", kept, vectors[5:6], store.stamp("patterns"))  # type: ignore[arg-type]
    store.add_usage("patterns", ["E5"])
    assert store.get("patterns", ["E5"])[0].usage_count == 4


def test_an_entry_written_again_as_new_keeps_the_reuses_counted_since(tmp_path: Path) -> None:
    """Two requests learned the same record at once (each found it new); between their
    writes, a third reused it. The second write, with a count of 0, keeps that reuse (the
    hostile run's totals once came out 6 short)."""
    store = LanceStore(str(tmp_path / "v"))
    vectors, entries = stored_at_random(store, 20, 4)
    store.add_usage("patterns", ["E5"])
    store.upsert("patterns", [entries[5]], vectors[5:6], ModelStamp("m1", 8))
    assert store.get("patterns", ["E5"])[0].usage_count == 1


# ---------------------------------------------------------------------------- on S3


def lease_objects(bucket: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="vectors/_locks/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_an_s3_store_counts_reuses_from_processes_at_once_and_folds_them_under_its_lease(
    s3_bucket: str,
) -> None:
    url = f"s3://{s3_bucket}/vectors"
    store = LanceStore(url)
    stored_at_random(store, 20, 4)
    counted_by_workers_at_once(url, "lock", env=None)
    assert {e.id: e.usage_count for e in store.entries("patterns")} == COUNTED
    # Folded as they went (3 x 30 counts, 120 reuses), and every lease given back.
    assert usage_rows(store) < 60
    assert lease_objects(s3_bucket) == []


class Watched(S3Leases):
    """S3 leases that say when a lease is first asked for."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.asked = threading.Event()

    @contextmanager
    def held(self, name: str, wait: float | None = None) -> Iterator[None]:
        self.asked.set()
        with super().held(name, wait):
            yield


def test_a_count_whose_table_another_made_meanwhile_needs_no_lease(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processes counting their first reuses at once all find no _usage table and line up for
    its lease to make it; one makes it, then folds as it counts, taking the lease again and
    again. The others waited their 2 s for a table that was there by then, and failed (seen
    under load): a table made meanwhile is counted into, no lease needed."""
    url = f"s3://{s3_bucket}/vectors"
    stored_at_random(LanceStore(url), 20, 4)
    counting = LanceStore(url)
    counting.entries("patterns")  # connected, so that it looks for the table at once
    counting.leases = watched = Watched(url)
    maker = LanceStore(url)
    maker.leases = None  # it makes the table under the lease held below
    maker.entries("patterns")  # connected: the table is made well within the wait
    monkeypatch.setattr(s3_lease, "WAIT_SECONDS", 5.0)  # for a loaded machine
    failed: list[BaseException] = []

    def count() -> None:
        try:
            counting.add_usage("patterns", ["E1"])
        except BaseException as exc:
            failed.append(exc)

    with S3Leases(url).held("_usage"):  # another writer's, held past the wait
        worker = threading.Thread(target=count)
        worker.start()
        assert watched.asked.wait(30)  # it found no table, and asks for the lease to make one
        maker.add_usage("patterns", ["E2"])
        worker.join(60)
    assert not worker.is_alive() and failed == []
    counts = {e.id: e.usage_count for e in LanceStore(url).entries("patterns")}
    assert (counts["E1"], counts["E2"]) == (1, 1)


def test_an_s3_lease_is_held_by_one_writer_at_a_time(s3_bucket: str) -> None:
    first, second = S3Leases(f"s3://{s3_bucket}/vectors"), S3Leases(f"s3://{s3_bucket}/vectors")
    with first.held("patterns"):
        assert lease_objects(s3_bucket) == ["vectors/_locks/patterns.lock"]
        with (
            pytest.raises(LeaseBusyError, match="held by another writer"),
            second.held("patterns", wait=0.2),
        ):
            pass
        with second.held("_usage", wait=0):  # another table's: free
            pass
    with second.held("patterns", wait=0):
        pass
    assert lease_objects(s3_bucket) == []


class RealClient:
    """boto3's S3 client, one of whose calls a subclass changes."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3")

    def __getattr__(self, name: str) -> object:
        return getattr(self.s3, name)


class RenewalsLost(RealClient):
    """A held lease's renewals (If-Match writes) never reach S3."""

    def put_object(self, **request: str) -> object:
        if "IfMatch" in request:
            raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")
        return self.s3.put_object(**request)


def lease_written(bucket: str, until: float, ttl: float, by: str) -> None:
    lease = json.dumps({"until": until, "ttl": ttl, "by": by})
    boto3.client("s3").put_object(Bucket=bucket, Key="vectors/_locks/patterns.lock", Body=lease)


def died_holding_it(bucket: str) -> None:
    """The lease as a holder that died leaves it: there, expired, renewed no more. Its age is
    S3's to the second: written 2 s ago, a lease of 0.1 s has expired by any reading."""
    lease_written(bucket, time.time() + 0.1, 0.1, "a Lambda gone")
    time.sleep(2.05)


def test_a_lease_is_judged_by_s3s_clock_not_its_holders(s3_bucket: str) -> None:
    """A holder whose clock is 100 s behind (or a taker's 100 s ahead) wrote a lease whose
    ``until`` has passed by the taker's clock: S3 wrote it just now, so it is not taken over
    (it was). Without S3's time (no ``Date``: a mock), the holder's ``until`` is read."""
    lease_written(s3_bucket, time.time() - 70, 30.0, "a Lambda whose clock is behind")
    url = f"s3://{s3_bucket}/vectors"
    with pytest.raises(LeaseBusyError), S3Leases(url).held("patterns", wait=0.3):
        pass
    with S3Leases(url, client=NoServerTime()).held("patterns", wait=0):
        body = boto3.client("s3").get_object(Bucket=s3_bucket, Key="vectors/_locks/patterns.lock")
        assert "behind" not in body["Body"].read().decode()
    assert lease_objects(s3_bucket) == []


def test_a_lease_whose_holder_died_is_taken_over(s3_bucket: str) -> None:
    died_holding_it(s3_bucket)
    with S3Leases(f"s3://{s3_bucket}/vectors").held("patterns", wait=0):
        body = boto3.client("s3").get_object(Bucket=s3_bucket, Key="vectors/_locks/patterns.lock")
        assert "a Lambda gone" not in body["Body"].read().decode()
    assert lease_objects(s3_bucket) == []


def test_an_expired_s3_lease_is_taken_over_and_its_late_holder_frees_only_its_own(
    s3_bucket: str,
) -> None:
    """A holder whose renewals stopped reaching S3 loses its lease at its expiry; done at
    last, it does not release the lease another writer took over."""
    url = f"s3://{s3_bucket}/vectors"
    slow, other = S3Leases(url, ttl=0.3, client=RenewalsLost()), S3Leases(url)
    slow_hold = slow.held("patterns")
    slow_hold.__enter__()
    with pytest.raises(LeaseBusyError), other.held("patterns", wait=0):
        pass
    time.sleep(2.05)  # S3's clock is read to the second: 2 s are past 0.3 by any reading
    other_hold = other.held("patterns", wait=0)
    other_hold.__enter__()  # taken over
    slow_hold.__exit__(None, None, None)  # the slow writer done at last
    assert lease_objects(s3_bucket) == ["vectors/_locks/patterns.lock"]  # still the other's
    with pytest.raises(LeaseBusyError), S3Leases(url).held("patterns", wait=0):
        pass
    other_hold.__exit__(None, None, None)
    assert lease_objects(s3_bucket) == []


def test_a_lease_in_a_bucket_out_of_reach_is_the_store_unavailable(s3_bucket: str) -> None:
    with (
        pytest.raises(VectorStoreUnavailableError, match="write lease"),
        S3Leases(f"s3://{s3_bucket}-missing/vectors").held("patterns"),
    ):
        pass


class NoServerTime(RealClient):
    """S3 answers with no ``Date`` header."""

    def get_object(self, **where: str) -> object:
        held = self.s3.get_object(**where)
        held["ResponseMetadata"]["HTTPHeaders"].pop("date", None)
        return held


class ReleasedWhileRead(RealClient):
    """The lease this client reads is released by its holder right after."""

    def get_object(self, **where: str) -> object:
        held = self.s3.get_object(**where)
        self.s3.delete_object(**where)
        return held


def test_an_expired_lease_released_while_taken_over_is_taken_anew(s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/vectors"
    died_holding_it(s3_bucket)
    with S3Leases(url, client=ReleasedWhileRead()).held("patterns", wait=1.0):
        assert lease_objects(s3_bucket) == ["vectors/_locks/patterns.lock"]
    assert lease_objects(s3_bucket) == []


def test_requests_on_an_s3_memory_learn_under_the_lease_and_answer_while_it_is_held(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rag path on ``s3://`` as a Lambda has it: patterns learned (the entries written
    holding the lease), reuses counted; while another writer holds the lease past a request's
    wait, the request is served all the same and says it learned nothing, and why."""
    monkeypatch.setenv("VECTOR_STORE_URL", uploaded_seeded_store(s3_bucket))
    before = wiring.memory().store.count("patterns")
    meta, _ = served(entity="user", count=8, learn_from_history=True)
    assert meta.generation_path == "rag" and meta.rag.learned.startswith("3 pattern(s)")
    again, _ = served(entity="user", count=8, learn_from_history=True)
    assert again.rag.records_from_memory == 8
    used = wiring.memory().store.get("patterns", list(again.rag.sources))
    assert len(used) == 8 and all(e.usage_count >= 1 for e in used)
    assert lease_objects(s3_bucket) == []

    monkeypatch.setattr("tda.adapters.s3_lease.WAIT_SECONDS", 0.3)
    with S3Leases(f"s3://{s3_bucket}/vectors").held("patterns"):
        more, records = served(entity="user", count=13, learn_from_history=True)
    assert len(records) == 13 and more.rag.records_topped_up == 5
    assert not more.rag.learned
    assert any("not learned" in n and "held by another writer" in n for n in more.rag.notes)
    assert wiring.memory().store.count("patterns") == before + 3


def test_a_lease_held_longer_than_its_length_is_renewed_not_taken_over(s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/vectors"
    with S3Leases(url, ttl=0.6).held("patterns"):
        time.sleep(3.0)  # 5 lengths, 2 more than S3's clock to the second: renewed every 0.2 s
        with pytest.raises(LeaseBusyError), S3Leases(url).held("patterns", wait=0):
            pass
    assert lease_objects(s3_bucket) == []
