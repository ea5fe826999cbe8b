"""A stand-in for a frozen weight whose values were released: its shape and dtype, no data.

Why: while its decoder layers train compiled, a bf16 LoRA linear computes only through oneDNN
packed copies of its frozen weight (one for the forward, one transposed for the backward,
:mod:`.compiled_layers`). Keeping the plain weight as well would hold a third copy, about 210 MB
for SmolLM2-135M's 210 linears, that nothing reads. The plain weight is swapped for this
stand-in and rebuilt from the packed copy when training ends.

The stand-in keeps what code reads without computing (shape, dtype, device, ``numel``, being a
frozen ``Parameter``), so parameter counts, optimiser setup and ``state_dict`` behave as before.
Anything that would read its values (a product, a copy, a merge, printing it) raises
:class:`ReleasedWeightError` naming the module, instead of computing with data that is not there.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any


class ReleasedWeightError(RuntimeError):
    """Code tried to read the values of a released weight."""


def placeholder(weight: Any, owner: str) -> Any:
    """A frozen ``Parameter`` shaped like ``weight`` whose values are gone; ``owner`` names it."""
    import torch

    return torch.nn.Parameter(_released_class()(weight, owner), requires_grad=False)


def is_released(tensor: Any) -> bool:
    """Whether ``tensor`` is a stand-in made by :func:`placeholder`."""
    return isinstance(tensor, _released_class())


def return_freed_memory() -> bool:
    """Hand the heap's free pages back to the system; whether it could (glibc only).

    Released weights free their memory to the C heap, but the packed copies made meanwhile are
    allocated elsewhere, so without this the process keeps both sizes resident: 1,597 against
    1,293 MiB after releasing SmolLM2-135M's 210 weights.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return False
    trim(0)
    return True


@functools.cache
def _released_class() -> type[Any]:
    import torch

    # Operators that only make another view of the same (absent) data: Parameter() and
    # state_dict() detach; nothing else is allowed.
    aliasing = {torch.ops.aten.detach.default, torch.ops.aten.alias.default}

    class ReleasedWeight(torch.Tensor):
        """Shape, dtype and device of a weight; every operator on its values raises."""

        _owner: str
        __torch_function__ = torch._C._disabled_torch_function_impl  # type: ignore[assignment]

        @staticmethod
        def __new__(cls, like: Any, owner: str) -> Any:
            made = torch.Tensor._make_wrapper_subclass(
                cls,
                like.shape,
                strides=like.stride(),
                dtype=like.dtype,
                device=like.device,
                requires_grad=False,
            )
            made._owner = owner
            return made

        def __repr__(self) -> str:  # type: ignore[override]
            return f"ReleasedWeight({tuple(self.shape)}, {self.dtype}, of {self._owner})"

        @classmethod
        def __torch_dispatch__(  # type: ignore[override]
            cls, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
        ) -> Any:
            source = args[0] if args else None
            if func in aliasing and isinstance(source, cls):
                return cls(source, source._owner)
            owners = sorted({a._owner for a in args if isinstance(a, cls)}) or ["a module"]
            raise ReleasedWeightError(
                f"{func} read the frozen weight of {', '.join(owners)}, which was released "
                "while its decoder layers train compiled (only packed copies are kept); it is "
                "rebuilt when training ends"
            )

    return ReleasedWeight
