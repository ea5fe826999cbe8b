"""The work queue: deduplication, no concurrent passes per key, requeue delays, backoff.

Time is a virtual clock the tests advance, so delays and backoff are checked exactly and no test
waits for real time to pass; :func:`settle` lets the workers run until nothing is ready.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from kaito.operator.queue import BACKOFF_BASE_S, Key, WorkQueue


@dataclass
class FakeTimer:
    at: float
    callback: Callable[[Key], None]
    key: Key
    cancelled: bool = False

    def when(self) -> float:
        return self.at

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeClock:
    """A clock that moves only when told to, firing due timers in time order."""

    now: float = 0.0
    timers: list[FakeTimer] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[Key], None], key: Key) -> FakeTimer:
        timer = FakeTimer(when, callback, key)
        self.timers.append(timer)
        return timer

    async def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted(
                (t for t in self.timers if not t.cancelled and t.at <= end), key=lambda t: t.at
            )
            if not due:
                break
            timer = due[0]
            self.timers.remove(timer)
            self.now = timer.at
            timer.callback(timer.key)
            await settle()
        self.now = end


async def settle() -> None:
    """Let every ready task run (the workers pick up and finish what they can)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_keys_added_while_queued_run_once() -> None:
    calls: list[Key] = []

    async def handler(key: Key) -> float | None:
        calls.append(key)
        return None

    queue = WorkQueue(handler, max_concurrent=2, clock=FakeClock())
    for _ in range(5):
        queue.add(("ns", "a"))
    queue.start()
    await settle()
    await queue.stop()
    assert calls == [("ns", "a")]


async def test_key_added_during_its_pass_runs_again_but_never_concurrently() -> None:
    running = 0
    peak = 0
    calls = 0
    gate = asyncio.Event()

    async def handler(key: Key) -> float | None:
        nonlocal running, peak, calls
        calls += 1
        running += 1
        peak = max(peak, running)
        if calls == 1:
            await gate.wait()
        running -= 1
        return None

    queue = WorkQueue(handler, max_concurrent=4, clock=FakeClock())
    queue.start()
    queue.add(("ns", "a"))
    await settle()
    queue.add(("ns", "a"))
    queue.add(("ns", "a"))
    await settle()
    assert calls == 1
    gate.set()
    await settle()
    await queue.stop()
    assert calls == 2
    assert peak == 1


async def test_requested_requeue_runs_the_key_again_after_the_delay() -> None:
    clock = FakeClock()
    times: list[float] = []

    async def handler(key: Key) -> float | None:
        times.append(clock.time())
        return 0.1 if len(times) < 3 else None

    queue = WorkQueue(handler, clock=clock)
    queue.start()
    queue.add(("ns", "a"))
    await settle()
    await clock.advance(0.099)
    assert len(times) == 1  # not before the delay
    await clock.advance(1.0)
    await queue.stop()
    assert times == [0.0, 0.1, 0.2]


async def test_failures_retry_with_growing_backoff() -> None:
    clock = FakeClock()
    times: list[float] = []

    async def handler(key: Key) -> float | None:
        times.append(clock.time())
        if len(times) < 4:
            raise RuntimeError("boom")
        return None

    queue = WorkQueue(handler, clock=clock)
    queue.start()
    queue.add(("ns", "a"))
    await settle()
    await clock.advance(10.0)
    await queue.stop()
    assert len(times) == 4
    gaps = [round(b - a, 9) for a, b in itertools.pairwise(times)]
    assert gaps == [BACKOFF_BASE_S, 2 * BACKOFF_BASE_S, 4 * BACKOFF_BASE_S]


async def test_delayed_adds_of_a_key_are_merged_into_one_pass() -> None:
    clock = FakeClock()
    calls: list[Key] = []

    async def handler(key: Key) -> float | None:
        calls.append(key)
        return None

    queue = WorkQueue(handler, clock=clock)
    queue.start()
    for _ in range(5):
        queue.add_after(("ns", "a"), 0.05)
        await clock.advance(0.005)
    queue.add_after(("ns", "b"), 0.05)
    await clock.advance(0.15)
    await queue.stop()
    assert sorted(calls) == [("ns", "a"), ("ns", "b")]


async def test_a_delayed_add_of_a_queued_key_sets_no_timer() -> None:
    clock = FakeClock()
    calls: list[Key] = []
    gate = asyncio.Event()

    async def handler(key: Key) -> float | None:
        calls.append(key)
        if key == ("ns", "busy"):
            await gate.wait()
        return None

    queue = WorkQueue(handler, max_concurrent=1, clock=clock)
    queue.start()
    queue.add(("ns", "busy"))
    await settle()
    queue.add(("ns", "a"))  # waits for the only worker
    queue.add_after(("ns", "a"), 0.01)
    assert clock.timers == []
    gate.set()
    await settle()
    await clock.advance(1.0)
    await queue.stop()
    assert calls == [("ns", "busy"), ("ns", "a")]
