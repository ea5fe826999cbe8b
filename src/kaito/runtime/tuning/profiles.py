"""Tuning profiles: ``default`` trains as the config says; ``fast`` trades knobs for speed.

``default`` is upstream's ``training_config.yaml`` as written. On CPU the precision follows the
config where the CPU computes bf16 natively (AVX512-BF16 or AMX, ``kaito.runtime.host``):
``torch_dtype: bfloat16`` (upstream's templates) loads bf16 weights and trains them through
:mod:`.cpu_lora` (packed oneDNN weights, float32 adapters and attention), about 1.45x faster per
step than float32 at upstream's batch of 1; elsewhere, and where the config asks for float32, the
weights are float32 (emulated bf16 is several times slower). What the config leaves to the
library may be chosen for the CPU: gradient checkpointing, which TRL turns on by default, is off
when the largest batch's activations are small next to the weights (``activation_memory``); at
upstream's batch of 1 that alone makes a step about 1.5x faster.

``fast`` sets, before the user's own ``--set`` overrides (which still win):

- padding-free batches of 8 (``padding_free``, ``max_length: null``): no pad tokens computed,
  larger matrices per kernel call;
- ``learning_rate`` 6e-4, for 8x fewer, larger optimizer steps (at 5e-5, upstream's batch-1 rate,
  one epoch of batch 8 barely moves the loss);
- no gradient checkpointing (TRL turns it on by default; a small model's activations fit, so
  recomputing them is wasted work), for about twice the peak memory;
- on a CPU with native bf16: bf16 weights as above even when the config names no dtype. That
  costs exactness (bf16 keeps 8 bits of mantissa; losses differ in the second or third digit) and
  is chosen only where it is native.

Both profiles compile the decoder layers from the same number of rows trained
(``compiled_layers.AUTO_MIN_ROWS``, ``--compile auto``), so the fast profile's larger batches do
not leave it training eagerly where the default compiles.

The numbers behind each choice are in docs/benchmarks.md (Tuning).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from kaito.runtime import host
from kaito.runtime.tuning import options

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
    return options.one_of(name, PROFILES, "tuning profile")


def profile_overrides(profile: Profile) -> tuple[str, ...]:
    """``Section.key=value`` overrides the profile applies before the user's own."""
    if profile == "default":
        return ()
    return tuple(f"TrainingArguments.{key}={value}" for key, value in FAST_TRAINING)


def dtype_name(value: Any) -> str:
    """A config's dtype as a lower-case name without ``torch.`` (``auto`` when unset)."""
    return str(value or "auto").removeprefix("torch.").lower()


#: How a CPU run computes: float32 weights; bf16 weights (:mod:`.cpu_lora`); or float32 weights
#: under bf16 autocast (only when the config asks for float32 weights *and* ``bf16: true``).
CpuPrecision = Literal["float32", "bfloat16", "bf16-autocast"]


def cpu_precision(
    profile: Profile, model: Mapping[str, Any], training: Mapping[str, Any], cpu: host.CpuInfo
) -> CpuPrecision:
    """How a run on this CPU computes (see the module docstring).

    float32 unless bf16 is native; then the config's explicit words decide (``bf16: false``
    forbids it, ``torch_dtype: bfloat16`` or ``bf16: true`` asks for it, ``torch_dtype:
    float32`` keeps float32 weights), and without them the fast profile takes bf16. TRL's own
    default (bf16 whenever possible) is not taken as a request on CPU.
    """
    if not cpu.native_bf16:
        return "float32"
    explicit = training.get("bf16")
    if explicit is False:
        return "float32"
    requested = dtype_name(model.get("dtype") or model.get("torch_dtype"))
    if requested in {"bfloat16", "bf16"}:
        return "bfloat16"
    if requested in {"float32", "fp32"}:
        return "bf16-autocast" if explicit is True else "float32"
    return "bfloat16" if explicit is True or profile == "fast" else "float32"
