"""``make demo``: fine-tune a real model on this machine, then show its answers before and after.

The demo drives the product exactly as a user would: ``kaito run -f examples/demo/tuning.yaml
--serve --detach`` (validation, refusals, ``kaito-tune``, then ``kaito-serve`` with the base model
and the new adapter), while this module follows the logs (model conversion, training steps with
ETA, server start). Then it sends the same held-out prompts (paraphrases absent from the training
data) to the base model and to the adapter, prints both answers side by side, and exits non-zero
unless every adapter answer contains the trained fact and differs from the base model's answer.
Finally ``kaito delete`` stops the server (``--keep-serving`` leaves it up to chat with).

The same driver runs a reduced variant in the test suite (the tiny test model via ``--model-dir``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from kaito.local import bundle as local_bundle
from kaito.local import launch, runner, settings
from kaito.local import plan as local_plan
from kaito.local import store as local_store
from kaito.runtime.inference import settings as inference_settings

DEFAULT_WORKSPACE = Path("examples/demo/tuning.yaml")
DEFAULT_EVAL = Path("examples/demo/eval.yaml")
DEFAULT_TIMEOUT_S = 900.0
DEFAULT_MAX_TOKENS = 40
_POLL_SECONDS = 0.5
_REQUEST_TIMEOUT_S = 120.0
_CELL_WIDTH = 38

Echo = Callable[[str], None]


class DemoError(Exception):
    """The demo could not run (as opposed to running and failing its check)."""


@dataclass(frozen=True)
class EvalPrompt:
    """A held-out prompt and the text the adapter's answer must contain."""

    prompt: str
    expect: str


@dataclass(frozen=True)
class Comparison:
    """One prompt answered by both models."""

    prompt: EvalPrompt
    before: str
    after: str

    @property
    def learned(self) -> bool:
        """The adapter states the trained fact, and the base model said something else."""
        return (
            self.prompt.expect.lower() in self.after.lower()
            and self.after.strip() != self.before.strip()
        )


def load_eval(path: Path) -> list[EvalPrompt]:
    """Read ``prompts: [{prompt, expect}]`` from a YAML file.

    Raises:
        DemoError: the file is unreadable or malformed.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DemoError(f"cannot read {path}: {exc}") from exc
    items = document.get("prompts") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        raise DemoError(f"{path}: expected a non-empty 'prompts' list")
    prompts = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("prompt") or not item.get("expect"):
            raise DemoError(f"{path}: prompts[{index}] needs 'prompt' and 'expect'")
        prompts.append(EvalPrompt(prompt=str(item["prompt"]), expect=str(item["expect"])))
    return prompts


def chat(url: str, model: str, prompt: str, max_tokens: int) -> str:
    """Greedy answer of ``model`` to ``prompt`` through the OpenAI chat endpoint."""
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
        }
    ).encode()
    request = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=_REQUEST_TIMEOUT_S) as response:
            reply = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DemoError(f"request to {model} at {url} failed: {exc}") from exc
    return str(reply["choices"][0]["message"]["content"]).strip()


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines


def render_comparison(rows: list[Comparison], base: str, adapter: str) -> str:
    """A plain-text side-by-side table: prompt, base answer, adapter answer, verdict."""
    headers = ("held-out prompt", f"before ({base})", f"after ({adapter})", "learned")
    widths = (_CELL_WIDTH, _CELL_WIDTH, _CELL_WIDTH, 7)
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [
        rule,
        "| " + " | ".join(h[:w].ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        rule,
    ]
    for row in rows:
        cells = [
            _wrap(row.prompt.prompt, widths[0]),
            _wrap(row.before or "(empty)", widths[1]),
            _wrap(row.after or "(empty)", widths[2]),
            ["yes" if row.learned else "NO"],
        ]
        height = max(len(c) for c in cells)
        for i in range(height):
            parts = [
                (cell[i] if i < len(cell) else "")[:width].ljust(width)
                for cell, width in zip(cells, widths, strict=True)
            ]
            out.append("| " + " | ".join(parts) + " |")
        out.append(rule)
    return "\n".join(out)


def _kaito(args: list[str], echo: Echo) -> subprocess.CompletedProcess[str]:
    command = [*local_plan.runtime_command("kaito"), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in (done.stdout + done.stderr).splitlines():
        echo(f"  {line}")
    return done


def follow_until_serving(
    store: local_store.StateStore, name: str, echo: Echo, timeout_s: float
) -> local_store.LocalRun:
    """Echo every step's log while the run proceeds; return once the server answers.

    Raises:
        DemoError: the run failed or timed out.
    """
    followers: dict[Path, runner.LogFollower] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        for path in store.log_files(name):
            followers.setdefault(path, runner.LogFollower(path, echo, from_start=True)).pump()
        try:
            ws = launch.refresh_stale(store, name)
        except local_store.StateError as exc:
            raise DemoError(str(exc)) from exc
        if launch.is_serving(ws):
            for follower in followers.values():
                follower.pump()  # the lines written since the last poll, "==> ready" among them
            return store.load_run(name)
        state = ws.status.state if ws.status else None
        if state in ("Failed", "NotReady"):
            raise DemoError(f"{name} is {state}: {launch.failure_message(ws)}")
        if time.monotonic() > deadline:
            raise DemoError(f"{name} was not serving after {timeout_s:.0f}s (state {state})")
        time.sleep(_POLL_SECONDS)


def run_demo(
    workspace_file: Path,
    eval_file: Path,
    *,
    state_dir: Path,
    echo: Echo,
    model_dir: Path | None = None,
    keep_serving: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> int:
    """Tune, serve, compare; return 0 when the adapter learned every held-out fact, else 1.

    Raises:
        DemoError: the demo could not run (bad files, a failed step, a timeout).
    """
    started = time.monotonic()
    prompts = load_eval(eval_file)
    try:
        name = local_bundle.load_bundle(workspace_file).workspace.metadata.name or ""
    except local_bundle.BundleError as exc:
        raise DemoError(str(exc)) from exc
    store = local_store.StateStore(state_dir)
    if store.workspace_dir(name).exists():
        echo(f"==> removing the previous {name} (a demo always trains afresh)")
        _kaito(["delete", name, "--state-dir", str(state_dir)], echo)
    echo(f"==> kaito run -f {workspace_file} --serve --detach")
    run_args = ["run", "-f", str(workspace_file), "--serve", "--detach"]
    run_args += ["--state-dir", str(state_dir)]
    if model_dir is not None:
        run_args += ["--model-dir", str(model_dir)]
    done = _kaito(run_args, echo)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise DemoError(
            f"kaito run exited with code {done.returncode}: {detail[-1] if detail else ''}"
        )
    try:
        run = follow_until_serving(store, name, echo, timeout_s)
        if not run.endpoint or len(run.served_models) < 2:
            raise DemoError(f"{name} serves no adapter (models: {run.served_models})")
        base, adapter = run.served_models[0], run.served_models[1]
        echo(f"==> asking {len(prompts)} held-out questions to {base} and to {adapter}")
        rows = [
            Comparison(
                prompt=p,
                before=chat(run.endpoint, base, p.prompt, max_tokens),
                after=chat(run.endpoint, adapter, p.prompt, max_tokens),
            )
            for p in prompts
        ]
    finally:
        if not keep_serving:
            echo(f"==> kaito delete {name}")
            _kaito(["delete", name, "--state-dir", str(state_dir)], echo)
    echo(render_comparison(rows, base, adapter))
    learned = sum(row.learned for row in rows)
    elapsed = time.monotonic() - started
    echo(f"{learned}/{len(rows)} held-out answers changed as trained ({elapsed:.0f}s in all)")
    if keep_serving:
        echo(f"still serving at {run.endpoint}; stop it with: kaito delete {name}")
    return 0 if learned == len(rows) else 1


def main(argv: list[str] | None = None) -> int:
    """``python scripts/demo.py [--workspace F] [--eval F] [--model-dir D] [--keep-serving]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workspace", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, dest="eval_file")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--keep-serving", action="store_true")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    args = parser.parse_args(argv)
    state_dir = args.state_dir or settings.load_local_settings().state_dir
    # The demo's server answers eight prompts: compiling its decoding step (kaito-serve's
    # default, a minute or two on two cores) would cost more than it saves. Inherited by the
    # detached runner and so by kaito-serve; a value the user set wins.
    os.environ.setdefault(inference_settings.COMPILE_DECODE_ENV, "0")

    def echo(message: str) -> None:
        print(message, flush=True)  # noqa: T201 - the demo talks to the terminal

    try:
        return run_demo(
            args.workspace,
            args.eval_file,
            state_dir=state_dir,
            echo=echo,
            model_dir=args.model_dir,
            keep_serving=args.keep_serving,
            timeout_s=args.timeout,
            max_tokens=args.max_tokens,
        )
    except DemoError as exc:
        echo(f"demo failed: {exc}")
        return 1
    except KeyboardInterrupt:
        echo("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
