"""The work queue: deduplication, no concurrent passes per key, requeue delays, backoff."""

from __future__ import annotations

import asyncio
import itertools

from kaito.operator.queue import WorkQueue


async def test_keys_added_while_queued_run_once() -> None:
    calls: list[tuple[str, str]] = []

    async def handler(key: tuple[str, str]) -> float | None:
        calls.append(key)
        return None

    queue = WorkQueue(handler, max_concurrent=2)
    for _ in range(5):
        queue.add(("ns", "a"))
    queue.start()
    await asyncio.sleep(0.05)
    await queue.stop()
    assert calls == [("ns", "a")]


async def test_key_added_during_its_pass_runs_again_but_never_concurrently() -> None:
    running = 0
    peak = 0
    calls = 0
    gate = asyncio.Event()

    async def handler(key: tuple[str, str]) -> float | None:
        nonlocal running, peak, calls
        calls += 1
        running += 1
        peak = max(peak, running)
        if calls == 1:
            await gate.wait()
        running -= 1
        return None

    queue = WorkQueue(handler, max_concurrent=4)
    queue.start()
    queue.add(("ns", "a"))
    await asyncio.sleep(0.02)
    queue.add(("ns", "a"))
    queue.add(("ns", "a"))
    await asyncio.sleep(0.02)
    assert calls == 1
    gate.set()
    await asyncio.sleep(0.05)
    await queue.stop()
    assert calls == 2
    assert peak == 1


async def test_requested_requeue_runs_the_key_again_after_the_delay() -> None:
    times: list[float] = []
    loop = asyncio.get_running_loop()

    async def handler(key: tuple[str, str]) -> float | None:
        times.append(loop.time())
        return 0.1 if len(times) < 3 else None

    queue = WorkQueue(handler)
    queue.start()
    queue.add(("ns", "a"))
    await asyncio.sleep(0.4)
    await queue.stop()
    assert len(times) == 3
    assert times[1] - times[0] >= 0.09
    assert times[2] - times[1] >= 0.09


async def test_failures_retry_with_growing_backoff() -> None:
    times: list[float] = []
    loop = asyncio.get_running_loop()

    async def handler(key: tuple[str, str]) -> float | None:
        times.append(loop.time())
        if len(times) < 4:
            raise RuntimeError("boom")
        return None

    queue = WorkQueue(handler)
    queue.start()
    queue.add(("ns", "a"))
    await asyncio.sleep(0.6)
    await queue.stop()
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] < gaps[1] < gaps[2]


async def test_delayed_adds_of_a_key_are_merged_into_one_pass() -> None:
    calls: list[tuple[str, str]] = []

    async def handler(key: tuple[str, str]) -> float | None:
        calls.append(key)
        return None

    queue = WorkQueue(handler)
    queue.start()
    for _ in range(5):
        queue.add_after(("ns", "a"), 0.05)
        await asyncio.sleep(0.005)
    queue.add_after(("ns", "b"), 0.05)
    await asyncio.sleep(0.15)
    await queue.stop()
    assert sorted(calls) == [("ns", "a"), ("ns", "b")]


async def test_a_delayed_add_of_a_queued_key_sets_no_timer() -> None:
    calls: list[tuple[str, str]] = []
    gate = asyncio.Event()

    async def handler(key: tuple[str, str]) -> float | None:
        calls.append(key)
        if key == ("ns", "busy"):
            await gate.wait()
        return None

    queue = WorkQueue(handler, max_concurrent=1)
    queue.start()
    queue.add(("ns", "busy"))
    await asyncio.sleep(0.01)
    queue.add(("ns", "a"))  # waits for the only worker
    queue.add_after(("ns", "a"), 0.01)
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.sleep(0.05)
    await queue.stop()
    assert calls == [("ns", "busy"), ("ns", "a")]
