"""What other threads hand to the engine's scheduler thread, under one lock.

Requests arrive from the event loop (``generate``), adapter commands from HTTP handlers
(``load_adapter``/``unload_adapter``), and the scheduler thread takes both between two decoding
steps. Two races this module closes (issue 15's housekeeping):

- A command queued after the scheduler drained its queues at shutdown would never be answered,
  and its caller would wait forever. Here :meth:`Inbox.close` drains and fails everything under
  the same lock that :meth:`Inbox.submit` and :meth:`Inbox.command` check ``closed`` under, so
  every submission is either taken, failed at close, or refused at once.
- The adapter table is read on the event loop (is this model served?) while the scheduler thread
  adds and removes adapters: :class:`AdapterTable` guards it, and refuses a second adapter of a
  name already served even when two loads of the same name were checked concurrently.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path

from kaito.runtime.inference import errors
from kaito.runtime.inference.engines.base import GenerationRequest, SequenceEvent

_SHUTTING_DOWN = "the engine is shutting down"


@dataclasses.dataclass(eq=False)
class Pending:
    """A submitted request, as the scheduler and the consumer both see it."""

    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[SequenceEvent | BaseException]
    cancelled: bool = False
    open_choices: int = 0


Command = tuple[Callable[[], None], concurrent.futures.Future[None]]


class Inbox:
    """Waiting requests and adapter commands for the scheduler thread (module docstring)."""

    def __init__(self, max_queue: int) -> None:
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._waiting: collections.deque[Pending] = collections.deque()
        self._commands: collections.deque[Command] = collections.deque()
        self._closed = False
        self.wake = threading.Event()
        """Set whenever there is something new for the scheduler (or it should stop)."""

    @property
    def waiting(self) -> int:
        """Requests waiting for a batch slot."""
        with self._lock:
            return len(self._waiting)

    def submit(self, pending: Pending) -> None:
        """Queue a request.

        Raises:
            NotReadyError: the engine is shutting down.
            QueueFullError: ``max_queue`` requests wait already.
        """
        with self._lock:
            if self._closed:
                raise errors.NotReadyError(_SHUTTING_DOWN)
            if len(self._waiting) >= self._max_queue:
                raise errors.QueueFullError(
                    f"Too many requests: waiting queue ({len(self._waiting)}) exceeds "
                    f"max-queue ({self._max_queue})."
                )
            self._waiting.append(pending)
        self.wake.set()

    def command(self, command: Callable[[], None]) -> concurrent.futures.Future[None]:
        """Queue ``command`` for the scheduler thread; the future holds its outcome.

        Raises:
            NotReadyError: the engine is shutting down (the command would never run).
        """
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise errors.NotReadyError(_SHUTTING_DOWN)
            self._commands.append((command, future))
        self.wake.set()
        return future

    def run_commands(self) -> None:
        """Run the queued commands in order (scheduler thread), each outside the lock."""
        while True:
            with self._lock:
                if not self._commands:
                    return
                command, future = self._commands.popleft()
            try:
                command()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

    def take(self, running: int, max_rows: int, token_budget: int) -> list[Pending]:
        """The next waiting requests that fit the batch and the prefill token budget, in order.

        The first request is always taken when no row runs, however long, so nothing starves.
        """
        group: list[Pending] = []
        rows = running
        longest = 0
        with self._lock:
            while self._waiting:
                head = self._waiting[0]
                if head.cancelled:
                    self._waiting.popleft()
                    continue
                n = head.request.n
                if (rows or group) and rows + n > max_rows:
                    break
                length = max(longest, len(head.request.prompt_ids))
                if group and length * (len(group) + 1) > token_budget:
                    break
                self._waiting.popleft()
                group.append(head)
                rows += n
                longest = length
        return group

    def close(self) -> list[Pending]:
        """Refuse new work, fail queued commands; return the waiting requests to be failed."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = list(self._waiting), collections.deque()
            commands, self._commands = list(self._commands), collections.deque()
        for _, future in commands:
            future.set_exception(errors.NotReadyError(_SHUTTING_DOWN))
        self.wake.set()
        return waiting


class AdapterTable:
    """Served adapters by name, in load order; read from any thread, written by the scheduler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, Path] = {}

    def names(self) -> list[str]:
        """Loaded adapters in load order."""
        with self._lock:
            return list(self._paths)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._paths

    def __len__(self) -> int:
        with self._lock:
            return len(self._paths)

    def add(self, name: str, path: Path) -> None:
        """Record ``name``.

        Raises:
            AdapterError: ``name`` is served already.
        """
        with self._lock:
            if name in self._paths:
                raise errors.AdapterError(f"adapter {name!r} is already loaded", param="lora_name")
            self._paths[name] = path

    def remove(self, name: str) -> None:
        """Forget ``name``.

        Raises:
            AdapterError: ``name`` is not served.
        """
        with self._lock:
            if self._paths.pop(name, None) is None:
                raise errors.AdapterError(f"adapter {name!r} is not loaded", param="lora_name")
