"""Execute a local plan: start each step, watch it, and record the Workspace's status as it goes.

The runner is the local controller and kubelet in one loop. For each step it writes the status the
operator would show at that point (``JobStarted`` when the tuning "Job" starts, ``InferenceReady``
once ``/health`` answers), starts the runtime command in its own process group with its output in
``logs/<step>.log``, and maps the exit code to the outcome. It runs in the foreground of
``kaito run`` (echoing the steps' logs, rendering training progress lines), or detached as
``python -m kaito.local.detached NAME`` (``kaito run --detach``), where its own messages go to
``logs/runner.log``.

Stopping: Ctrl-C (SIGINT) or SIGTERM (``kaito delete``) stops the current step's process group
(SIGTERM, then SIGKILL after a grace period) and records a resumable state: an interrupted tuning
goes back to Pending, and the next ``kaito run`` resumes from the tuning runtime's checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from kaito.api import constants, reasons
from kaito.local import outcome, probes, processes, status
from kaito.local import plan as local_plan
from kaito.local import store as local_store
from kaito.local.logview import LogFollower as LogFollower
from kaito.local.logview import curl_example as curl_example
from kaito.local.plan import build_plan as build_plan
from kaito.local.probes import free_bytes as free_bytes
from kaito.local.probes import registry_reachable as registry_reachable
from kaito.presets import catalog

STEP_RUNNER = local_store.RUNNER_STEP
EXIT_INTERRUPTED = 130
_POLL_SECONDS = 0.2
MIN_FREE_BYTES = 1024 * 1024
"""Below this much free space on the state disk, a starting server is stopped and marked Failed."""
_DISK_CHECK_S = 1.0

Echo = Callable[[str], None]


class StopRequestedError(Exception):
    """SIGTERM (``kaito delete``) or SIGINT (Ctrl-C) asked the runner to stop."""


class DiskFullError(Exception):
    """The state disk filled up while a step was starting."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopRequestedError(signal.Signals(signum).name)


def _pump_until_exit(proc: subprocess.Popen[bytes], follower: LogFollower | None) -> None:
    """Wait for ``proc`` to exit, echoing its new log lines meanwhile and once more at the end."""
    while proc.poll() is None:
        if follower:
            follower.pump()
        time.sleep(_POLL_SECONDS)
    if follower:
        follower.pump()


class Runner:
    """Runs one recorded Workspace to its end (or until stopped).

    Args:
        store: the state directory.
        name: the Workspace.
        echo: where progress messages go (the terminal, or the runner log when detached).
        follow_logs: also echo each step's output as it arrives (foreground runs).
        stop_grace_seconds: SIGTERM-to-SIGKILL delay when stopping a step.
    """

    def __init__(
        self,
        store: local_store.StateStore,
        name: str,
        *,
        echo: Echo,
        follow_logs: bool,
        stop_grace_seconds: float = processes.DEFAULT_STOP_GRACE_SECONDS,
    ) -> None:
        self.store = store
        self.name = name
        self.echo = echo
        self.follow_logs = follow_logs
        self.stop_grace = stop_grace_seconds
        self.record = outcome.Recorder(store, name, echo)
        self._handle: subprocess.Popen[bytes] | None = None
        self._current: local_store.ProcessRecord | None = None
        self._current_grace = stop_grace_seconds
        self._next_disk_check = 0.0

    def _give_up(self, message: str, *, disk_full: bool) -> None:
        """Stop the current step and mark the Workspace Failed with ``message``."""
        record, handle = self._current, self._handle
        if record is not None:
            self._note(f"stopping {record.step} (pid {record.pid}): {message}")
            processes.stop_process(record, grace_seconds=self._current_grace, handle=handle)
            if handle is not None:
                record.exit_code = processes.exit_code_of(handle)
            self._handle, self._current = None, None
        self._note(f"FAILED: {message}")
        self.store.release_reserve(self.name)
        self.record.fail(
            message,
            job_reason=status.REASON_LOCAL_DISK_FULL
            if disk_full
            else status.REASON_LOCAL_STEP_FAILED,
            server_reason=(
                status.REASON_LOCAL_DISK_FULL if disk_full else reasons.REASON_CONTAINER_START_ERROR
            ),
        )

    def _check_disk(self) -> None:
        now = time.monotonic()
        if now < self._next_disk_check:
            return
        self._next_disk_check = now + _DISK_CHECK_S
        free = free_bytes(self.store.root)
        if free is not None and free < MIN_FREE_BYTES:
            raise DiskFullError(
                f"the disk holding {self.store.root} is full ({free} bytes free) while "
                f"{self._current.step if self._current else 'a step'} was starting"
            )

    def _note(self, message: str) -> None:
        self.echo(message)
        if self.follow_logs:
            # Foreground: stdout is the terminal, so keep the runner's own log as well.
            with contextlib.suppress(OSError):
                log = self.store.log_path(self.name, STEP_RUNNER)
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("a", encoding="utf-8") as handle:
                    handle.write(message + "\n")

    # -- entry point -----------------------------------------------------------------------------
    def run(self) -> int:
        """Execute the plan; return the exit code (0 done or stopped cleanly after serving)."""
        self.record.run.runner = local_store.ProcessRecord(
            step=STEP_RUNNER,
            pid=os.getpid(),
            start_ticks=processes.process_start_ticks(os.getpid()),
            argv=list(sys.argv),
            log=str(self.store.log_path(self.name, STEP_RUNNER)),
        )
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        code = 1
        try:
            self.store.save_pid(self.name, self.record.run.runner)
            self.record.save()
            code = self._run_plan()
        except (StopRequestedError, KeyboardInterrupt):
            code = self._stopped()
        except (local_store.StateError, DiskFullError) as exc:
            # A record cannot be written (a full disk), or the disk filled while a server was
            # starting: stop what runs (never leave it orphaned), then record Failed with why.
            full = isinstance(exc, DiskFullError) or (
                isinstance(exc, local_store.StateWriteError) and exc.disk_full
            )
            self._give_up(str(exc), disk_full=full)
        except OSError as exc:  # a runtime command could not even start (not installed?)
            message = f"cannot start a step: {exc}"
            self._note(f"FAILED: {message}")
            self.record.fail(
                message,
                job_reason=reasons.REASON_CONTAINER_START_ERROR,
                server_reason=reasons.REASON_CONTAINER_START_ERROR,
            )
        finally:
            # Recording the runner's own exit tells readers the outcome above is final (a runner
            # that vanished without one crashed: see launch.refresh_stale).
            if self.record.run.runner is not None:
                self.record.run.runner.exit_code = code
            self.record.save_last()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _run_plan(self) -> int:
        plan = build_plan(self.record.ws, self.store, self.record.run)
        for path, text in plan.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        tuning = self.record.ws.tuning is not None
        skip_jobs = tuning and self._already_tuned(plan)
        if skip_jobs:
            self._note(
                f"tuning already succeeded; reusing the adapter in {plan.output_dir} "
                f"(kaito delete {self.name} to train again)"
            )
        for step in plan.steps:
            if step.kind == "job":
                if skip_jobs:
                    continue
                code = self._run_job(step, plan)
                if code != 0:
                    return 1
                continue
            if tuning and not skip_jobs:
                self._finish_tuning(plan)
            return self._run_server(step, plan)
        if tuning and not skip_jobs:
            self._finish_tuning(plan)
        return 0

    def _already_tuned(self, plan: local_plan.LocalPlan) -> bool:
        state = self.record.ws.status.state if self.record.ws.status else None
        sentinel = (plan.output_dir or Path("/nonexistent")) / constants.TUNING_SENTINEL_FILE
        return state == constants.STATE_SUCCEEDED and sentinel.is_file()

    # -- jobs ------------------------------------------------------------------------------------
    def _run_job(self, step: local_plan.Step, plan: local_plan.LocalPlan) -> int:
        tuning = self.record.ws.tuning is not None
        if step.name == local_plan.STEP_PUSH and plan.push_image:
            ok, why = registry_reachable(plan.push_image)
            if not ok:
                note = f"push to {plan.push_image} skipped: registry not reachable ({why})"
                self._note(note)
                self.record.run.notes.append(note)
                self.record.save()
                return 0
        if tuning:
            self.record.seen.job = "running"
            self.record.observe()
        self._note(f"==> {step.description}")
        code = self._start_and_wait(step)
        if code == 0:
            return 0
        log = self.store.log_path(self.name, step.name)
        message = (
            f"{step.name} exited with code {code}: {self._last_line(log)} (kaito logs {self.name})"
        )
        self._note(f"FAILED: {message}")
        if tuning:
            self.record.seen.job_failed(status.REASON_LOCAL_STEP_FAILED, message)
        else:
            self.record.seen.server_down(reasons.REASON_IMAGE_PULL_ERROR, message)
        self.record.observe()
        self.record.save()
        return code

    def _start_and_wait(self, step: local_plan.Step) -> int:
        proc = self._start(step)
        follower = self._follower(step)
        _pump_until_exit(proc, follower)
        return self._finished(proc)

    def _start(self, step: local_plan.Step) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(step.env)
        log = self.store.log_path(self.name, step.name)
        try:
            proc, record = processes.start_process(step.name, step.argv, log, env=env)
        except OSError as exc:
            with contextlib.suppress(OSError), log.open("a", encoding="utf-8") as handle:
                handle.write(f"cannot start {step.argv[0]}: {exc}\n")
            raise
        self._handle, self._current = proc, record
        self._current_grace = max(self.stop_grace, step.stop_grace_seconds)
        self.record.run.processes[step.name] = record
        self.store.save_pid(self.name, record)
        self.record.save()
        return proc

    def _finished(self, proc: subprocess.Popen[bytes]) -> int:
        code = processes.exit_code_of(proc)
        if self._current is not None:
            self._current.exit_code = code
        self._handle, self._current = None, None
        self.record.save()
        return code

    def _follower(self, step: local_plan.Step) -> LogFollower | None:
        if not self.follow_logs:
            return None
        # The log was just created for this step: show it from the start.
        return LogFollower(self.store.log_path(self.name, step.name), self.echo, from_start=True)

    def _finish_tuning(self, plan: local_plan.LocalPlan) -> None:
        if plan.copy_output_to is not None and plan.output_dir is not None:
            plan.copy_output_to.mkdir(parents=True, exist_ok=True)
            for item in plan.output_dir.iterdir():
                if item.is_file():
                    shutil.copy2(item, plan.copy_output_to / item.name)
            self._note(f"adapter copied to {plan.copy_output_to}")
        where = plan.output_dir
        message = f"the adapter is in {where}"
        if plan.push_image and not self.record.run.notes:
            message += f" and was pushed to {plan.push_image}"
        self.record.seen.job = "succeeded"
        self.record.observe()
        self.record.save()
        self._note(f"==> tuning succeeded: {message}")

    # -- server ----------------------------------------------------------------------------------
    def _run_server(self, step: local_plan.Step, plan: local_plan.LocalPlan) -> int:
        for link in plan.links:
            link.link.parent.mkdir(parents=True, exist_ok=True)
            if link.link.is_symlink() or link.link.exists():
                if link.link.is_symlink() or link.link.is_file():
                    link.link.unlink()
                else:
                    shutil.rmtree(link.link)
            link.link.symlink_to(link.target.resolve(), target_is_directory=True)
        self.record.seen.server, self.record.seen.server_failure = "starting", None
        self.record.observe()
        self._note(f"==> {step.description}")
        proc = self._start(step)
        follower = self._follower(step)
        url = f"http://{local_plan.LOCAL_HOST}:{plan.port}"
        spec = catalog.get_model(plan.served_model or "")
        deadline = time.monotonic() + spec.readiness_timeout_s
        while proc.poll() is None and not probes.healthy(url):
            if follower:
                follower.pump()
            self._check_disk()
            if time.monotonic() > deadline:
                self._note(f"the server did not become ready in {spec.readiness_timeout_s}s")
                processes.stop_process(
                    self._current_record(), grace_seconds=self.stop_grace, handle=proc
                )
                break
            time.sleep(_POLL_SECONDS)
        if proc.poll() is None:
            self._ready(url, plan)
        _pump_until_exit(proc, follower)
        code = self._finished(proc)
        message = f"kaito-serve exited with code {code} (kaito logs {self.name})"
        self._note(message)
        self.record.seen.server_down(status.reason_for_exit(code), message)
        self.record.observe()
        self.record.save()
        return 1 if code != 0 else 0

    def _current_record(self) -> local_store.ProcessRecord:
        assert self._current is not None
        return self._current

    def _ready(self, url: str, plan: local_plan.LocalPlan) -> None:
        self.record.seen.server_ready()
        models = [plan.served_model or "", *plan.adapter_names]
        self.record.run.endpoint = url
        self.record.run.served_models = models
        if plan.benchmark:
            self._note(f"==> benchmark: {self.record.read_benchmark()}")
        # Say so before recording it: whoever sees the Workspace ready can also read these lines.
        self._note(f"==> ready: {url} (OpenAI API at {url}/v1, legacy API at {url}/chat)")
        self._note(f"    models: {', '.join(models)}")
        self._note("    try:")
        self._note(curl_example(url, models[-1]))
        self.record.observe()
        self.record.save()

    # -- stopping --------------------------------------------------------------------------------
    def _stopped(self) -> int:
        # Ignore further signals while we clean up, so a second Ctrl-C cannot leave orphans.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        record, handle = self._current, self._handle
        step = record.step if record else ""
        if record is not None:
            self._note(f"stopping {step} (pid {record.pid})...")
            if step == local_plan.STEP_TUNE:
                self._note("  waiting for the current training step to be checkpointed")
            processes.stop_process(record, grace_seconds=self._current_grace, handle=handle)
            if handle is not None:
                self._finished(handle)
        if step == local_plan.STEP_SERVE or self.record.seen.ever_ready:
            self.record.seen.server_down(status.REASON_LOCAL_STOPPED, "the server was stopped")
        elif self.record.ws.tuning is not None and self.record.seen.job != "succeeded":
            # Interrupted, not failed: the Job is pending again and kaito run resumes it.
            self.record.seen.job = "pending"
            self._note(
                f"stopped during {step or 'start-up'}; `kaito run -f "
                f"{self.record.run.options.source}` resumes from the last checkpoint"
            )
        else:
            self.record.seen.server_down(status.REASON_LOCAL_STOPPED, "stopped before ready")
        self.record.observe()
        self.record.save_last()
        self._note("stopped")
        return EXIT_INTERRUPTED

    @staticmethod
    def _last_line(log: Path) -> str:
        try:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1].strip()[:200] if lines else ""
