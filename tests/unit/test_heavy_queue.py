"""The heavy queue admits by estimated CPU scaled by how slowly heavy work has lately run: on a
busy machine its last admitted request is still answered within its budget."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest

from tda.app import heavy_work, unsent_answers
from tda.app.busy import BusyError
from tda.app.heavy_work import run_admitted
from tda.app.settings import settings


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> heavy_work.Pace:
    """A heavy queue of 2.5 s with a pace of its own (this process's servers feed the shared
    one), averaged over 0.5 s of estimated work rather than 4, so that tests stay short."""
    budget = dataclasses.replace(settings, heavy_queue_seconds=2.5)
    monkeypatch.setattr(heavy_work, "settings", budget)
    monkeypatch.setattr(heavy_work, "PACE_SPAN_SECONDS", 0.5)
    pace = heavy_work.Pace()
    monkeypatch.setattr(heavy_work, "heavy_pace", pace)
    return pace


async def second_while_first_runs(estimate: float) -> BaseException | None:
    """Two heavy requests of ``estimate`` each, the second sent while the first runs: what the
    second met (None: it was admitted and served)."""
    running, release = threading.Event(), threading.Event()

    def first() -> None:
        running.set()
        release.wait(10)

    held = asyncio.ensure_future(run_admitted("heavy", estimate, 0, first))
    await asyncio.to_thread(running.wait, 10)
    try:
        await run_admitted("heavy", estimate, 0, lambda: None)
        return None
    except BusyError as exc:
        return exc
    finally:
        release.set()
        await held


def test_two_requests_whose_estimates_fit_the_budget_are_both_taken_on_an_idle_machine(
    queue: heavy_work.Pace,
) -> None:
    assert asyncio.run(second_while_first_runs(1.0)) is None
    assert queue.factor == 1.0  # one run far quicker than its estimate: the factor stays at 1


def test_heavy_work_running_slower_than_estimated_admits_less(queue: heavy_work.Pace) -> None:
    # One run of a 0.5 s estimate taking at least 1.5 s: three times its estimate. The same two
    # requests that fit on an idle machine no longer do: the second is refused at once, with
    # why, rather than queued to be answered long after the budget has passed.
    asyncio.run(run_admitted("heavy", 0.5, 0, time.sleep, 1.5))
    assert queue.factor >= 2.5
    refused = asyncio.run(second_while_first_runs(1.0))
    assert isinstance(refused, BusyError)
    assert "slower than estimated" in str(refused) and "of heavy work already" in str(refused)


def test_runs_count_by_their_estimate_so_quick_small_ones_do_not_hide_a_slow_large_one(
    queue: heavy_work.Pace,
) -> None:
    asyncio.run(run_admitted("heavy", 0.5, 0, time.sleep, 1.5))
    for _ in range(2):  # 0.2 s of estimated work answered at once, against 0.5 s taking 1.5 s
        asyncio.run(run_admitted("heavy", 0.1, 0, lambda: None))
    assert queue.factor >= 1.5


def test_the_pace_comes_back_once_heavy_work_runs_as_estimated_again(
    queue: heavy_work.Pace,
) -> None:
    asyncio.run(run_admitted("heavy", 0.5, 0, time.sleep, 1.5))
    for _ in range(3):
        asyncio.run(run_admitted("heavy", 0.5, 0, lambda: None))
    assert queue.factor == 1.0
    assert asyncio.run(second_while_first_runs(1.0)) is None


def test_a_run_too_short_to_time_or_a_failed_one_is_no_sample(queue: heavy_work.Pace) -> None:
    asyncio.run(run_admitted("heavy", 0.01, 0, time.sleep, 0.2))  # mostly a thread hop

    def slow_then_failing() -> None:
        time.sleep(1)
        raise RuntimeError("a failure is no measure of pace")

    with pytest.raises(RuntimeError):
        asyncio.run(run_admitted("heavy", 0.5, 0, slow_then_failing))
    assert queue.ratio == 1.0


def test_an_answer_being_made_counts_as_held_until_its_run_ends_however_it_ends(
    queue: heavy_work.Pace, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound = dataclasses.replace(settings, max_unsent_bytes=10 << 20)
    monkeypatch.setattr(unsent_answers, "settings", bound)
    before = unsent_answers.held()
    running, release = threading.Event(), threading.Event()

    def making() -> None:
        assert unsent_answers.held() == before + (12 << 20)
        running.set()
        release.wait(10)

    async def while_one_is_made() -> BusyError:
        first = asyncio.ensure_future(run_admitted("heavy", 0.1, 12 << 20, making))
        await asyncio.to_thread(running.wait, 10)
        try:
            with pytest.raises(BusyError) as refused:
                await run_admitted("heavy", 0.1, 0, lambda: None)  # over the bound: refused
            return refused.value
        finally:
            release.set()
            await first

    assert "12.0 MiB of answers being made or not yet taken by their callers" in str(
        asyncio.run(while_one_is_made())
    )
    assert unsent_answers.held() == before

    def failing() -> None:
        raise RuntimeError("made nothing")

    with pytest.raises(RuntimeError):
        asyncio.run(run_admitted("heavy", 0.1, 12 << 20, failing))
    assert unsent_answers.held() == before
