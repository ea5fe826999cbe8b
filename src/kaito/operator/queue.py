"""A work queue of Workspace keys, in the manner of controller-runtime's.

Kopf delivers watch events; the handlers only ``add`` the affected Workspace's key here. Workers
(``max_concurrent`` of them, upstream uses 5) run one reconcile per key at a time; a key added while
it is being reconciled is run once more afterwards, so no event is lost and no Workspace is
reconciled concurrently with itself. A pass may ask to be run again after a delay (waiting on
nodes or pods); failures are retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

Key = tuple[str, str]  # (namespace, name)
Handler = Callable[[Key], Awaitable[float | None]]

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 30.0


class Timer(Protocol):
    """A scheduled call (``asyncio.TimerHandle`` is one)."""

    def when(self) -> float:
        """When it fires, on its clock."""
        ...

    def cancel(self) -> None:
        """Do not fire."""
        ...


class Clock(Protocol):
    """Time and timers for the queue: the event loop's, or a test's virtual clock."""

    def time(self) -> float:
        """Now, in seconds on this clock."""
        ...

    def call_at(self, when: float, callback: Callable[[Key], None], key: Key) -> Timer:
        """Run ``callback(key)`` at ``when``."""
        ...


class WorkQueue:
    """Deduplicating, delay-capable queue with per-key backoff."""

    def __init__(
        self, handler: Handler, max_concurrent: int = 5, *, clock: Clock | None = None
    ) -> None:
        self._handler = handler
        self._clock = clock
        self._max = max_concurrent
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._processing: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, Timer] = {}
        self._failures: dict[Key, int] = {}
        self._workers: list[asyncio.Task[None]] = []

    def add(self, key: Key) -> None:
        """Reconcile ``key`` as soon as a worker is free (at most once per pending period)."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        """Reconcile ``key`` after ``delay`` seconds (an earlier request wins).

        A key already waiting for a worker needs no timer: its pass has not started, so it will
        see whatever prompted this. Children's changes are added this way with a short delay, so
        the several changes of one step (a pod scheduled then started, a node created then made
        Ready) are merged into one pass.
        """
        if key in self._pending:
            return
        clock: Clock = self._clock or asyncio.get_running_loop()
        existing = self._timers.get(key)
        when = clock.time() + delay
        if existing is not None and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = clock.call_at(when, self.add, key)

    def start(self) -> None:
        """Start the workers."""
        for i in range(self._max):
            self._workers.append(asyncio.create_task(self._work(), name=f"reconcile-worker-{i}"))

    async def stop(self) -> None:
        """Stop the workers and forget pending timers."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()

    @property
    def idle(self) -> bool:
        """Nothing queued or running (timers may still be armed)."""
        return not self._pending and not self._processing

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            self._processing.add(key)
            delay: float | None = None
            try:
                delay = await self._handler(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = min(BACKOFF_BASE_S * 2 ** (failures - 1), BACKOFF_MAX_S)
                log.info("reconcile of %s/%s failed (%s); retrying in %.2fs", *key, exc, delay)
            finally:
                self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif delay is not None:
                self.add_after(key, delay)
