"""Packed oneDNN linears: results as ``nn.Linear``, PEFT still wraps them, training unchanged."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")

from kaito.runtime.inference.engines import cpu_linear

pytestmark = pytest.mark.skipif(
    not cpu_linear.prepack_supported(torch.float32), reason="no oneDNN in this PyTorch build"
)


class Block(torch.nn.Module):
    """Two plain linears (one with a bias) and a subclass that must be left alone."""

    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.Linear(24, 40)
        self.down = torch.nn.Linear(40, 24, bias=False)
        self.special = SpecialLinear(24, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.special(self.down(torch.relu(self.up(x))))
        return out


class SpecialLinear(torch.nn.Linear):
    """Stands for a quantised layer subclassing nn.Linear."""


def test_packing_switches_plain_linears_only_and_keeps_their_weights() -> None:
    torch.manual_seed(0)
    block = Block()
    assert cpu_linear.prepack_linears(block) == 2
    assert type(block.up).__name__ == "PackedLinear"
    assert isinstance(block.up, torch.nn.Linear)  # what PEFT checks before wrapping
    assert type(block.special) is SpecialLinear
    assert block.up.weight.shape == (40, 24)
    assert "packed_weight" not in block.state_dict()


@pytest.mark.parametrize("rows", [1, 7, 16, 33])
def test_packed_float32_matches_nn_linear_to_the_last_bits(rows: int) -> None:
    torch.manual_seed(rows)
    block = Block().eval()
    packed = copy.deepcopy(block)
    cpu_linear.prepack_linears(packed)
    x = torch.randn(rows, 3, 24)
    with torch.inference_mode():
        expected, actual = block(x), packed(x)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(
    not cpu_linear.prepack_supported(torch.bfloat16), reason="no native bfloat16 on this CPU"
)
@pytest.mark.parametrize("rows", [1, 16, 40])
def test_packed_bfloat16_is_bit_identical_to_nn_linear(rows: int) -> None:
    torch.manual_seed(rows)
    block = Block().eval().to(torch.bfloat16)
    packed = copy.deepcopy(block)
    assert cpu_linear.prepack_linears(packed) == 2
    x = torch.randn(rows, 24, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert torch.equal(packed(x), block(x))


def test_with_gradients_enabled_the_plain_path_keeps_autograd_working() -> None:
    torch.manual_seed(1)
    block = Block()
    cpu_linear.prepack_linears(block)
    loss = block(torch.randn(4, 24)).sum()
    loss.backward()
    assert block.up.weight.grad is not None
    assert float(block.up.weight.grad.abs().sum()) > 0


def test_a_lora_adapter_attached_after_packing_changes_the_output_as_without_packing() -> None:
    peft = pytest.importorskip("peft")
    torch.manual_seed(2)
    base = Block().eval()
    packed_base = copy.deepcopy(base)
    cpu_linear.prepack_linears(packed_base)
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["up", "down"], init_lora_weights=False
    )
    plain = peft.get_peft_model(base, config, adapter_name="a")
    packed = peft.get_peft_model(packed_base, copy.deepcopy(config), adapter_name="a")
    packed.load_state_dict(plain.state_dict())  # same LoRA weights on both
    x = torch.randn(5, 24)
    with torch.inference_mode():
        with_adapter = packed(x)
        torch.testing.assert_close(with_adapter, plain(x), rtol=1e-5, atol=1e-5)
        with packed.disable_adapter():
            without = packed(x)
    assert not torch.allclose(with_adapter, without)  # the adapter's delta is really applied


class Attention(torch.nn.Module):
    """Sibling projections as Llama names them, plus a mismatched group that must stay apart."""

    def __init__(self, bias: bool) -> None:
        super().__init__()
        self.q_proj = torch.nn.Linear(32, 32, bias=bias)
        self.k_proj = torch.nn.Linear(32, 16, bias=bias)
        self.v_proj = torch.nn.Linear(32, 16, bias=bias)
        self.gate_proj = torch.nn.Linear(32, 48, bias=False)
        self.up_proj = torch.nn.Linear(32, 48, bias=True)  # bias mismatch: not fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = torch.cat([self.q_proj(x), self.k_proj(x), self.v_proj(x)], -1)
        return torch.cat([qkv, self.gate_proj(x) * self.up_proj(x)], -1)


@pytest.mark.parametrize("bias", [False, True])
def test_fused_siblings_give_each_member_its_own_result(bias: bool) -> None:
    torch.manual_seed(0)
    module = Attention(bias)
    reference = copy.deepcopy(module)
    cpu_linear.prepack_linears(module)
    assert cpu_linear.fuse_siblings(module) == 1  # q/k/v; gate/up differ in bias
    assert module.q_proj.fused is not None
    assert module.gate_proj.fused is None
    with torch.inference_mode():
        for rows in (1, 5):  # a new input each time: the group computes afresh
            x = torch.randn(rows, 3, 32)
            torch.testing.assert_close(module(x), reference(x), rtol=1e-5, atol=1e-5)
            # Members called alone, out of order, with different inputs.
            y = torch.randn(rows, 3, 32)
            torch.testing.assert_close(module.v_proj(y), reference.v_proj(y))
            torch.testing.assert_close(module.k_proj(x), reference.k_proj(x))


def test_a_fused_group_keeps_no_tensors_once_every_member_was_served() -> None:
    module = Attention(bias=False)
    cpu_linear.prepack_linears(module)
    cpu_linear.fuse_siblings(module)
    fused: tuple[cpu_linear.FusedGroup, int] = module.q_proj.fused  # type: ignore[assignment]
    group = fused[0]
    with torch.inference_mode():
        module(torch.randn(2, 32))
    assert group._input is None
    assert group._outputs == ()
