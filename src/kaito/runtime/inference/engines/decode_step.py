"""One decoding step of a Llama-architecture model, without transformers' per-call machinery.

Why: on CPU a decoding step of a small model is a few thousand tiny operators, and what is not
the linears' weight streaming is largely overhead around them. Through ``model(...)`` every step
also pays for transformers' generic layers: keyword plumbing and output classes per module, a
4-D mask built from the 2-D one, a boolean mask turned into an additive one again in each of the
30 attention calls, 3-D ``[rows, 1, hidden]`` shapes with transposes, and one ``nn.Module`` call
per linear. A profiled 16-row bf16 step of SmolLM2-135M spent about 20 of its ~55 ms of CPU
outside the linears and attention (docs/benchmarks.md, Inference server).

This module runs the same arithmetic in the same dtypes and order as transformers' Llama code
(RMSNorm in float32 then scaled in the weights' dtype, rotary tables from the model's own rotary
module, ``scaled_dot_product_attention`` on the query heads grouped per key/value head, residual
adds, SiLU-gated MLP), so its logits equal ``model(...)``'s bit for bit
(``tests/unit/runtime/inference/test_decode_step.py``) and greedy answers do not change. What it
drops is the plumbing: 2-D activations, one additive mask per step, and the fused oneDNN weights
of :mod:`.cpu_linear` called directly (one call for q/k/v and one for gate/up).

It serves only what it was checked against: a ``LlamaForCausalLM`` on CPU with its RMSNorm and
SiLU, and no adapters attached (PEFT's LoRA layers need its per-row adapter hooks; the engine
then goes through ``model(...)``). :func:`build` returns None for anything else.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class _Layer:
    """What one decoder layer's step needs, looked up once."""

    input_norm: Any  # weight of the input RMSNorm
    input_eps: float
    qkv: Any  # projection_class() module
    o_proj: Any
    post_norm: Any
    post_eps: float
    gate_up: Any  # projection_class() module
    down_proj: Any
    heads: int
    kv_heads: int
    head_dim: int
    scaling: float


class DecodeStep:
    """``step(tokens, positions, mask, cache_layers) -> logits`` for a supported model."""

    def __init__(self, model: Any) -> None:
        inner = model.model
        self._embed = inner.embed_tokens
        self._rotary = inner.rotary_emb
        self._final_norm = inner.norm.weight
        self._final_eps = float(inner.norm.variance_epsilon)
        self._lm_head = model.lm_head
        self._layers = [_layer(layer) for layer in inner.layers]

    def __call__(self, tokens: Any, positions: Any, mask: Any, cache_layers: Sequence[Any]) -> Any:
        """Logits ``[rows, vocab]`` of the next token of every row.

        Args:
            tokens: ``[rows]`` long tensor, each row's last token (fed now).
            positions: ``[rows]`` long tensor, that token's position id.
            mask: ``[rows, L + 1]`` long tensor, 1 for real cache positions and the new one.
            cache_layers: per layer an object with ``update(keys, values)`` that appends
                ``[rows, kv_heads, 1, head_dim]`` and returns the full keys and values
                (:class:`.batch.DecodeBatch` layers).
        """
        return run_step(self, tokens, positions, mask, cache_layers)


def run_step(
    parts: Any, tokens: Any, positions: Any, mask: Any, cache_layers: Sequence[Any]
) -> Any:
    """The step itself, over ``parts``: a :class:`DecodeStep` or anything with its attributes.

    :mod:`.compiled_step` calls it on a module holding the same parts, so the compiled graph
    traces exactly this code.
    """
    import torch

    rows = int(tokens.shape[0])
    hidden = parts._embed(tokens)  # [rows, hidden]
    # The model's own rotary module, as transformers calls it: [rows, 1, head_dim] each.
    cos, sin = parts._rotary(hidden, positions.unsqueeze(1))
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]  # broadcast over heads: [rows, 1, 1, d]
    # SDPA turns a boolean mask into this additive one at every call; done once per step.
    additive = torch.zeros(mask.shape, dtype=hidden.dtype, device=hidden.device)
    additive = additive.masked_fill_(mask == 0, float("-inf"))[:, None, None, :]
    for layer, cache in zip(parts._layers, cache_layers, strict=True):
        hidden = _layer_step(layer, cache, hidden, cos, sin, additive, rows)
    hidden = _rms_norm(hidden, parts._final_norm, parts._final_eps)
    return parts._lm_head(hidden)


def build(model: Any) -> DecodeStep | None:
    """A :class:`DecodeStep` for ``model``, or None when it is not a model this step reproduces."""
    from transformers.models.llama.modeling_llama import (
        LlamaDecoderLayer,
        LlamaForCausalLM,
        LlamaRMSNorm,
    )

    if type(model) is not LlamaForCausalLM or model.device.type != "cpu":
        return None
    config = model.config
    if getattr(config, "hidden_act", None) != "silu" or type(model.model.norm) is not LlamaRMSNorm:
        return None
    for layer in model.model.layers:
        if type(layer) is not LlamaDecoderLayer or not all(
            type(norm) is LlamaRMSNorm
            for norm in (layer.input_layernorm, layer.post_attention_layernorm)
        ):
            return None
    return DecodeStep(model)


def _layer(layer: Any) -> _Layer:
    attention, mlp = layer.self_attn, layer.mlp
    config = attention.config
    return _Layer(
        input_norm=layer.input_layernorm.weight,
        input_eps=float(layer.input_layernorm.variance_epsilon),
        qkv=projection_class()([attention.q_proj, attention.k_proj, attention.v_proj]),
        o_proj=attention.o_proj,
        post_norm=layer.post_attention_layernorm.weight,
        post_eps=float(layer.post_attention_layernorm.variance_epsilon),
        gate_up=projection_class()([mlp.gate_proj, mlp.up_proj]),
        down_proj=mlp.down_proj,
        heads=int(config.num_attention_heads),
        kv_heads=int(config.num_key_value_heads),
        head_dim=int(attention.head_dim),
        scaling=float(attention.scaling),
    )


@functools.cache
def projection_class() -> type[Any]:
    """The module of sibling linears reading one input (built lazily: torch is imported late).

    ``Projection(members)(x)`` returns the members' outputs in order: one oneDNN call when
    :func:`.cpu_linear.fuse_siblings` grouped exactly ``members`` (the outputs are then slices of
    one tensor, so neighbours can be taken together: :func:`_joined`), else each member's.
    The packed weight is a buffer, so that :mod:`.compiled_step` can freeze it into its graph.
    """
    import torch

    class Projection(torch.nn.Module):
        def __init__(self, members: Sequence[Any]) -> None:
            super().__init__()
            group = _fused_group(members)
            self.members = torch.nn.ModuleList(members)
            self.register_buffer("packed", None if group is None else group.packed, False)
            self.register_buffer("bias", None if group is None else group.bias, False)
            self.sizes = None if group is None else list(group.sizes)
            self.weight_dtype = members[0].weight.dtype

        def forward(self, x: torch.Tensor) -> Sequence[torch.Tensor]:
            # A dtype mismatch or autograd: as PackedLinear, the members' own fallback.
            if self.sizes is None or x.dtype != self.weight_dtype or torch.is_grad_enabled():
                return [member(x) for member in self.members]
            out: Sequence[torch.Tensor] = torch.ops.mkldnn._linear_pointwise(
                x, self.packed, self.bias, "none", [], ""
            ).split(self.sizes, -1)
            return out

    return Projection


def _fused_group(members: Sequence[Any]) -> Any:
    """The :class:`.cpu_linear.FusedGroup` that holds exactly ``members`` in order, else None."""
    fused = [getattr(m, "fused", None) for m in members]
    group = fused[0][0] if fused[0] is not None else None
    if group is None or fused != [(group, index) for index in range(len(members))]:
        return None
    return group


def _joined(first: Any, second: Any) -> Any:
    """``cat([first, second], -1)``, as a view when they are neighbouring slices of one tensor.

    Compiled (:mod:`.compiled_step`) it is the ``cat``: addresses cannot be traced, and the
    compiler fuses the copy into the rotary loop anyway.
    """
    import torch

    width = int(first.shape[-1])
    if (
        not torch.compiler.is_compiling()
        and first.dim() == 2
        and first.stride() == second.stride()
        and first.stride(-1) == 1
        and second.data_ptr() == first.data_ptr() + width * first.element_size()
    ):
        return first.as_strided((first.shape[0], width + int(second.shape[-1])), first.stride())
    return torch.cat([first, second], dim=-1)


def _rms_norm(hidden: Any, weight: Any, eps: float) -> Any:
    """Llama's RMSNorm as transformers computes it: float32 statistics, then the dtype."""
    import torch

    dtype = hidden.dtype
    as_float = hidden.to(torch.float32)
    variance = as_float.pow(2).mean(-1, keepdim=True)
    return weight * (as_float * torch.rsqrt(variance + eps)).to(dtype)


def _rotate(x: Any, cos: Any, sin: Any) -> Any:
    """Rotary embedding as transformers applies it (``x * cos + rotate_half(x) * sin``)."""
    import torch

    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return (x * cos) + (rotated * sin)


def _layer_step(
    layer: Any, cache: Any, hidden: Any, cos: Any, sin: Any, additive: Any, rows: int
) -> Any:
    from torch.nn import functional

    d, heads, kv_heads = layer.head_dim, layer.heads, layer.kv_heads
    q, k, v = layer.qkv(_rms_norm(hidden, layer.input_norm, layer.input_eps))
    # Queries and keys rotated in one pass (elementwise, so each value is what rotating them
    # apart gives): [rows, heads + kv_heads, 1, d], as transformers' view and transpose.
    rotated = _rotate(_joined(q, k).view(rows, heads + kv_heads, 1, d), cos, sin)
    keys, values = cache.update(rotated[:, heads:], v.view(rows, kv_heads, 1, d))
    # One query row per sequence: the heads sharing a key/value head become that head's rows.
    grouped = rotated[:, :heads].reshape(rows, kv_heads, heads // kv_heads, d)
    attended = functional.scaled_dot_product_attention(
        grouped, keys, values, attn_mask=additive, scale=layer.scaling
    )
    hidden = hidden + layer.o_proj(attended.reshape(rows, layer.heads * d))
    gate, up = layer.gate_up(_rms_norm(hidden, layer.post_norm, layer.post_eps))
    return hidden + layer.down_proj(functional.silu(gate) * up)
