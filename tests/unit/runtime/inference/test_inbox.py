"""The scheduler's inbox and adapter table: every submission is answered, even around shutdown."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kaito.runtime.inference import errors
from kaito.runtime.inference.engines.base import GenerationRequest, SamplingParams
from kaito.runtime.inference.engines.inbox import AdapterTable, Inbox, Pending


def pending(loop: asyncio.AbstractEventLoop, prompt_len: int = 4, n: int = 1) -> Pending:
    request = GenerationRequest("m", tuple(range(prompt_len)), SamplingParams(max_tokens=1), n=n)
    return Pending(request=request, loop=loop, queue=asyncio.Queue())


async def test_a_command_queued_after_close_is_refused_not_left_waiting() -> None:
    inbox = Inbox(max_queue=4)
    inbox.close()
    with pytest.raises(errors.NotReadyError, match="shutting down"):
        inbox.command(lambda: None)
    with pytest.raises(errors.NotReadyError, match="shutting down"):
        inbox.submit(pending(asyncio.get_running_loop()))


async def test_close_fails_queued_commands_and_returns_waiting_requests() -> None:
    inbox = Inbox(max_queue=4)
    ran: list[int] = []
    future = inbox.command(lambda: ran.append(1))
    waiting = pending(asyncio.get_running_loop())
    inbox.submit(waiting)
    assert inbox.close() == [waiting]
    with pytest.raises(errors.NotReadyError):
        await asyncio.wrap_future(future)
    assert ran == []
    assert inbox.waiting == 0


async def test_commands_run_in_order_and_report_their_outcome() -> None:
    inbox = Inbox(max_queue=4)
    order: list[str] = []

    def boom() -> None:
        order.append("boom")
        raise errors.AdapterError("bad adapter")

    first = inbox.command(lambda: order.append("first"))
    second = inbox.command(boom)
    inbox.run_commands()
    assert order == ["first", "boom"]
    await asyncio.wrap_future(first)
    with pytest.raises(errors.AdapterError, match="bad adapter"):
        await asyncio.wrap_future(second)


async def test_commands_racing_with_close_are_all_answered() -> None:
    """A thread keeps queueing while another closes: each command runs, fails, or is refused."""
    inbox = Inbox(max_queue=4)
    futures = []
    refused = 0
    closer = threading.Timer(0.01, inbox.close)
    closer.start()
    for _ in range(20000):
        try:
            futures.append(inbox.command(lambda: None))
        except errors.NotReadyError:
            refused += 1
        if len(futures) % 7 == 0:
            inbox.run_commands()
    closer.join()
    inbox.run_commands()
    assert all(f.done() for f in futures)
    assert refused > 0 or all(f.exception() is None for f in futures)


async def test_the_queue_limit_gives_queue_full() -> None:
    inbox = Inbox(max_queue=1)
    loop = asyncio.get_running_loop()
    inbox.submit(pending(loop))
    with pytest.raises(errors.QueueFullError, match=r"max-queue \(1\)"):
        inbox.submit(pending(loop))


async def test_take_respects_batch_rows_token_budget_and_skips_cancelled() -> None:
    inbox = Inbox(max_queue=10)
    loop = asyncio.get_running_loop()
    gone = pending(loop)
    gone.cancelled = True
    a, b, c = pending(loop, 10), pending(loop, 30, n=2), pending(loop, 10)
    for item in (gone, a, b, c):
        inbox.submit(item)
    # Budget 64 tokens: a (10) then b (longest 30 x 2 prompts = 60) fit, c would make 90.
    assert inbox.take(running=0, max_rows=8, token_budget=64) == [a, b]
    # Rows: 7 running + c's 1 = 8 fits; a request of 2 choices would not.
    assert inbox.take(running=7, max_rows=8, token_budget=64) == [c]
    assert inbox.take(running=0, max_rows=8, token_budget=64) == []


async def test_a_long_prompt_is_taken_alone_when_nothing_runs() -> None:
    inbox = Inbox(max_queue=10)
    long = pending(asyncio.get_running_loop(), 500)
    inbox.submit(long)
    assert inbox.take(running=0, max_rows=1, token_budget=64) == [long]


def test_adapter_table_refuses_a_second_adapter_of_a_name() -> None:
    from pathlib import Path

    table = AdapterTable()
    table.add("a", Path("/x"))
    with pytest.raises(errors.AdapterError, match="'a' is already loaded"):
        table.add("a", Path("/y"))
    assert table.names() == ["a"]
    assert "a" in table
    assert len(table) == 1
    table.remove("a")
    with pytest.raises(errors.AdapterError, match="'a' is not loaded"):
        table.remove("a")
