"""Execute a local plan: start each step, watch it, and record the Workspace's status as it goes.

The runner is the local controller and kubelet in one loop. For each step it writes the status the
operator would show at that point (``JobStarted`` when the tuning "Job" starts, ``InferenceReady``
once ``/health`` answers), starts the runtime command in its own process group with its output in
``logs/<step>.log``, and maps the exit code to the outcome. It runs in the foreground of
``kaito run`` (echoing the steps' logs, rendering training progress lines), or detached as
``python -m kaito.local.runner NAME`` (``kaito run --detach``), where its own messages go to
``logs/runner.log``.

Stopping: Ctrl-C (SIGINT) or SIGTERM (``kaito delete``) stops the current step's process group
(SIGTERM, then SIGKILL after a grace period) and records a resumable state: an interrupted tuning
goes back to Pending, and the next ``kaito run`` resumes from the tuning runtime's checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from kaito.api import benchmark as api_benchmark
from kaito.api import constants, v1beta1
from kaito.local import plan as local_plan
from kaito.local import processes, settings, status
from kaito.local import store as local_store
from kaito.presets import catalog

STEP_RUNNER = local_store.RUNNER_STEP
EXIT_INTERRUPTED = 130
_POLL_SECONDS = 0.2
# As much of the server log as the operator reads from a pod (upstream's 500-line tail).
_BENCHMARK_LOG_LINES = 500
_BAR_INTERVAL_S = 5.0
_HEALTH_TIMEOUT_S = 2.0
_REGISTRY_TIMEOUT_S = 3.0
_DEFAULT_REGISTRY_PORT = 443
_LOCAL_REGISTRY_HOSTS = ("localhost", "127.0.0.1", "[::1]")
MIN_FREE_BYTES = 1024 * 1024
"""Below this much free space on the state disk, a starting server is stopped and marked Failed."""
_DISK_CHECK_S = 1.0

Echo = Callable[[str], None]


class StopRequestedError(Exception):
    """SIGTERM (``kaito delete``) or SIGINT (Ctrl-C) asked the runner to stop."""


class DiskFullError(Exception):
    """The state disk filled up while a step was starting."""


def free_bytes(path: Path) -> int | None:
    """Free space (for this user) on the file system holding ``path``; None if unknown."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise StopRequestedError(signal.Signals(signum).name)


def build_plan(
    ws: v1beta1.Workspace, store: local_store.StateStore, run: local_store.LocalRun
) -> local_plan.LocalPlan:
    """Rebuild the plan of a recorded run (the same inputs give the same plan)."""
    options = run.options
    model_dir = Path(options.model_dir) if options.model_dir else None
    port = options.port or local_plan.DEFAULT_PORT
    base_dir = Path(options.source).resolve().parent if options.source else None
    if ws.tuning is not None:
        return local_plan.plan_tuning(
            ws,
            store,
            config_text=options.tuning_config or "",
            serve=options.serve,
            port=port,
            engine=options.engine,
            model_dir=model_dir,
            base_dir=base_dir,
        )
    return local_plan.plan_inference(
        ws,
        store,
        config_text=options.inference_config,
        port=port,
        engine=options.engine,
        model_dir=model_dir,
        base_dir=base_dir,
    )


def registry_reachable(image: str) -> tuple[bool, str]:
    """Whether the registry host of ``image`` accepts a TCP connection (push only if it does)."""
    first = image.split("/", 1)[0]
    if "/" not in image or ("." not in first and ":" not in first and first != "localhost"):
        return False, f"{image} names no registry host"
    parsed = urllib.parse.urlsplit(f"//{first}")
    host = parsed.hostname or first
    try:
        port = parsed.port or _DEFAULT_REGISTRY_PORT
    except ValueError:
        return False, f"bad registry address {first}"
    if "_here" in first.lower():  # the founding example's ACR_REPO_HERE-style placeholders
        return False, f"{host} is a placeholder"
    try:
        with socket.create_connection((host, port), timeout=_REGISTRY_TIMEOUT_S):
            return True, ""
    except OSError as exc:
        return False, f"cannot connect to {host}:{port}: {exc.strerror or exc}"


def format_progress(line: str) -> str | None:
    """Render a tuning progress JSON line as ``step 10/40 · loss 1.23 · ETA 1m40s``; else None."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") != "progress":
        return None
    parts = [f"step {event.get('step')}/{event.get('total_steps')}"]
    if isinstance(event.get("loss"), int | float):
        parts.append(f"loss {event['loss']:.4f}")
    if isinstance(event.get("seconds_per_step"), int | float):
        parts.append(f"{event['seconds_per_step']:.2f} s/step")
    eta = event.get("eta_seconds")
    if isinstance(eta, int | float):
        minutes, seconds = divmod(round(eta), 60)
        parts.append(f"ETA {minutes}m{seconds:02d}s" if minutes else f"ETA {seconds}s")
    return "  training: " + " · ".join(parts)


_NOISE_MARKERS = (f'"GET {constants.HEALTH_PATH} HTTP', "Warning: ", "warnings.warn(")


def is_noise(line: str) -> bool:
    """Lines kept in the log file but not echoed: our own health polls and library warnings."""
    return any(marker in line for marker in _NOISE_MARKERS)


class LogFollower:
    """Echo new lines of a log file, compactly.

    Tuning progress JSON lines are rendered as one short line; a terminal progress bar (segments
    separated by carriage returns, as tqdm writes them) is shown at most every few seconds and
    once finished, instead of once per redraw.
    """

    def __init__(
        self,
        path: Path,
        echo: Echo,
        *,
        from_start: bool = False,
        bar_interval_s: float = _BAR_INTERVAL_S,
    ) -> None:
        self._path = path
        self._echo = echo
        self._offset = 0 if from_start or not path.exists() else path.stat().st_size
        self._partial = ""
        self._bar_interval = bar_interval_s
        self._last_bar = -_BAR_INTERVAL_S

    def pump(self) -> None:
        """Echo what was appended since the last call."""
        try:
            with self._path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return
        if not chunk:
            return
        self._offset += len(chunk)
        lines = (self._partial + chunk.decode("utf-8", errors="replace")).split("\n")
        self._partial = lines.pop()
        for line in lines:
            segments = [seg for seg in line.split("\r") if seg.strip()]
            for segment in segments[:-1]:
                self._bar(segment)
            if segments:
                self._line(segments[-1])
        if "\r" in self._partial:
            *redraws, self._partial = self._partial.split("\r")
            for segment in redraws:
                if segment.strip():
                    self._bar(segment)

    def _bar(self, segment: str) -> None:
        now = time.monotonic()
        if now - self._last_bar >= self._bar_interval:
            self._last_bar = now
            self._line(segment)

    def _line(self, line: str) -> None:
        if is_noise(line):
            return
        rendered = format_progress(line.strip())
        self._echo(rendered if rendered is not None else f"  {line.rstrip()}")


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
        self.ws = store.load_workspace(name)
        self.run_record = store.load_run(name)
        self._handle: subprocess.Popen[bytes] | None = None
        self._current: local_store.ProcessRecord | None = None
        self._current_grace = stop_grace_seconds
        self._ever_ready = False
        self._next_disk_check = 0.0

    # -- recording -------------------------------------------------------------------------------
    def _save(self) -> None:
        self.store.save_workspace(self.ws)
        self.store.save_run(self.run_record)

    def _save_last(self) -> None:
        """Record the outcome if the folder is still there (``kaito delete`` may have removed it).

        On a full disk the space reserved at ``kaito run`` is given up for this last record.
        """
        try:
            if not self.store.workspace_dir(self.name).is_dir():
                return
            self._save()
        except local_store.StateWriteError as exc:
            if not (exc.disk_full and self.store.release_reserve(self.name)):
                self.echo(f"error: the outcome could not be recorded: {exc}")
                return
            try:
                self._save()
            except (local_store.StateError, OSError) as again:
                self.echo(f"error: the outcome could not be recorded: {again}")
        except (local_store.StateError, OSError) as exc:
            self.echo(f"error: the outcome could not be recorded: {exc}")

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
        succeeded = bool(self.ws.status and self.ws.status.state == constants.STATE_SUCCEEDED)
        if status.is_tuning(self.ws) and not succeeded:
            status.mark_job_failed(self.ws, message)
        else:
            reason = (
                status.REASON_LOCAL_DISK_FULL
                if disk_full
                else constants.REASON_CONTAINER_START_ERROR
            )
            status.mark_inference_down(self.ws, reason, message, ever_ready=self._ever_ready)

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
        self.run_record.runner = local_store.ProcessRecord(
            step=STEP_RUNNER,
            pid=os.getpid(),
            start_ticks=processes.process_start_ticks(os.getpid()),
            argv=list(sys.argv),
            log=str(self.store.log_path(self.name, STEP_RUNNER)),
        )
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        code = 1
        try:
            self.store.save_pid(self.name, self.run_record.runner)
            self._save()
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
            succeeded = bool(self.ws.status and self.ws.status.state == constants.STATE_SUCCEEDED)
            if status.is_tuning(self.ws) and not succeeded:
                status.mark_job_failed(self.ws, message)
            else:
                status.mark_inference_down(
                    self.ws,
                    constants.REASON_CONTAINER_START_ERROR,
                    message,
                    ever_ready=self._ever_ready,
                )
        finally:
            # Recording the runner's own exit tells readers the outcome above is final (a runner
            # that vanished without one crashed: see launch.refresh_stale).
            if self.run_record.runner is not None:
                self.run_record.runner.exit_code = code
            self._save_last()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _run_plan(self) -> int:
        plan = build_plan(self.ws, self.store, self.run_record)
        for path, text in plan.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        tuning = status.is_tuning(self.ws)
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
        state = self.ws.status.state if self.ws.status else None
        sentinel = (plan.output_dir or Path("/nonexistent")) / constants.TUNING_SENTINEL_FILE
        return state == constants.STATE_SUCCEEDED and sentinel.is_file()

    # -- jobs ------------------------------------------------------------------------------------
    def _run_job(self, step: local_plan.Step, plan: local_plan.LocalPlan) -> int:
        tuning = status.is_tuning(self.ws)
        if step.name == local_plan.STEP_PUSH and plan.push_image:
            ok, why = registry_reachable(plan.push_image)
            if not ok:
                note = f"push to {plan.push_image} skipped: registry not reachable ({why})"
                self._note(note)
                self.run_record.notes.append(note)
                self._save()
                return 0
        if tuning:
            status.mark_job_started(self.ws, step.description)
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
            status.mark_job_failed(self.ws, message)
        else:
            status.mark_inference_down(
                self.ws, constants.REASON_IMAGE_PULL_ERROR, message, ever_ready=False
            )
        self._save()
        return code

    def _start_and_wait(self, step: local_plan.Step) -> int:
        proc = self._start(step)
        follower = self._follower(step)
        while proc.poll() is None:
            if follower:
                follower.pump()
            time.sleep(_POLL_SECONDS)
        if follower:
            follower.pump()
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
        self.run_record.processes[step.name] = record
        self.store.save_pid(self.name, record)
        self._save()
        return proc

    def _finished(self, proc: subprocess.Popen[bytes]) -> int:
        code = processes.exit_code_of(proc)
        if self._current is not None:
            self._current.exit_code = code
        self._handle, self._current = None, None
        self._save()
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
        if plan.push_image and not self.run_record.notes:
            message += f" and was pushed to {plan.push_image}"
        status.mark_job_succeeded(self.ws, message)
        self._save()
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
        status.mark_inference_pending(self.ws, step.description)
        self._note(f"==> {step.description}")
        proc = self._start(step)
        follower = self._follower(step)
        url = f"http://{local_plan.LOCAL_HOST}:{plan.port}"
        spec = catalog.get_model(plan.served_model or "")
        deadline = time.monotonic() + spec.readiness_timeout_s
        while proc.poll() is None and not self._healthy(url):
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
            while proc.poll() is None:
                if follower:
                    follower.pump()
                time.sleep(_POLL_SECONDS)
        if follower:
            follower.pump()
        code = self._finished(proc)
        message = f"kaito-serve exited with code {code} (kaito logs {self.name})"
        self._note(message)
        status.mark_inference_down(
            self.ws, status.reason_for_exit(code), message, ever_ready=self._ever_ready
        )
        self._save()
        return 1 if code != 0 else 0

    def _current_record(self) -> local_store.ProcessRecord:
        assert self._current is not None
        return self._current

    @staticmethod
    def _healthy(url: str) -> bool:
        try:
            with urllib.request.urlopen(
                url + constants.HEALTH_PATH, timeout=_HEALTH_TIMEOUT_S
            ) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _ready(self, url: str, plan: local_plan.LocalPlan) -> None:
        self._ever_ready = True
        models = [plan.served_model or "", *plan.adapter_names]
        self.run_record.endpoint = url
        self.run_record.served_models = models
        status.mark_inference_ready(self.ws, f"serving {', '.join(models)} at {url}")
        if plan.benchmark:
            self._record_benchmark(plan)
        self._save()
        self._note(f"==> ready: {url} (OpenAI API at {url}/v1, legacy API at {url}/chat)")
        self._note(f"    models: {', '.join(models)}")
        self._note("    try:")
        self._note(curl_example(url, models[-1]))

    def _record_benchmark(self, plan: local_plan.LocalPlan) -> None:
        # The server printed its result before /health passed; read it as the operator reads the
        # pod log's tail.
        log = self.store.log_path(self.name, local_plan.STEP_SERVE)
        try:
            tail = log.read_text(errors="replace").splitlines()[-_BENCHMARK_LOG_LINES:]
            # Only vLLM servers benchmark (upstream's rule), so the engine is known.
            config = {"engine": constants.RUNTIME_VLLM}
            performance = api_benchmark.parse_benchmark_log(tail, config)
        except (OSError, api_benchmark.BenchmarkLogError) as exc:
            status.mark_benchmark(self.ws, None, str(exc))
            self._note(f"==> benchmark: {exc}")
            return
        status.mark_benchmark(self.ws, performance, "benchmark result has been recorded")
        metric = performance.metrics[api_benchmark.METRIC_PEAK_TPM]
        self._note(f"==> benchmark: {metric.value} {metric.unit} (kaito get {self.name} -o yaml)")

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
        if step == local_plan.STEP_SERVE or self._ever_ready:
            status.mark_inference_down(
                self.ws,
                status.REASON_LOCAL_STOPPED,
                "the server was stopped",
                ever_ready=True,
            )
        elif (
            status.is_tuning(self.ws)
            and self.ws.status
            and self.ws.status.state != (constants.STATE_SUCCEEDED)
        ):
            status.mark_job_interrupted(
                self.ws,
                f"stopped during {step or 'start-up'}; `kaito run -f "
                f"{self.run_record.options.source}` resumes from the last checkpoint",
            )
        else:
            status.mark_inference_down(
                self.ws, status.REASON_LOCAL_STOPPED, "stopped before ready", ever_ready=False
            )
        self._save_last()
        self._note("stopped")
        return EXIT_INTERRUPTED

    @staticmethod
    def _last_line(log: Path) -> str:
        try:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1].strip()[:200] if lines else ""


def curl_example(url: str, model: str) -> str:
    """A ready-to-paste request for the chat endpoint."""
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "Hello!"}],
            "max_tokens": 64,
        }
    )
    return (
        f"    curl -s {url}/v1/chat/completions -H 'Content-Type: application/json' \\\n"
        f"      -d '{body}'"
    )


def detached_command(state_dir: Path, name: str, *, lock_fd: int | None = None) -> list[str]:
    """The command ``kaito run --detach`` starts: this module, for one Workspace.

    ``lock_fd``: the run lock's descriptor, inherited by the runner, which holds it for its life.
    """
    argv = [sys.executable, "-m", "kaito.local.runner", "--state-dir", str(state_dir)]
    if lock_fd is not None:
        argv += ["--lock-fd", str(lock_fd)]
    return [*argv, name]


def main(argv: list[str] | None = None) -> int:
    """``python -m kaito.local.runner [--state-dir DIR] NAME``: run a prepared Workspace."""
    parser = argparse.ArgumentParser(prog="python -m kaito.local.runner")
    parser.add_argument("name")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--lock-fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.state_dir or settings.load_local_settings().state_dir
    store = local_store.StateStore(root)
    if args.lock_fd is not None:
        # The inherited run lock: kept open (held) until this process exits; name us its holder.
        local_store.write_lock_holder(args.lock_fd, os.getpid())

    def echo(message: str) -> None:
        print(message, flush=True)  # noqa: T201 - stdout is the runner's log file

    try:
        runner = Runner(store, args.name, echo=echo, follow_logs=False)
    except local_store.StateError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
