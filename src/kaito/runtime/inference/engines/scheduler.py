"""The engine's scheduling loop: admit waiting prompts, decode every running row, stream results.

Runs on the engine's one scheduler thread (``TransformersEngine.start`` says why one thread).
Between two decoding steps it runs pending adapter commands, drops cancelled rows, admits waiting
requests (prefilled together, :mod:`.prefill`; first tokens are sampled at once) and then runs
one forward pass for every running row together (:mod:`.batch` keeps the padded cache). A request
therefore joins a running batch at the next step and leaves it the step it finishes; nobody waits
for a batch boundary.

Results travel to the asyncio side into one queue per request, gathered per step by
:class:`Outbox`: one ``loop.call_soon_threadsafe`` per event loop and step instead of one per row
(each call wakes the loop through its self-pipe and competes with this thread for the GIL), and
once more after each prefill pass, so that first tokens do not wait for the next decoding step.
Closing the consumer's iterator marks the request cancelled and the scheduler drops its rows at
the next step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from kaito.runtime.inference import errors
from kaito.runtime.inference.engines import prefill as prefill_mod
from kaito.runtime.inference.engines.base import FinishReason, SamplingParams, SequenceEvent
from kaito.runtime.inference.engines.batch import DecodeBatch
from kaito.runtime.inference.engines.detokenizer import IncrementalDetokenizer
from kaito.runtime.inference.engines.inbox import Inbox, Pending
from kaito.runtime.inference.engines.sampling import new_generator, sample

logger = logging.getLogger(__name__)

_IDLE_WAIT_S = 0.5


@dataclasses.dataclass(eq=False)
class Row:
    """One choice of one request inside the running batch."""

    pending: Pending
    index: int
    adapter: str
    detokenizer: IncrementalDetokenizer
    generator: Any  # torch.Generator or None for greedy
    params: SamplingParams
    prompt_len: int
    generated: int = 0
    done: bool = False


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """What the scheduler needs of the loaded model (the engine builds it after loading)."""

    forward: Callable[..., Any]
    """``forward(input_ids, adapters, **kwargs)``: one pass, per-row adapters (prefills)."""
    decode: Callable[[DecodeBatch, list[str]], Any]
    """``decode(batch, adapters)``: next-token logits ``[rows, vocab]`` of one decoding step;
    writes the step's keys and values into the batch's cache (then ``batch.advance``)."""
    decode_ids: Callable[[Any], str]
    """Token ids to text without special tokens."""
    eos_ids: frozenset[int]
    pad_id: int
    device: Any
    max_model_len: int


class Scheduler:
    """The running batch and the loop around it (module docstring); scheduler thread only."""

    def __init__(
        self,
        inbox: Inbox,
        model: LoadedModel,
        adapter_for: Callable[[Pending], str],
        max_batch_size: int,
    ) -> None:
        self._inbox = inbox
        self._model = model
        self._adapter_for = adapter_for
        self._max_batch_size = max_batch_size
        self._rows: list[Row] = []
        self._batch = DecodeBatch()
        self._out = Outbox()
        self.stopping = threading.Event()

    @property
    def running(self) -> int:
        """Rows in the batch (read from other threads as a snapshot: ``len`` of a list)."""
        return len(self._rows)

    def serve(self) -> None:
        """Step until :attr:`stopping` is set, then abort whatever is left."""
        import torch

        with torch.inference_mode():
            while not self.stopping.is_set():
                try:
                    self.step()
                except Exception as exc:  # never let one bad step kill the server
                    logger.exception("engine step failed; aborting the running batch")
                    for row in self._rows:
                        if not row.done:
                            self._out.fail(row.pending, exc)
                    self._rows, self._batch = [], DecodeBatch()
                finally:
                    self._out.flush()
            self._abort_everything()
            self._out.flush()

    def step(self) -> None:
        """Commands, cancellations, admissions, then one decoding step (or an idle wait)."""
        self._inbox.run_commands()
        self._drop_cancelled()
        self._admit()
        if not self._rows:
            self._inbox.wake.wait(_IDLE_WAIT_S)
            self._inbox.wake.clear()
            return
        self._decode()

    def abort_adapter(self, name: str) -> None:
        """End the running rows of adapter ``name`` with ``abort`` (it is being unloaded)."""
        for row in self._rows:
            if row.adapter == name and not row.done:
                self._finish(row, "abort")
        self._compact()

    # -- admission --------------------------------------------------------------------------------

    def _drop_cancelled(self) -> None:
        if any(row.pending.cancelled for row in self._rows):
            for row in self._rows:
                if row.pending.cancelled:
                    row.done = True
            self._compact()

    def _admit(self) -> None:
        """Prefill waiting requests that fit the batch, several prompts per forward pass.

        Each pass's first tokens go out as soon as it ends, not after the next pass or the
        decoding step that follows (a whole step of the batch: 40-100 ms of time to first token
        on CPU at 16-64 rows).
        """
        while True:
            self._out.flush()
            group = self._inbox.take(
                len(self._rows), self._max_batch_size, prefill_mod.PREFILL_TOKEN_BUDGET
            )
            if not group:
                return
            ready: list[tuple[Pending, str]] = []
            for pending in group:
                try:
                    ready.append((pending, self._adapter_for(pending)))
                except errors.ModelNotFoundError as exc:
                    self._out.fail(pending, exc)
            if not ready:
                continue
            try:
                self._prefill(ready)
            except Exception as exc:
                logger.exception("prefill of %d requests failed", len(ready))
                if len(ready) == 1:
                    self._out.fail(ready[0][0], exc)
                    continue
                # Retry one by one so that one bad request does not fail its neighbours.
                for item in ready:
                    try:
                        self._prefill([item])
                    except Exception as single:
                        logger.exception("prefill failed")
                        self._out.fail(item[0], single)

    def _prefill(self, items: list[tuple[Pending, str]]) -> None:
        model = self._model
        done = prefill_mod.prefill(
            model.forward,
            [pending.request.prompt_ids for pending, _ in items],
            [adapter for _, adapter in items],
            [pending.request.n for pending, _ in items],
            model.pad_id,
            model.device,
        )
        rows: list[Row] = []
        for pending, adapter in items:
            length = len(pending.request.prompt_ids)
            params = pending.request.params
            max_tokens = min(params.max_tokens, model.max_model_len - length)
            if max_tokens != params.max_tokens:
                params = dataclasses.replace(params, max_tokens=max_tokens)
            for choice in range(pending.request.n):
                rows.append(
                    Row(
                        pending=pending,
                        index=choice,
                        adapter=adapter,
                        detokenizer=IncrementalDetokenizer(model.decode_ids, params.stop),
                        generator=new_generator(params, choice, model.device),
                        params=params,
                        prompt_len=length,
                    )
                )
            pending.open_choices = pending.request.n
        tokens = sample(done.logits, [r.params for r in rows], [r.generator for r in rows])
        self._batch.add(done.layers, done.cache_len, tokens, done.mask)
        self._rows.extend(rows)
        self._after_sampling(rows, tokens.tolist())
        self._compact()

    # -- decoding ---------------------------------------------------------------------------------

    def _decode(self) -> None:
        batch, rows = self._batch, self._rows
        logits = self._model.decode(batch, [row.adapter for row in rows])
        tokens = sample(logits, [r.params for r in rows], [r.generator for r in rows])
        batch.advance(tokens)
        self._after_sampling(rows, tokens.tolist())
        self._compact()

    def _after_sampling(self, rows: list[Row], tokens: list[int]) -> None:
        limit = self._model.max_model_len
        for row, token in zip(rows, tokens, strict=True):
            if row.done:
                continue
            param = row.params
            row.generated += 1
            is_eos = token in self._model.eos_ids and not param.ignore_eos
            text = row.detokenizer.push(None if is_eos else token)
            finish: FinishReason | None = None
            if is_eos or row.detokenizer.stopped:
                finish = "stop"
            elif row.generated >= param.max_tokens or row.prompt_len + row.generated >= limit:
                finish = "length"
                text += row.detokenizer.push(None)
            completion = row.generated - (1 if is_eos else 0)
            if finish is None:
                if text:
                    self._out.emit(row.pending, SequenceEvent(row.index, text, completion))
                continue
            self._out.emit(row.pending, SequenceEvent(row.index, text, completion, finish))
            row.done = True
            row.pending.open_choices -= 1

    def _finish(self, row: Row, reason: FinishReason) -> None:
        row.done = True
        row.pending.open_choices -= 1
        self._out.emit(row.pending, SequenceEvent(row.index, "", row.generated, reason))

    def _compact(self) -> None:
        keep = [i for i, row in enumerate(self._rows) if not row.done]
        if len(keep) != len(self._rows):
            self._batch.keep(keep)
            self._rows = [self._rows[i] for i in keep]

    def _abort_everything(self) -> None:
        for row in self._rows:
            if not row.done:
                self._finish(row, "abort")
        self._rows = []
        for pending in self._inbox.close():
            self._out.fail(pending, errors.NotReadyError("the engine is shutting down"))


# -- bridging to asyncio ----------------------------------------------------------------------


class Outbox:
    """Events and failures of one step, handed to each event loop in one call (module docstring).

    Order is kept: a request's items stay in the order they were put, and a step's items are
    delivered before the next step's.
    """

    def __init__(self) -> None:
        self._items: dict[asyncio.AbstractEventLoop, list[tuple[Pending, Item]]] = {}

    def emit(self, pending: Pending, event: SequenceEvent) -> None:
        """Queue ``event`` for the request's consumer (unless it went away)."""
        if not pending.cancelled:
            self._items.setdefault(pending.loop, []).append((pending, event))

    def fail(self, pending: Pending, exc: BaseException) -> None:
        """End the request with ``exc`` (raised from its event stream)."""
        pending.open_choices = 0
        if not pending.cancelled:
            self._items.setdefault(pending.loop, []).append((pending, exc))

    def flush(self) -> None:
        """Hand everything queued to the event loops, one call per loop."""
        items, self._items = self._items, {}
        for loop, batch in items.items():
            try:
                loop.call_soon_threadsafe(_deliver, batch)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                logger.debug("dropping %d events for a closed event loop", len(batch))


Item = SequenceEvent | BaseException


def _deliver(batch: list[tuple[Pending, Item]]) -> None:
    for pending, item in batch:
        pending.queue.put_nowait(item)


class EventStream:
    """The consumer side of one request; leaving it early cancels the request."""

    def __init__(self, pending: Pending, wake: threading.Event) -> None:
        self._pending = pending
        self._wake = wake
        self._remaining = pending.request.n

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> SequenceEvent:
        if self._remaining == 0:
            raise StopAsyncIteration
        try:
            item = await self._pending.queue.get()
        except BaseException:  # cancelled while waiting: the client went away
            self.cancel()
            raise
        if isinstance(item, BaseException):
            self._remaining = 0
            if isinstance(item, errors.InferenceError):
                raise item
            raise errors.InferenceError(f"generation failed: {item}") from item
        if item.finish_reason is not None:
            self._remaining -= 1
        return item

    def cancel(self) -> None:
        """Stop generating for this request (no-op once it has finished)."""
        if self._remaining:
            self._remaining = 0
            self._pending.cancelled = True
            self._wake.set()
