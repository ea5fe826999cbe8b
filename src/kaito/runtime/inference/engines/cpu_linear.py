"""Linear layers on CPU through oneDNN, with each weight reordered once when the model loads.

Why: a decoding step multiplies a handful of rows by every weight matrix of the model. oneDNN's
linear on a weight reordered once into its blocked layout (an operator PyTorch's own compiler uses
for CPU linears), instead of ``torch.nn.functional.linear`` on the row-major weight at every call,
measured on 16 rows of SmolLM2-135M's shapes: 1.2-2.0x faster in
bfloat16 and 1.3-2.7x in float32 (the LM head: 6.5 -> 3.2 ms and 19.0 -> 7.1 ms), and a whole
16-row decoding step about 1.25x (bf16) to 2x (fp32) faster. bfloat16 results are bit-identical
to ``F.linear``; float32 results differ in the last bits (accumulation order, as between two BLAS
libraries).

The trade-off is memory: the reordered copy is kept next to the original weight, which PEFT reads
when it attaches a LoRA adapter (its shape, dtype and, for DoRA, its values). Linear weights are
therefore held twice; ``--no-cpu-prepack`` turns this off for models close to the memory limit.

Weights must not change after packing (inference only): the packed copy would not see it.

Sibling projections that read the same input (attention's q/k/v, the MLP's gate/up) can also be
packed as *one* weight (:func:`fuse_siblings`): one oneDNN call per group instead of three or two,
whose output each member returns its slice of. The members stay separate modules (PEFT wraps them
one by one), so the group computes once for the first member called with a given input tensor and
hands the other members their slices of that result, recognising the input by identity.
"""

from __future__ import annotations

import functools
from typing import Any

#: Rows per forward pass the layout is tuned for (a typical decoding batch).
BATCH_HINT = 16


@functools.cache
def prepack_supported(dtype: Any) -> bool:
    """Whether this PyTorch build can run packed linears of ``dtype`` on this CPU (asked once)."""
    import torch

    mkldnn = torch.ops.mkldnn
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return False
    if not (hasattr(mkldnn, "_reorder_linear_weight") and hasattr(mkldnn, "_linear_pointwise")):
        return False
    if dtype == torch.float32:
        return True
    return bool(dtype == torch.bfloat16 and mkldnn._is_mkldnn_bf16_supported())


def prepack_linears(model: Any) -> int:
    """Switch every plain ``nn.Linear`` of ``model`` on CPU to a packed weight; returns the count.

    Subclasses of ``nn.Linear`` (quantised layers, PEFT's LoRA wrappers) are left alone, and so
    is any layer whose dtype :func:`prepack_supported` rejects.
    """
    import torch

    packed_class = _packed_linear_class()
    count = 0
    for module in model.modules():
        if type(module) is not torch.nn.Linear:
            continue
        weight = module.weight
        if weight.device.type != "cpu" or not prepack_supported(weight.dtype):
            continue
        module.packed_weight = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), BATCH_HINT)
        module.__class__ = packed_class
        count += 1
    return count


#: Sibling groups :func:`fuse_siblings` looks for in each module (attention, MLP).
SIBLINGS: tuple[tuple[str, ...], ...] = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class FusedGroup:
    """One packed weight for sibling linears; each member asks for its slice (module docstring)."""

    def __init__(self, packed: Any, bias: Any, sizes: list[int]) -> None:
        self.packed = packed
        self.bias = bias
        self.sizes = sizes
        self._input: Any = None
        self._outputs: tuple[Any, ...] = ()
        self._served = 0

    def output(self, input: Any, index: int) -> Any:
        """Member ``index``'s output for ``input``, computing the group's product when new."""
        import torch

        if input is not self._input:
            fused = torch.ops.mkldnn._linear_pointwise(
                input, self.packed, self.bias, "none", [], ""
            )
            self._input, self._outputs, self._served = input, fused.split(self.sizes, -1), 0
        result = self._outputs[index]
        self._served += 1
        if self._served == len(self.sizes):  # everybody served: do not keep the tensors alive
            self._input, self._outputs = None, ()
        return result


def fuse_siblings(model: Any) -> int:
    """Give packed sibling linears (:data:`SIBLINGS`) one shared packed weight; returns groups.

    Only groups whose members are all packed (:func:`prepack_linears`), read the same number of
    features in the same dtype and either all or none have a bias.
    """
    import torch

    packed_class = _packed_linear_class()
    groups = 0
    for module in model.modules():
        for names in SIBLINGS:
            members: list[Any] = [getattr(module, name, None) for name in names]
            if not all(type(m) is packed_class for m in members):
                continue
            first = members[0]
            if any(
                m.in_features != first.in_features
                or m.weight.dtype != first.weight.dtype
                or (m.bias is None) != (first.bias is None)
                for m in members
            ):
                continue
            weight = torch.cat([m.weight.detach() for m in members])
            bias = None if first.bias is None else torch.cat([m.bias.detach() for m in members])
            group = FusedGroup(
                torch.ops.mkldnn._reorder_linear_weight(weight, BATCH_HINT),
                bias,
                [m.out_features for m in members],
            )
            for index, member in enumerate(members):
                member.fused = (group, index)
                member.packed_weight = torch.empty(0)  # the group's weight replaces it
            groups += 1
    return groups


@functools.cache
def _packed_linear_class() -> type[Any]:
    """``nn.Linear`` whose forward calls oneDNN with the packed weight (built lazily)."""
    import torch

    class PackedLinear(torch.nn.Linear):
        """Still a ``nn.Linear`` (for PEFT and ``isinstance`` checks), with a packed weight."""

        packed_weight: torch.Tensor
        fused: tuple[FusedGroup, int] | None = None

        def forward(self, input: torch.Tensor) -> torch.Tensor:
            if input.dtype != self.weight.dtype or torch.is_grad_enabled():
                # Mixed dtypes raise the usual error there; training needs autograd.
                return torch.nn.functional.linear(input, self.weight, self.bias)
            if self.fused is not None:
                group, index = self.fused
                fused: torch.Tensor = group.output(input, index)
                return fused
            result: torch.Tensor = torch.ops.mkldnn._linear_pointwise(
                input, self.packed_weight, self.bias, "none", [], ""
            )
            return result

    return PackedLinear
