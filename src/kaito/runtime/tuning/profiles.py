"""Tuning profiles: ``default`` trains as the config says; ``fast`` trades knobs for speed.

``default`` is upstream's ``training_config.yaml`` as written (on CPU in float32: mixed precision
is only used where the CPU computes bf16 natively *and* the config asks for ``bf16: true``). What
the config leaves to the library may be chosen for the CPU: gradient checkpointing, which TRL turns
on by default, is off when the largest batch's activations are small next to the weights
(``activation_memory``); at upstream's batch of 1 that alone makes a step about 1.5x faster.
``torch_dtype: bfloat16`` (the template's) is not followed on CPU: at batch 1, bf16 weights
measured slower than float32 even with AMX (small matrices, casts around every adapter).

``fast`` sets, before the user's own ``--set`` overrides (which still win):

- padding-free batches of 8 (``padding_free``, ``max_length: null``): no pad tokens computed,
  larger matrices per kernel call;
- ``learning_rate`` 6e-4, for 8x fewer, larger optimizer steps (at 5e-5, upstream's batch-1 rate,
  one epoch of batch 8 barely moves the loss);
- no gradient checkpointing (TRL turns it on by default; a small model's activations fit, so
  recomputing them is wasted work), for about twice the peak memory;
- on a CPU with native bf16 (AVX512-BF16 or AMX, ``kaito.runtime.host``): bf16 autocast, i.e.
  the matrix products in bf16 while the weights and the optimizer stay in float32. That costs
  exactness (bf16 keeps 8 bits of mantissa; losses differ in the second or third digit) and is
  chosen only where it is native: on AVX2-only hosts bf16 is emulated and several times slower.

The numbers behind each choice are in docs/benchmarks.md (Tuning).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from kaito.runtime import host

Profile = Literal["default", "fast"]
PROFILES: tuple[Profile, ...] = ("default", "fast")

#: TrainingArguments the fast profile sets (YAML values, as ``--set`` takes them).
FAST_TRAINING: tuple[tuple[str, str], ...] = (
    ("per_device_train_batch_size", "8"),
    ("padding_free", "true"),
    ("max_length", "null"),
    ("learning_rate", "0.0006"),
    ("gradient_checkpointing", "false"),
)


def check_profile(name: str) -> Profile:
    """``name`` as a profile.

    Raises:
        ValueError: not one of :data:`PROFILES` (the message lists them).
    """
    for profile in PROFILES:
        if name == profile:
            return profile
    raise ValueError(f"tuning profile {name!r} is not one of {', '.join(PROFILES)}")


def profile_overrides(profile: Profile) -> tuple[str, ...]:
    """``Section.key=value`` overrides the profile applies before the user's own."""
    if profile == "default":
        return ()
    return tuple(f"TrainingArguments.{key}={value}" for key, value in FAST_TRAINING)


def cpu_autocast_bf16(profile: Profile, training: Mapping[str, Any], cpu: host.CpuInfo) -> bool:
    """Whether training on this CPU computes in bf16 autocast (see the module docstring).

    Only where bf16 is native; then when the config says ``bf16: true`` explicitly, or the fast
    profile asks and the config does not say ``bf16: false`` (TRL's own default, bf16 whenever
    possible, is not taken as a request on CPU).
    """
    if not cpu.native_bf16:
        return False
    explicit = training.get("bf16")
    if isinstance(explicit, bool):
        return explicit
    return profile == "fast"
