"""How a step's log is shown while it runs: compact progress lines, throttled progress bars.

The log file keeps everything; the terminal sees each new line once, tuning progress JSON as one
short line, a redrawn progress bar at most every few seconds, and none of our own health polls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from kaito.api import constants

Echo = Callable[[str], None]
_BAR_INTERVAL_S = 5.0


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
