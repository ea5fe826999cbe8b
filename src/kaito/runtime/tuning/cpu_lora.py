"""LoRA training steps on a CPU with native bf16: bf16 base weights without PEFT's overhead.

Why: with bf16 base weights (what upstream's templates ask for, ``torch_dtype: bfloat16``) a CPU
with AVX512-BF16 or AMX computes the frozen linears several times faster than in float32, but
through PEFT and transformers as they are, most of that is given back: PEFT's LoRA layer casts its
input and output around every adapted linear as separate autograd nodes, and torch's bf16
attention backward on CPU is slow (2.3 ms against 0.3 ms in float32 per SmolLM2-135M layer at 48
tokens). Measured interleaved on one thread (docs/benchmarks.md, Tuning): with what this module
does a batch-1 step with bf16 weights takes about 1.6x less CPU than float32 through PEFT.

What :func:`accelerate` changes, for bf16 weights on CPU only:

- every adapted linear that is plain LoRA (one active adapter, no DoRA or other variant, not
  merged, dropout or none) runs as one autograd node (:func:`lora_function`): the frozen product
  through a copy of the weight packed for oneDNN, with the adapter's output added in the same call;
  the adapter itself in float32, as PEFT computes it with its default ``autocast_adapter_dtype``;
  the backward pass computes the input's and the adapter's gradients only. Anything else (merged
  or disabled adapters, several adapters, mixed batches) goes through PEFT's own forward;
- siblings a decoder layer feeds the same input (:data:`SIBLING_GROUPS`: q/k/v, gate/up) run as
  one call with one packed weight for the group, their adapters as two products (stacked ``A``,
  block-diagonal ``B``): 1.08x less CPU per step than one call per linear, paired on one thread;
- a frozen output head (the LM head) through a packed copy too, and its input's gradient through
  a packed copy of the transposed weight (:func:`pack_head`);
- attention in float32 (:data:`FLOAT32_ATTENTION`, chosen at load time by
  ``model_loading.load_model``): queries, keys and values are cast up, attended by the same SDPA
  code as transformers' ``sdpa`` and cast back.

Exactness: the same arithmetic as PEFT's forward except that the adapter's output is rounded to
bf16 once before it is added to the bf16 base product (PEFT adds in float32 and then rounds the sum
to bf16); attention is more exact than in bf16. Losses agree with PEFT's to about 1e-2 at bf16
(``tests/unit/runtime/tuning/test_cpu_lora.py``).

Memory: the packed copies add the weights' bf16 size once more (about 270 MB for SmolLM2-135M),
which is what float32 weights would have cost anyway, and the output head's once again for its
transpose (57 MB).

A run long enough to repay compiling goes further: :mod:`.compiled_layers` compiles the decoder
layers around the same packed products (:func:`restore` undoes this module's path for it).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)

#: Attention implementation registered with transformers for bf16 models on CPU.
FLOAT32_ATTENTION = "kaito_sdpa_float32"
#: Rows oneDNN packs the weights for (a hint only: any number of rows works).
PACK_ROWS_HINT = 64
#: Sibling projections a Llama-style decoder layer feeds the same input, in the order it calls
#: them: each group runs as one call (one packed weight for the group, one adapter input cast).
SIBLING_GROUPS: tuple[tuple[str, ...], ...] = (
    ("q_proj", "k_proj", "v_proj"),
    ("gate_proj", "up_proj"),
)


def packing_available() -> bool:
    """Whether this torch has oneDNN's packed linear (x86 builds with mkldnn)."""
    import torch

    return bool(torch.backends.mkldnn.is_available()) and hasattr(  # type: ignore[no-untyped-call]
        torch.ops.mkldnn, "_reorder_linear_weight"
    )


def register_float32_attention() -> str:
    """Register :data:`FLOAT32_ATTENTION` (and its mask builder) with transformers; its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(FLOAT32_ATTENTION, _sdpa_float32)
    # Without a mask builder of its own transformers would pass no mask at all (it assumes a
    # backend that masks itself), and padded rows would be attended.
    AttentionMaskInterface.register(FLOAT32_ATTENTION, sdpa_mask)
    return FLOAT32_ATTENTION


def _sdpa_float32(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> tuple[Any, Any]:
    """Transformers' SDPA attention, computed in float32 for bf16 inputs."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    dtype = query.dtype
    if dtype == torch.float32:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if attention_mask is not None and attention_mask.is_floating_point():
        attention_mask = attention_mask.float()
    out, weights = sdpa_attention_forward(
        module, query.float(), key.float(), value.float(), attention_mask, **kwargs
    )
    return out.to(dtype), weights


def accelerate(model: Any) -> int:
    """Switch ``model``'s eligible LoRA linears and frozen output head to the packed bf16 path.

    Returns how many modules were switched (0 when the weights are not bf16 on CPU or packing is
    unavailable). The switch changes each module's class to a subclass whose ``forward`` takes the
    fast path when it applies and PEFT's otherwise, so saving, merging and copying the model
    behave as before.
    """
    import torch

    if not packing_available():
        return 0
    lora_class = _fast_lora_class()
    switched = 0
    for module in model.modules():
        if lora_eligible(module):
            weight = module.base_layer.weight
            if weight.dtype != torch.bfloat16 or weight.device.type != "cpu":
                continue
            module.__class__ = lora_class
            module._kaito_group = None
            switched += 1
    for parent in model.modules():
        for names in SIBLING_GROUPS:
            members = [getattr(parent, name, None) for name in names]
            if all(type(m) is lora_class for m in members) and len({id(m) for m in members}) == len(
                members
            ):
                _Group(members)
    for module in model.modules():
        if type(module) is lora_class and module._kaito_group is None:
            module._kaito_packed = pack(module.base_layer.weight)
    if switched and pack_head(model):
        switched += 1
    if switched:
        logger.info("bf16 LoRA on CPU: %d modules on oneDNN's packed path", switched)
    return switched


def pack_head(model: Any) -> bool:
    """Put ``model``'s frozen bf16 output head on packed copies; whether it was switched.

    Two copies: the weight for the forward product, and its transpose for the input's gradient.
    The head is the largest product of a small model's step (49,152 x 576 for SmolLM2-135M), and
    ``grad @ weight`` through the plain weight took 1.6x the forward's time at 39 rows on an
    AVX512-BF16 host (9.7 against 5.9 ms), the packed transpose as long as the forward (equal
    results). The plain weight stays: it is usually the input embeddings' too.
    """
    head = _frozen_head(model)
    if head is None:
        return False
    head._kaito_packed = pack(head.weight)
    head._kaito_transposed = pack(head.weight.t())
    head.__class__ = _packed_head_class()
    return True


def restore(model: Any) -> None:
    """Undo :func:`accelerate` for the LoRA linears (PEFT's own forward, copies released).

    The packed output head stays: it is what :mod:`.compiled_layers` uses too.
    """
    back_to_peft(model, _fast_lora_class(), ("_kaito_packed", "_kaito_group"))


def back_to_peft(model: Any, lora_class: type[Any], attributes: tuple[str, ...]) -> None:
    """Turn ``model``'s ``lora_class`` modules back into PEFT's ``Linear``, dropping ``attributes``.

    ``lora_class`` is one of the ``Linear`` subclasses this module or :mod:`.compiled_layers`
    switches modules to; ``attributes`` are the copies it hung on them.
    """
    from peft.tuners.lora.layer import Linear as LoraLinear

    for module in model.modules():
        if type(module) is lora_class:
            module.__class__ = LoraLinear
            for name in attributes:
                module.__dict__.pop(name, None)


class _Group:
    """Sibling LoRA linears fed the same input, computed in one call (:func:`grouped_function`).

    The leader (the first sibling the layer calls) computes every sibling's output and keeps the
    others until their own calls, which collect them when they come with the very same input
    tensor; any other call computes alone, without a packed weight of its own.
    """

    def __init__(self, members: list[Any]) -> None:
        import torch

        self.members = members
        bases = [m.base_layer for m in members]
        self.packed = pack(torch.cat([b.weight.detach() for b in bases]))
        biases = [b.bias for b in bases]
        self.bias = None
        if any(b is not None for b in biases):
            self.bias = torch.cat(
                [
                    b.detach() if b is not None else torch.zeros_like(base.weight[:, 0])
                    for b, base in zip(biases, bases, strict=True)
                ]
            )
        self.pending_input: Any = None
        self.pending: dict[int, Any] = {}
        for member in members:
            member._kaito_group = self
            member._kaito_packed = None

    def collect(self, member: Any, x: Any) -> Any:
        """The output the leader computed for ``member`` from this ``x``, or None."""
        if self.pending_input is not x:
            return None
        out = self.pending.pop(self.members.index(member), None)
        if not self.pending:
            self.pending_input = None
        return out

    def run(self, x: Any, name: str) -> Any:
        """Every sibling's output for ``x`` (adapter ``name``); the leader's is returned."""
        members = self.members
        if any(plain_adapter(m, (), {}) != name for m in members) or any(
            m.training and _dropout_rate(m, name) > 0.0 for m in members
        ):
            return None  # each computes alone (per-member dropout masks cannot be shared)
        outs = grouped_function().apply(
            x,
            self.packed,
            self.bias,
            tuple(float(m.scaling[name]) for m in members),
            *[m.base_layer.weight for m in members],
            *[m.lora_A[name].weight for m in members],
            *[m.lora_B[name].weight for m in members],
        )
        self.pending_input = x
        self.pending = dict(enumerate(outs[1:], start=1))
        return outs[0]


def packed_bytes(model: Any) -> int:
    """Bytes of the packed weight copies :func:`accelerate` added to ``model``."""
    copies: dict[int, Any] = {}
    for module in model.modules():
        for copy in (
            getattr(module, "_kaito_packed", None),
            getattr(module, "_kaito_transposed", None),
            getattr(getattr(module, "_kaito_group", None), "packed", None),
        ):
            if copy is not None:
                copies[id(copy)] = copy
    return sum(int(c.numel()) * int(c.element_size()) for c in copies.values())


def pack(weight: Any) -> Any:
    """``weight`` (``[out, in]``) packed for oneDNN's linear (``mkldnn._linear_pointwise``)."""
    import torch

    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), PACK_ROWS_HINT)


def lora_eligible(module: Any) -> bool:
    """A PEFT LoRA ``Linear`` (exactly) over a frozen ``nn.Linear``, weights as PEFT lays them."""
    from peft.tuners.lora.layer import Linear as LoraLinear
    from torch import nn

    if type(module) is not LoraLinear or getattr(module, "fan_in_fan_out", False):
        return False
    base = module.base_layer
    return type(base) is nn.Linear and not base.weight.requires_grad


def _frozen_head(model: Any) -> Any:
    """The model's output ``nn.Linear`` when it is frozen and bf16, else None."""
    import torch
    from torch import nn

    try:
        head = model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    if type(head) is not nn.Linear or head.weight.requires_grad:
        return None
    if head.weight.dtype != torch.bfloat16 or head.weight.device.type != "cpu":
        return None
    return head


def plain_adapter(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The one active adapter when this call is plain LoRA (else None: PEFT's forward)."""
    if args or kwargs or module.disable_adapters or module.merged:
        return None
    active = [name for name in module.active_adapters if name in module.lora_A]
    if len(active) != 1:
        return None
    name: str = active[0]
    if name in module.lora_variant or module.lora_A[name].bias is not None:
        return None
    if module.lora_B[name].bias is not None:
        return None
    return name


def _dropout_rate(module: Any, name: str) -> float:
    from torch import nn

    dropout = module.lora_dropout[name]
    return float(dropout.p) if isinstance(dropout, nn.Dropout) else 0.0


@functools.cache
def _fast_lora_class() -> type[Any]:
    from peft.tuners.lora.layer import Linear as LoraLinear

    class PackedLoraLinear(LoraLinear):
        """PEFT's LoRA ``Linear``, with the packed bf16 path for plain LoRA calls."""

        _kaito_packed: Any
        _kaito_group: _Group | None

        def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
            name = plain_adapter(self, args, kwargs)
            if name is None or x.dtype != self.base_layer.weight.dtype:
                return super().forward(x, *args, **kwargs)
            group = self._kaito_group
            if group is not None:
                out = group.collect(self, x)
                if out is None and group.members[0] is self:
                    out = group.run(x, name)
                if out is not None:
                    return out
            return lora_function().apply(
                x,
                self.base_layer.weight,
                self._kaito_packed,
                self.base_layer.bias,
                self.lora_A[name].weight,
                self.lora_B[name].weight,
                float(self.scaling[name]),
                _dropout_rate(self, name) if self.training else 0.0,
            )

    return PackedLoraLinear


@functools.cache
def _packed_head_class() -> type[Any]:
    from torch import nn

    class PackedFrozenLinear(nn.Linear):
        """A frozen ``nn.Linear`` whose forward goes through a packed copy of its weight."""

        _kaito_packed: Any
        _kaito_transposed: Any

        def forward(self, x: Any) -> Any:
            if self.weight.requires_grad or x.dtype != self.weight.dtype:
                return super().forward(x)
            return frozen_function().apply(x, self._kaito_packed, self._kaito_transposed, self.bias)

    return PackedFrozenLinear


@functools.cache
def lora_function() -> Any:
    """``apply(x, weight, packed, bias, lora_a, lora_b, scaling, dropout)``: one LoRA linear.

    ``x`` and the frozen ``weight`` (``[out, in]``, its oneDNN-packed copy ``packed``, optional
    ``bias``) are bf16; ``lora_a`` (``[r, in]``) and ``lora_b`` (``[out, r]``) are the adapter's
    weights in their own dtype (float32 by PEFT's default). Returns
    ``x @ weight.T + bias + scaling * dropout(x) @ lora_a.T @ lora_b.T`` in bf16.
    """
    import torch

    linear = torch.ops.mkldnn._linear_pointwise

    class LoraLinearFunction(torch.autograd.Function):
        @staticmethod
        def forward(
            ctx: Any,
            x: Any,
            weight: Any,
            packed: Any,
            bias: Any,
            lora_a: Any,
            lora_b: Any,
            scaling: float,
            dropout: float,
        ) -> Any:
            rows = x.reshape(-1, x.shape[-1])
            adapter_in = rows.to(lora_a.dtype)
            keep = None
            if dropout > 0.0:
                keep = torch.empty_like(adapter_in).bernoulli_(1.0 - dropout).div_(1.0 - dropout)
                adapter_in = adapter_in * keep
            # The scaling is applied to the r-wide intermediate (cheaper than to the output).
            scaled = torch.mm(adapter_in, lora_a.t()).mul_(scaling)
            delta = torch.mm(scaled, lora_b.t()).to(x.dtype)
            if packed is not None:
                out = linear.binary(rows, delta, packed, bias, "add")
            else:  # a grouped sibling called alone: the plain weight
                out = torch.addmm(delta, rows, weight.t())
                if bias is not None:
                    out = out + bias
            ctx.save_for_backward(adapter_in, scaled, weight, lora_a, lora_b, keep)
            ctx.scaling = scaling
            return out.reshape(*x.shape[:-1], out.shape[-1])

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            adapter_in, scaled, weight, lora_a, lora_b, keep = ctx.saved_tensors
            grad_rows = grad.reshape(-1, grad.shape[-1])
            grad_adapter = grad_rows.to(lora_b.dtype)
            grad_scaled = torch.mm(grad_adapter, lora_b).mul_(ctx.scaling)
            grad_x = None
            if ctx.needs_input_grad[0]:
                through_adapter = torch.mm(grad_scaled, lora_a)
                if keep is not None:
                    through_adapter.mul_(keep)
                grad_x = torch.addmm(through_adapter.to(grad.dtype), grad_rows, weight)
                grad_x = grad_x.reshape(*grad.shape[:-1], grad_x.shape[-1])
            grad_a = torch.mm(grad_scaled.t(), adapter_in) if ctx.needs_input_grad[4] else None
            grad_b = torch.mm(grad_adapter.t(), scaled) if ctx.needs_input_grad[5] else None
            return grad_x, None, None, None, grad_a, grad_b, None, None

    return LoraLinearFunction


@functools.cache
def grouped_function() -> Any:
    """``apply(x, packed, bias, scalings, *weights, *lora_as, *lora_bs)``: sibling LoRA linears.

    The siblings' frozen weights are packed as one (``packed``, their rows stacked; ``bias``
    likewise or None); returns one output per sibling, each what :func:`lora_function` gives
    without dropout. The adapters' ``A`` matrices are stacked and the ``B`` matrices put on a block
    diagonal, so the adapter part is two products for the whole group.
    """
    import torch

    linear = torch.ops.mkldnn._linear_pointwise

    class GroupedLoraFunction(torch.autograd.Function):
        @staticmethod
        def forward(
            ctx: Any, x: Any, packed: Any, bias: Any, scalings: tuple[float, ...], *tensors: Any
        ) -> Any:
            count = len(scalings)
            weights = tensors[:count]
            lora_as, lora_bs = tensors[count : 2 * count], tensors[2 * count :]
            rows = x.reshape(-1, x.shape[-1])
            adapter_in = rows.to(lora_as[0].dtype)
            stacked_a = torch.cat(lora_as)
            scale = torch.cat(
                [
                    torch.full((int(a.shape[0]),), s, dtype=adapter_in.dtype)
                    for a, s in zip(lora_as, scalings, strict=True)
                ]
            )
            scaled = torch.mm(adapter_in, stacked_a.t()).mul_(scale)
            diagonal_b = torch.block_diag(*lora_bs)  # type: ignore[no-untyped-call]
            delta = torch.mm(scaled, diagonal_b.t()).to(x.dtype)
            out = linear.binary(rows, delta, packed, bias, "add")
            ctx.save_for_backward(adapter_in, scaled, stacked_a, diagonal_b, scale, *weights)
            ctx.ranks = [int(a.shape[0]) for a in lora_as]
            ctx.widths = [int(w.shape[0]) for w in weights]
            ctx.input_shape = x.shape
            return tuple(
                piece.reshape(*x.shape[:-1], piece.shape[-1])
                for piece in out.split(ctx.widths, dim=-1)
            )

        @staticmethod
        def backward(ctx: Any, *grads: Any) -> Any:
            adapter_in, scaled, stacked_a, diagonal_b, scale, *weights = ctx.saved_tensors
            rows = int(adapter_in.shape[0])
            pieces = [
                torch.zeros(rows, width, dtype=weights[0].dtype)
                if grad is None
                else grad.reshape(rows, width)
                for grad, width in zip(grads, ctx.widths, strict=True)
            ]
            grad_out = torch.cat(pieces, dim=-1)
            grad_adapter = grad_out.to(scaled.dtype)
            grad_scaled = torch.mm(grad_adapter, diagonal_b).mul_(scale)
            count = len(weights)
            grad_x = None
            if ctx.needs_input_grad[0]:
                grad_x = torch.mm(grad_scaled, stacked_a).to(grad_out.dtype)
                for piece, weight in zip(pieces, weights, strict=True):
                    grad_x.addmm_(piece, weight)
                grad_x = grad_x.reshape(ctx.input_shape)
            grad_as = torch.mm(grad_scaled.t(), adapter_in).split(ctx.ranks)  # type: ignore[no-untyped-call]
            grad_diagonal = torch.mm(grad_adapter.t(), scaled)  # only its diagonal blocks count
            grad_bs = []
            row = column = 0
            for width, rank in zip(ctx.widths, ctx.ranks, strict=True):
                grad_bs.append(grad_diagonal[row : row + width, column : column + rank])
                row, column = row + width, column + rank
            return (grad_x, None, None, None, *([None] * count), *grad_as, *grad_bs)

    return GroupedLoraFunction


@functools.cache
def packed_product_op() -> Any:
    """``kaito::packed_product(x, packed, bias, out)``: ``x @ weight.T + bias`` in bf16.

    ``packed`` is the weight packed by :func:`pack` (an opaque oneDNN tensor) and ``out`` its
    row count. A plain operator with a Python kernel and no autograd formula (the gradient comes
    from :func:`frozen_function` and :mod:`.compiled_layers`' autograd functions): the compiler
    keeps it whole, and a call from a compiled graph costs 13-19 us less than through
    ``torch.library.custom_op``'s wrappers, which shows at 210 calls a step (docs/benchmarks.md,
    Tuning). Registered once per process; the library object is returned to keep the
    registration alive.
    """
    import torch

    linear = torch.ops.mkldnn._linear_pointwise
    library = torch.library.Library("kaito", "DEF")  # type: ignore[no-untyped-call]
    library.define(  # type: ignore[no-untyped-call]
        "packed_product(Tensor x, Tensor packed, Tensor? bias, SymInt out) -> Tensor"
    )

    def packed_product(x: Any, packed: Any, bias: Any, out: int) -> Any:
        rows = linear(x.reshape(-1, x.shape[-1]), packed, bias, "none", [], "")
        return rows.view(*x.shape[:-1], out)

    def fake(x: Any, packed: Any, bias: Any, out: int) -> Any:
        return x.new_empty(*x.shape[:-1], out)

    # The packed weight is a oneDNN tensor, so calls dispatch on MkldnnCPU as well as CPU.
    for key in ("CPU", "MkldnnCPU"):
        library.impl("packed_product", packed_product, key)  # type: ignore[no-untyped-call]
    torch.library.register_fake("kaito::packed_product", fake, lib=library)
    return library


@functools.cache
def frozen_function() -> Any:
    """``apply(x, packed, transposed, bias)``: ``x @ weight.T + bias``, gradient for ``x`` only.

    ``packed`` and ``transposed`` are :func:`pack` of the frozen weight and of its transpose.
    Both products go through :func:`packed_product_op`, so the compiler keeps them whole where
    a compiled layer calls this (:mod:`.compiled_layers`); the output head calls it eagerly.
    """
    import torch

    packed_product_op()
    product = torch.ops.kaito.packed_product.default

    class FrozenLinearFunction(torch.autograd.Function):
        @staticmethod
        def forward(x: Any, packed: Any, transposed: Any, bias: Any) -> Any:
            return product(x, packed, bias, packed.shape[0])

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            ctx.save_for_backward(inputs[2])

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[Any, None, None, None]:
            (transposed,) = ctx.saved_tensors
            return product(grad, transposed, None, transposed.shape[0]), None, None, None

    return FrozenLinearFunction
