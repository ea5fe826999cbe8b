"""The matrix products a LoRA training step cannot avoid, timed alone: a ceiling on tokens/s.

Why: at batch 1 on a CPU the frozen base model's products are most of a training step, and no
trainer can make a step shorter than those products with the host's kernels. Timing them alone
gives the best tokens/s *any* implementation of a recipe could reach on this host, which checks
a goal stated against another trainer ("2x upstream's tokens/s") before anyone chases it: the
goal is reachable only if it lies under the ceiling.

What it times, for a Llama-style model's shapes (its ``config.json``) and rows of ``--tokens``
tokens (a batch of one):

- forward: every decoder layer's seven projections (q, k, v, o, gate, up, down) and the LM head;
- backward: the input's gradient through each of them (the base weights are frozen, so there is
  no weight gradient);
- the LoRA adapters' products (rank ``--rank`` on all seven projections, 0 for none): ``x A^T``
  and ``(x A^T) B^T`` forward, and the four products of their backward (both adapter weights'
  gradients, the input's through ``B`` then ``A``);
- ``checkpointing``: the decoder layers' forward products once more, which gradient
  checkpointing recomputes in the backward pass (TRL turns it on by default, upstream's script
  keeps that default).

Attention, norms, activations, the loss and the optimizer are left out, so the figure is a bound,
not a prediction. Products run through ``torch.nn.functional.linear`` and ``@`` (MKL in float32,
oneDNN in bf16) on weights of the model's shapes, one tensor per layer as in the model, so the
memory traffic is the model's. Each variant is timed ``--repeats`` times, alternating, and the
median is printed with the CPU's flags (``kaito.runtime.host``): emulation variables
(``bench/tuning.py``) apply here too.

Usage: ``python bench/step_floor.py [--model-dir DIR] [--tokens 48] [--dtype float32]
[--threads 2] [--repeats 15]`` (the default model is the tuning bench's SmolLM2-135M).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

PRESET = "smollm2-135m-instruct"


def projection_shapes(config: dict[str, Any]) -> list[tuple[int, int]]:
    """``(out, in)`` of one decoder layer's seven projections."""
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or hidden // heads)
    kv = int(config.get("num_key_value_heads") or heads) * head_dim
    inner = int(config["intermediate_size"])
    q = heads * head_dim
    return (
        [(q, hidden), (kv, hidden), (kv, hidden), (hidden, q)]
        + [(inner, hidden)] * 2
        + [(hidden, inner)]
    )


def time_step(
    layers: list[list[Any]],
    head: Any,
    rows: dict[int, Any],
    checkpointing: bool,
    adapters: list[list[tuple[Any, Any]]],
) -> float:
    """Seconds for one step's products (see the module docstring).

    ``rows[n]``: a random activation of ``n`` columns (random, not ``empty``: stale memory may hold
    denormals, which slow some kernels down). ``adapters``: per layer, ``(A, B)`` per projection
    (empty lists for none).
    """
    import torch
    from torch.nn import functional

    started = time.perf_counter()
    with torch.no_grad():
        for _ in range(2 if checkpointing else 1):
            for weights, pairs in zip(layers, adapters, strict=True):
                for weight in weights:
                    functional.linear(rows[weight.shape[1]], weight)
                for a, b in pairs:
                    functional.linear(functional.linear(rows[a.shape[1]], a), b)
        functional.linear(rows[head.shape[1]], head)
        rows[head.shape[0]] @ head  # the head's input gradient
        for weights, pairs in zip(reversed(layers), reversed(adapters), strict=True):
            for weight in reversed(weights):
                rows[weight.shape[0]] @ weight
            for a, b in reversed(pairs):
                grad, low = rows[b.shape[0]], rows[a.shape[0]]
                grad.t() @ low  # B's gradient
                through_b = grad @ b
                through_b.t() @ rows[a.shape[1]]  # A's gradient
                through_b @ a  # the input's
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--tokens", type=int, default=48, help="tokens per row (batch of one)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--rank", type=int, default=8, help="LoRA rank on every projection, 0: none"
    )
    args = parser.parse_args()

    import torch

    from kaito.runtime import host

    torch.set_num_threads(args.threads)
    model_dir = args.model_dir
    if model_dir is None:
        from kaito.runtime.models import materialize_model

        model_dir = materialize_model(PRESET)
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    dtype = getattr(torch, args.dtype)
    shapes = projection_shapes(config)
    layers = [
        [torch.randn(out, inner, dtype=dtype) * 0.02 for out, inner in shapes]
        for _ in range(int(config["num_hidden_layers"]))
    ]
    head = torch.randn(int(config["vocab_size"]), int(config["hidden_size"]), dtype=dtype) * 0.02
    adapters = [
        [
            (torch.randn(args.rank, inner, dtype=dtype), torch.randn(out, args.rank, dtype=dtype))
            for out, inner in shapes
        ]
        if args.rank
        else []
        for _ in layers
    ]
    widths = {n for out_in in shapes for n in out_in} | set(head.shape) | {args.rank}
    rows = {n: torch.randn(args.tokens, n, dtype=dtype) for n in widths}
    flops = 2 * args.tokens * (sum(o * i for o, i in shapes) * len(layers))
    head_flops = 2 * args.tokens * head.numel()
    variants = {"no checkpointing": False, "checkpointing": True}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for checkpointing in variants.values():  # warm-up
        time_step(layers, head, rows, checkpointing, adapters)
    for _ in range(args.repeats):
        for name, checkpointing in variants.items():
            times[name].append(time_step(layers, head, rows, checkpointing, adapters))
    print(host.host_cpu().describe())
    print(
        f"{model_dir}: {len(layers)} layers, {args.tokens} tokens a row, {args.dtype}, "
        f"LoRA rank {args.rank or 'none'}"
    )
    for name, checkpointing in variants.items():
        seconds = statistics.median(times[name])
        total = flops * (3 if checkpointing else 2) + 2 * head_flops  # the frozen products only
        print(
            f"{name}: products {1000 * seconds:.1f} ms a step, "
            f"{total / seconds / 1e9:.1f} GFLOP/s, ceiling {args.tokens / seconds:.1f} tokens/s"
        )


if __name__ == "__main__":
    main()
