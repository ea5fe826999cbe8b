"""The trainer callbacks of a tuning run: checkpoints, SIGTERM, progress, compiling the layers.

A killed pod must lose little work (a checkpoint every few minutes and one on SIGTERM), and a user
watching ``kubectl logs`` or ``kaito run`` must see progress in the form their terminal suits
(bar, JSON lines or nothing). These hooks are what the run attaches to TRL's trainer.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from kaito.runtime.tuning import checkpoints, compiled_layers
from kaito.runtime.tuning.metrics import ThroughputMeter, TuningMetrics, format_progress_line
from kaito.runtime.tuning.options import (
    PROGRESS_AUTO,
    PROGRESS_BAR,
    PROGRESS_JSON,
    TuningOptions,
)

logger = logging.getLogger(__name__)


def progress_mode(opts: TuningOptions) -> str:
    """The progress form to use: as asked, or a bar on a terminal and JSON lines elsewhere."""
    if opts.progress != PROGRESS_AUTO:
        return opts.progress
    return PROGRESS_BAR if sys.stderr.isatty() else PROGRESS_JSON


def make_checkpoint_callback(trainer: Any, root: Path, opts: TuningOptions) -> Any:
    """A callback saving the rolling checkpoint every N steps or seconds, and when asked to stop."""
    from transformers import TrainerCallback

    class RollingCheckpoint(TrainerCallback):
        """Save a resumable checkpoint every N steps / T seconds and at the last step."""

        def __init__(self) -> None:
            self._last = time.monotonic()
            self.stop_requested = False

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step = int(state.global_step)
            by_steps = bool(opts.checkpoint_steps) and step % (opts.checkpoint_steps or 1) == 0
            by_time = time.monotonic() - self._last >= opts.checkpoint_seconds
            if by_steps or by_time or step >= state.max_steps or self.stop_requested:
                save_rolling_checkpoint(trainer, root, step)
                self._last = time.monotonic()
            if self.stop_requested:
                control.should_training_stop = True

    return RollingCheckpoint()


@contextlib.contextmanager
def stop_on_sigterm(saver: Any) -> Iterator[None]:
    """On SIGTERM (pod eviction), checkpoint at the end of the current step and stop cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        logger.warning("SIGTERM received: saving a checkpoint after the current step")
        saver.stop_requested = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def save_rolling_checkpoint(trainer: Any, root: Path, step: int) -> None:
    """Let the trainer write a full checkpoint into a staging folder, then commit it atomically."""
    staging = checkpoints.staging_dir(root, step)
    original = trainer.args.output_dir
    trainer.args.output_dir = str(staging)
    try:
        trainer._save_checkpoint(trainer.model, trial=None)
    finally:
        trainer.args.output_dir = original
    checkpoints.commit_checkpoint(staging / f"checkpoint-{step}", root, step)
    shutil.rmtree(staging, ignore_errors=True)


class _ProgressState:
    """Mutable state shared by the progress callback and the result."""

    def __init__(self) -> None:
        self.losses: list[tuple[int, float]] = []
        self.start_tokens = 0


def make_progress_callback(metrics: TuningMetrics, opts: TuningOptions) -> Any:
    """A callback that reports loss and throughput to the metrics and the chosen progress form."""
    from transformers import TrainerCallback

    meter = ThroughputMeter()
    json_lines = progress_mode(opts) == PROGRESS_JSON
    stream: Callable[[], TextIO] = lambda: opts.progress_stream or sys.stdout  # noqa: E731

    class ProgressReporter(TrainerCallback, _ProgressState):
        """Feed the meter and the gauges; print one JSON line per logging step."""

        def __init__(self) -> None:
            _ProgressState.__init__(self)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start_tokens = int(state.num_input_tokens_seen)
            meter.start(int(state.global_step), self.start_tokens)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            logs = logs or {}
            loss = logs.get("loss")
            if loss is None:
                return
            snap = meter.snapshot(
                step=int(state.global_step),
                total_steps=int(state.max_steps),
                epoch=float(state.epoch or 0.0),
                tokens_seen=int(state.num_input_tokens_seen),
                loss=loss,
                learning_rate=logs.get("learning_rate"),
            )
            self.losses.append((snap.step, float(loss)))
            metrics.record(snap)
            if json_lines:
                target = stream()
                target.write(format_progress_line(snap) + "\n")
                target.flush()

    return ProgressReporter()


#: Trainer attributes a training step adds to (logged metrics, token and head counters), put back
#: after the warm-up step so the run's logs count only its own steps.
_STEP_BOOKKEEPING = ("_metrics", "_total_train_tokens", "plain_head_batches")


def make_compile_callback(trainer: Any) -> Any:
    """A callback that compiles the decoder layers with one training step as training begins.

    The step is the trainer's own (``training_step`` on its first batch, with the loss arguments
    it passes), so the graph fits the calls that follow. Added after the progress reporter, so
    the compiling counts in the run's tokens/s. The batch comes from a dataloader of its own
    with the random state restored, so training sees the batches it would have seen without it.
    When training ends, the plain weights the compiled layers released are rebuilt
    (:func:`.compiled_layers.restore_weights`).
    """
    import copy

    import torch
    from transformers import TrainerCallback

    class CompileLayers(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            rng = torch.get_rng_state()
            try:
                batches = iter(trainer.get_train_dataloader())
                samples, count = trainer.get_batch_samples(batches, 1, args.device)
            finally:
                torch.set_rng_state(rng)
            saved = {
                name: copy.deepcopy(getattr(trainer, name))
                for name in _STEP_BOOKKEEPING
                if hasattr(trainer, name)
            }
            try:
                compiled_layers.warm_up(
                    trainer.model, lambda: trainer.training_step(trainer.model, samples[0], count)
                )
            finally:
                for name, value in saved.items():
                    setattr(trainer, name, value)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # The model leaves training whole: saving, merging or copying it reads the weights.
            compiled_layers.restore_weights(trainer.model)

    return CompileLayers()
