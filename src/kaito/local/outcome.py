"""What a local run records as it goes: the Workspace's status, and the run record.

The supervisor reports what it sees of its processes into :attr:`Recorder.seen`; the status is
recomputed from that by the controller's rules (:func:`kaito.local.status.observe`) and written
with the run record (processes, endpoint, notes) to the state directory, so ``kaito get`` from any
terminal shows where the run is.
"""

from __future__ import annotations

from collections.abc import Callable

from kaito.api import benchmark as api_benchmark
from kaito.api import constants
from kaito.local import plan as local_plan
from kaito.local import status
from kaito.local import store as local_store

BENCHMARK_LOG_LINES = 500
"""How much of the server log's tail is searched for the benchmark result."""


class Recorder:
    """The recorded Workspace and run of one ``kaito run``, and what has been seen of them."""

    def __init__(
        self, store: local_store.StateStore, name: str, echo: Callable[[str], None]
    ) -> None:
        self.store = store
        self.name = name
        self.echo = echo
        self.ws = store.load_workspace(name)
        self.run = store.load_run(name)
        self.seen = status.Observed.from_status(self.ws)

    def observe(self) -> None:
        """Recompute the status from what has been seen of the processes (controller rules)."""
        status.observe(self.ws, self.seen)

    def read_benchmark(self) -> str:
        """Read the server's benchmark result from its log into :attr:`seen`; say what was found.

        The server prints it before ``/health`` passes; the tail of its log is read as the
        operator reads the pod log's tail, with the same parser.
        """
        log = self.store.log_path(self.name, local_plan.STEP_SERVE)
        try:
            tail = log.read_text(errors="replace").splitlines()[-BENCHMARK_LOG_LINES:]
            # Only vLLM servers benchmark (upstream's rule), so the engine is known.
            config = {"engine": constants.RUNTIME_VLLM}
            performance = api_benchmark.parse_benchmark_log(tail, config)
        except (OSError, api_benchmark.BenchmarkLogError) as exc:
            self.seen.benchmark_error = str(exc)
            return str(exc)
        self.seen.performance = performance.to_wire()
        metric = performance.metrics[api_benchmark.METRIC_PEAK_TPM]
        return f"{metric.value} {metric.unit} (kaito get {self.name} -o yaml)"

    def fail(self, message: str, *, job_reason: str, server_reason: str) -> None:
        """The run cannot go on: the tuning steps failed, unless done; else the server is down."""
        if self.ws.tuning is not None and self.seen.job != "succeeded":
            self.seen.job_failed(job_reason, message)
        else:
            self.seen.server_down(server_reason, message)
        self.observe()

    def save(self) -> None:
        """Write the Workspace and the run record.

        Raises:
            local_store.StateError: a record cannot be written (a full disk, say).
        """
        self.store.save_workspace(self.ws)
        self.store.save_run(self.run)

    def save_last(self) -> None:
        """Record the outcome if the folder is still there (``kaito delete`` may have removed it).

        On a full disk the space reserved at ``kaito run`` is given up for this last record; a
        record that still cannot be written is reported through ``echo``, never raised.
        """
        try:
            if not self.store.workspace_dir(self.name).is_dir():
                return
            self.save()
        except local_store.StateWriteError as exc:
            if not (exc.disk_full and self.store.release_reserve(self.name)):
                self.echo(f"error: the outcome could not be recorded: {exc}")
                return
            try:
                self.save()
            except (local_store.StateError, OSError) as again:
                self.echo(f"error: the outcome could not be recorded: {again}")
        except (local_store.StateError, OSError) as exc:
            self.echo(f"error: the outcome could not be recorded: {exc}")
