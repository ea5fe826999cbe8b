"""LoRA training steps on a CPU with native bf16: bf16 base weights without PEFT's overhead.

Why: with bf16 base weights (what upstream's templates ask for, ``torch_dtype: bfloat16``) a CPU
with AVX512-BF16 or AMX computes the frozen linears several times faster than in float32, but
through PEFT and transformers as they are, most of that is given back: PEFT's LoRA layer casts its
input and output around every adapted linear as separate autograd nodes, and torch's bf16
attention backward on CPU is slow (2.3 ms against 0.3 ms in float32 per SmolLM2-135M layer at 48
tokens). Measured interleaved on one thread (docs/benchmarks.md, Tuning): a batch-1 step with bf16
weights through plain PEFT is barely faster than float32; with what this module does, about 1.45x.

What :func:`accelerate` changes, for bf16 weights on CPU only:

- every adapted linear that is plain LoRA (one active adapter, no DoRA or other variant, not
  merged, dropout or none) runs as one autograd node (:func:`lora_function`): the frozen product
  through a copy of the weight packed for oneDNN, with the adapter's output added in the same call;
  the adapter itself in float32, as PEFT computes it with its default ``autocast_adapter_dtype``;
  the backward pass computes the input's and the adapter's gradients only. Anything else (merged
  or disabled adapters, several adapters, mixed batches) goes through PEFT's own forward;
- a frozen output head (the LM head) through a packed copy too;
- attention in float32 (:data:`FLOAT32_ATTENTION`, chosen at load time by
  ``model_loading.load_model``): queries, keys and values are cast up, attended by the same SDPA
  code as transformers' ``sdpa`` and cast back.

Exactness: the same arithmetic as PEFT's forward except that the adapter's output is rounded to
bf16 once before it is added to the bf16 base product (PEFT adds in float32 and then rounds the sum
to bf16); attention is more exact than in bf16. Losses agree with PEFT's to about 1e-2 at bf16
(``tests/unit/runtime/tuning/test_cpu_lora.py``).

Memory: the packed copies add the weights' bf16 size once more (about 270 MB for SmolLM2-135M),
which is what float32 weights would have cost anyway.
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
        if _lora_eligible(module):
            weight = module.base_layer.weight
            if weight.dtype != torch.bfloat16 or weight.device.type != "cpu":
                continue
            module._kaito_packed = _pack(weight)
            module.__class__ = lora_class
            switched += 1
    head = _frozen_head(model)
    if switched and head is not None:
        head._kaito_packed = _pack(head.weight)
        head.__class__ = _packed_head_class()
        switched += 1
    if switched:
        logger.info("bf16 LoRA on CPU: %d modules on oneDNN's packed path", switched)
    return switched


def packed_bytes(model: Any) -> int:
    """Bytes of the packed weight copies :func:`accelerate` added to ``model``."""
    copies = (getattr(module, "_kaito_packed", None) for module in model.modules())
    return sum(int(c.numel()) * int(c.element_size()) for c in copies if c is not None)


def _pack(weight: Any) -> Any:
    import torch

    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), PACK_ROWS_HINT)


def _lora_eligible(module: Any) -> bool:
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


def _plain_adapter(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
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


@functools.cache
def _fast_lora_class() -> type[Any]:
    from peft.tuners.lora.layer import Linear as LoraLinear
    from torch import nn

    class PackedLoraLinear(LoraLinear):
        """PEFT's LoRA ``Linear``, with the packed bf16 path for plain LoRA calls."""

        _kaito_packed: Any

        def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
            name = _plain_adapter(self, args, kwargs)
            if name is None or x.dtype != self.base_layer.weight.dtype:
                return super().forward(x, *args, **kwargs)
            dropout = self.lora_dropout[name]
            rate = float(dropout.p) if isinstance(dropout, nn.Dropout) and self.training else 0.0
            return lora_function().apply(
                x,
                self.base_layer.weight,
                self._kaito_packed,
                self.base_layer.bias,
                self.lora_A[name].weight,
                self.lora_B[name].weight,
                float(self.scaling[name]),
                rate,
            )

    return PackedLoraLinear


@functools.cache
def _packed_head_class() -> type[Any]:
    from torch import nn

    class PackedFrozenLinear(nn.Linear):
        """A frozen ``nn.Linear`` whose forward goes through a packed copy of its weight."""

        _kaito_packed: Any

        def forward(self, x: Any) -> Any:
            if self.weight.requires_grad or x.dtype != self.weight.dtype:
                return super().forward(x)
            return frozen_function().apply(x, self.weight, self._kaito_packed, self.bias)

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
            out = linear.binary(rows, delta, packed, bias, "add")
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
def frozen_function() -> Any:
    """``apply(x, weight, packed, bias)``: ``x @ weight.T + bias``, gradient for ``x`` only."""
    import torch

    linear = torch.ops.mkldnn._linear_pointwise

    class FrozenLinearFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, weight: Any, packed: Any, bias: Any) -> Any:
            rows = x.reshape(-1, x.shape[-1])
            out = linear(rows, packed, bias, "none", [], "")
            ctx.save_for_backward(weight)
            return out.reshape(*x.shape[:-1], out.shape[-1])

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            (weight,) = ctx.saved_tensors
            grad_x = torch.mm(grad.reshape(-1, grad.shape[-1]), weight)
            return grad_x.reshape(*grad.shape[:-1], grad_x.shape[-1]), None, None, None

    return FrozenLinearFunction
