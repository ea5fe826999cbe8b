"""Paired A/B of the engine's decoding step: CPU time per step, old path against new.

Why CPU time and pairs: on a shared 2-core machine wall time measures the neighbours. A step's
CPU time on one torch thread (``time.thread_time`` of the scheduler thread, which with one
thread runs every operator itself) barely moves with the load, and alternating the two paths
on the same batch, a few steps each, in the same process, cancels what drift remains.

What it does: loads SmolLM2-135M-Instruct as ``kaito-serve`` does (the engine's own loading:
host dtype, packed and fused oneDNN weights), prefills ``rows`` chat prompts of the serving
bench together (shared system prompt, left padding) and then decodes, alternating

- ``old``: ``model(...)`` through transformers, then ``logits.float().argmax(-1)``;
- ``new``: :mod:`kaito.runtime.inference.engines.decode_step`, then ``sampling.greedy_tokens``;

``--steps`` steps each per turn, ``--rounds`` turns each (the order flips every round), and
prints the median CPU ms per step of each path and the median of the per-round ratios (both give
the same logits, bit for bit: ``tests/unit/runtime/inference/test_decode_step.py``). It also
prints the CPU time of prefilling the rows together.

Usage: ``python bench/decode_step.py [--rows 16,64] [--threads 1] [--dtype auto]
[--rounds 8] [--steps 4]``. With ``--threads`` above 1 the figure is the process's CPU time
(every OpenMP worker, spinning included).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from serve import MODEL, QUESTIONS


def main() -> None:
    import torch

    from kaito.runtime.inference.engines import prefill
    from kaito.runtime.inference.engines.batch import DecodeBatch
    from kaito.runtime.inference.engines.sampling import greedy_tokens
    from kaito.runtime.inference.engines.transformers_engine import (
        TransformersEngine,
        TransformersEngineConfig,
    )
    from kaito.runtime.models import materialize_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="16,64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    clock = time.thread_time if args.threads == 1 else time.process_time

    config = TransformersEngineConfig(
        model_dir=materialize_model(MODEL),
        served_model_name="bench",
        threads=args.threads,
        dtype=args.dtype,
    )
    engine = TransformersEngine(config)
    loaded = engine._load()
    fast = engine._decode_step
    assert fast is not None, "the model is not served by kaito's decoding step"
    tokenizer = engine._tokenizer

    def prompt(i: int) -> list[int]:
        messages = [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]
        ids: Any = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    with torch.inference_mode():
        for rows in [int(r) for r in args.rows.split(",")]:
            prompts = [prompt(i) for i in range(rows)]
            adapters = ["__base__"] * rows
            done = None
            prefill_ms = []
            for _ in range(3):  # the first pass also creates oneDNN primitives for new shapes
                start = clock()
                done = prefill.prefill(
                    loaded.forward, prompts, adapters, [1] * rows, loaded.pad_id, loaded.device
                )
                prefill_ms.append((clock() - start) * 1e3)
            assert done is not None
            batch = DecodeBatch()
            batch.add(done.layers, done.cache_len, greedy_tokens(done.logits), done.mask)

            def step(new: bool, batch: DecodeBatch = batch, adapters: list[str] = adapters) -> Any:
                engine._decode_step = fast if new else None
                logits = engine._decode_logits(batch, adapters)
                tokens = greedy_tokens(logits) if new else logits.float().argmax(-1)
                batch.advance(tokens)
                return logits

            dtype = step(False).dtype
            times: dict[bool, list[float]] = {False: [], True: []}
            ratios = []
            for round_ in range(args.rounds):
                order = (False, True) if round_ % 2 == 0 else (True, False)
                for new in order:
                    per_step = []
                    for _ in range(args.steps):
                        start = clock()
                        step(new)
                        per_step.append((clock() - start) * 1e3)
                    times[new].append(statistics.median(per_step))
                ratios.append(times[True][-1] / times[False][-1])
            engine._decode_step = fast
            print(
                f"rows {rows}, threads {args.threads}, {dtype}, cache length {batch.length}: "
                f"prefill "
                f"{statistics.median(prefill_ms[1:]):.0f} ms CPU; step old "
                f"{statistics.median(times[False]):.1f} ms, new "
                f"{statistics.median(times[True]):.1f} ms CPU; new/old "
                f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
            )


if __name__ == "__main__":
    main()
