"""The bf16 LoRA path on CPU computes what PEFT computes, and steps aside where it does not apply.

The function is checked against the LoRA formula evaluated in float32 by autograd (output and the
gradients of the input and both adapter matrices, with and without dropout); a small random
Llama with LoRA on every linear is then trained one step through PEFT and through
:func:`cpu_lora.accelerate` from the same weights, and the losses and adapter gradients must
agree to bf16 precision. Skipped where this torch cannot compute bf16 with oneDNN (the path is
only taken on CPUs with native bf16).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from kaito.runtime.tuning import cpu_lora

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(
    not (cpu_lora.packing_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    reason="oneDNN bf16 is not available on this CPU",
)


def relative_error(got: Any, want: Any) -> float:
    return float((got.float() - want.float()).norm() / want.float().norm())


def _reference(x: Any, weight: Any, a: Any, b: Any, scaling: float, keep: Any) -> Any:
    adapter_in = x.float() if keep is None else x.float() * keep
    return x.float() @ weight.float().t() + scaling * (adapter_in @ a.t()) @ b.t()


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_function_matches_the_lora_formula_and_its_gradients(dropout: float) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 64).bfloat16().requires_grad_()
    weight = (torch.randn(48, 64) * 0.1).bfloat16()
    a = (torch.randn(4, 64) * 0.1).requires_grad_()
    b = (torch.randn(48, 4) * 0.1).requires_grad_()
    torch.manual_seed(1)
    out = cpu_lora.lora_function().apply(x, weight, cpu_lora.pack(weight), None, a, b, 2.0, dropout)
    keep = None
    if dropout:  # the same draw the function made from the same seed
        torch.manual_seed(1)
        keep = torch.empty(10, 64).bernoulli_(1.0 - dropout).div_(1.0 - dropout).view(2, 5, 64)
    x_ref = x.detach().float().requires_grad_()
    a_ref, b_ref = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    want = _reference(x_ref, weight, a_ref, b_ref, 2.0, keep)
    assert out.dtype == torch.bfloat16
    assert out.shape == (2, 5, 48)
    assert relative_error(out, want) < 1e-2

    grad = torch.randn(2, 5, 48).bfloat16()
    out.backward(grad)
    want.backward(grad.float())
    assert x.grad is not None
    assert x.grad.dtype == torch.bfloat16
    assert relative_error(x.grad, x_ref.grad) < 2e-2
    assert a.grad is not None
    assert a.grad.dtype == torch.float32
    assert relative_error(a.grad, a_ref.grad) < 2e-2
    assert relative_error(b.grad, b_ref.grad) < 2e-2


def lora_llama(dtype: Any, dropout: float = 0.0) -> Any:
    """A small random Llama with LoRA on every linear, its ``B`` matrices non-zero."""
    import peft
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=300,
        hidden_size=96,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    model = LlamaForCausalLM(config).to(dtype)
    model.set_attn_implementation(cpu_lora.register_float32_attention())
    lora = peft.LoraConfig(
        r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    model = peft.get_peft_model(model, lora)
    with torch.no_grad():  # B starts at zero; give the adapter an effect to check
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.2)
    return model


def _batch() -> dict[str, Any]:
    ids = torch.tensor([[0, 0, 5, 17, 42, 9, 77, 3], [11, 12, 13, 14, 15, 16, 17, 18]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1], [1] * 8])
    labels = ids.masked_fill(mask == 0, -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _loss_and_grads(model: Any) -> tuple[float, dict[str, Any]]:
    model.train()
    model.zero_grad()
    loss = model(**_batch()).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return float(loss), grads


def test_accelerated_model_trains_like_peft() -> None:
    peft_model = lora_llama(torch.bfloat16)
    fast = copy.deepcopy(peft_model)
    adapted = sum(type(m).__name__ == "Linear" and hasattr(m, "lora_A") for m in fast.modules())
    assert cpu_lora.accelerate(fast) == adapted + 1  # every adapted linear and the LM head

    loss, grads = _loss_and_grads(peft_model)
    fast_loss, fast_grads = _loss_and_grads(fast)
    assert abs(fast_loss - loss) < 1e-2 * abs(loss)
    assert grads.keys() == fast_grads.keys()
    assert len(grads) == 2 * adapted
    for name, grad in grads.items():
        assert relative_error(fast_grads[name], grad) < 5e-2, name


def test_disabled_and_merged_adapters_take_pefts_own_forward(tmp_path: Path) -> None:
    model = lora_llama(torch.bfloat16)
    plain = copy.deepcopy(model)
    cpu_lora.accelerate(model)
    model.eval()
    plain.eval()
    ids = _batch()["input_ids"]
    with torch.no_grad():
        with model.disable_adapter(), plain.disable_adapter():
            assert torch.equal(model(input_ids=ids).logits, plain(input_ids=ids).logits)
        adapted = model(input_ids=ids).logits
        model.merge_adapter()  # the delta now sits in the base weights: not added twice
        merged = model(input_ids=ids).logits
        model.unmerge_adapter()
    assert relative_error(merged, adapted) < 2e-2
    # The packed copies are not state: the saved adapter is PEFT's, key for key.
    assert model.state_dict().keys() == plain.state_dict().keys()
    model.save_pretrained(tmp_path / "adapter")
    plain.save_pretrained(tmp_path / "plain")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").stat().st_size == (
        tmp_path / "plain" / "adapter_model.safetensors"
    ).stat().st_size


def test_float32_models_are_left_to_peft() -> None:
    model = lora_llama(torch.float32)
    classes = [type(m) for m in model.modules()]
    assert cpu_lora.accelerate(model) == 0
    assert [type(m) for m in model.modules()] == classes


def test_float32_attention_masks_padded_rows() -> None:
    """A left-padded row gets the logits it gets alone: the padding keys are not attended."""
    model = lora_llama(torch.bfloat16).eval()
    batch = _batch()
    with torch.no_grad():
        together = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        alone = model(input_ids=batch["input_ids"][:1, 2:])
    assert relative_error(together.logits[0, 2:], alone.logits[0]) < 2e-2


def test_siblings_share_one_packed_weight_and_still_answer_alone() -> None:
    """q/k/v and gate/up are packed as one weight per group (each frozen weight once in all), and
    a sibling called with an input its leader did not see computes its own output."""
    model = lora_llama(torch.bfloat16).eval()
    plain = copy.deepcopy(model)
    cpu_lora.accelerate(model)
    frozen = [m.base_layer.weight for m in model.modules() if hasattr(m, "lora_A")]
    head = model.get_output_embeddings().weight
    # Two bytes an element: the frozen linears once, the head twice (itself and its transpose).
    assert cpu_lora.packed_bytes(model) == 2 * (sum(w.numel() for w in frozen) + 2 * head.numel())

    attention = model.base_model.model.model.layers[0].self_attn
    reference = plain.base_model.model.model.layers[0].self_attn
    x = torch.randn(1, 3, 96).bfloat16()
    with torch.no_grad():
        alone = attention.k_proj(x)  # no leader call before it
        assert relative_error(alone, reference.k_proj(x)) < 1e-2
        grouped = [attention.q_proj(x), attention.k_proj(x), attention.v_proj(x)]
        for got, module in zip(grouped, ("q_proj", "k_proj", "v_proj"), strict=True):
            assert relative_error(got, getattr(reference, module)(x)) < 1e-2, module
        other = torch.randn(1, 3, 96).bfloat16()
        attention.q_proj(x)  # the leader saw x; a call with another input must not get x's
        assert relative_error(attention.k_proj(other), reference.k_proj(other)) < 1e-2


def test_packed_head_gives_the_plain_heads_output_and_input_gradient() -> None:
    """The head's forward goes through its packed weight and its backward through the packed
    transpose; both give what the plain bf16 ``nn.Linear`` gives, and the frozen weight no
    gradient."""
    model = lora_llama(torch.bfloat16)
    plain = copy.deepcopy(model.get_output_embeddings())
    assert cpu_lora.pack_head(model)
    head = model.get_output_embeddings()
    assert tuple(head._kaito_transposed.shape) == (96, 300)
    torch.manual_seed(1)
    x = torch.randn(2, 7, 96).bfloat16().requires_grad_()
    x_plain = x.detach().clone().requires_grad_()
    grad = torch.randn(2, 7, 300).bfloat16()
    out, out_plain = head(x), plain(x_plain)
    out.backward(grad)
    out_plain.backward(grad)
    assert relative_error(out, out_plain) < 1e-2
    assert x.grad is not None
    assert x_plain.grad is not None
    assert relative_error(x.grad, x_plain.grad) < 1e-2
    assert relative_error(x.grad, grad.float() @ plain.weight.float()) < 1e-2
    assert head.weight.grad is None
