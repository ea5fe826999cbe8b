"""The LM-head choice of our SFT trainer: the plain head must train exactly like TRL's fused one.

Both paths run on the tiny Llama model with the same batch of chat rows (padding-free, as the
best settings use it): the loss and every LoRA gradient must agree, the plain path must really be
taken within the budget, and TRL's path must be kept when the logits would not fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kaito.runtime.tuning.trainer import (
    PLAIN_HEAD_LOGITS_BUDGET,
    lean_step_bookkeeping,
    plain_head_fits,
    sft_trainer_class,
)
from tests.fixtures.tiny_model import fact_rows


def test_budget_counts_float32_logits() -> None:
    vocab = 49152
    most = PLAIN_HEAD_LOGITS_BUDGET // (vocab * 4)
    assert plain_head_fits(most, vocab)
    assert not plain_head_fits(most + 1, vocab)
    assert not plain_head_fits(0, vocab)
    assert not plain_head_fits(10, 0)


def _trainer(model_dir: Path, tmp_path: Path, budget: int) -> Any:
    import datasets
    import torch
    from transformers import AutoTokenizer
    from trl import SFTConfig

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = _peft_tiny(model_dir)
    # Non-zero B, so that every LoRA weight gets a gradient.
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        padding_free=True,
        max_length=None,
        gradient_checkpointing=False,
        report_to="none",
        use_cpu=True,
    )
    rows = datasets.Dataset.from_list(fact_rows(8))
    trainer = sft_trainer_class()(
        model=model, args=args, train_dataset=rows, processing_class=tokenizer
    )
    trainer.plain_head_logits_budget = budget
    return trainer


def _loss_and_grads(trainer: Any) -> tuple[float, dict[str, Any]]:
    batch = next(iter(trainer.get_train_dataloader()))
    labels = batch["labels"]
    items = int((labels[:, 1:] != -100).sum())
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=items)
    loss.backward()
    grads = {
        n: p.grad.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad
    }
    return float(loss), grads


@pytest.mark.timeout(180)
def test_plain_head_gives_the_fused_loss_and_gradients(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch

    plain = _trainer(tiny_model_dir, tmp_path / "plain", PLAIN_HEAD_LOGITS_BUDGET)
    plain_loss, plain_grads = _loss_and_grads(plain)
    assert plain.plain_head_batches == 1
    assert "entropy" not in plain._metrics["train"]

    fused = _trainer(tiny_model_dir, tmp_path / "fused", budget=0)
    fused_loss, fused_grads = _loss_and_grads(fused)
    assert fused.plain_head_batches == 0
    assert fused._metrics["train"]["entropy"]  # TRL's fused head ran and logged its metrics

    assert plain_loss > 1.0
    assert plain_loss == pytest.approx(fused_loss, rel=1e-5)
    assert plain_grads.keys() == fused_grads.keys()
    assert len(plain_grads) > 0
    for name, grad in plain_grads.items():
        assert torch.count_nonzero(grad) > 0, name
        torch.testing.assert_close(grad, fused_grads[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.timeout(180)
def test_clipping_over_the_trainable_parameters_gives_the_full_models_norm(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The CPU shortcut clips only the adapter's parameters: the norm and the clipped gradients
    must be what clipping over every parameter of the model gives."""
    import torch

    trainer = _trainer(tiny_model_dir, tmp_path, PLAIN_HEAD_LOGITS_BUDGET)
    trainer.args.max_grad_norm = 1e-3  # small enough that clipping really scales the gradients
    _loss_and_grads(trainer)
    model = trainer.model
    before = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    expected = torch.linalg.vector_norm(torch.stack([g.norm() for g in before.values()]))

    norm = trainer._clip_grad_norm(model)

    assert trainer._trainable is not None
    assert len(trainer._trainable[1]) == len(before)  # only parameters with gradients
    assert float(norm) == pytest.approx(float(expected), rel=1e-5)
    assert float(norm) > 1e-3
    scale = 1e-3 / float(expected)
    for name, param in model.named_parameters():
        if name in before:
            torch.testing.assert_close(param.grad, before[name] * scale, rtol=1e-4, atol=1e-9)


@pytest.mark.timeout(180)
def test_floating_point_ops_counts_parameters_once(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    trainer = _trainer(tiny_model_dir, tmp_path, PLAIN_HEAD_LOGITS_BUDGET)
    model = trainer.model
    expected_params = model.num_parameters(exclude_embeddings=True)
    calls: list[bool] = []
    original = model.num_parameters

    def counting(*args: Any, **kwargs: Any) -> int:
        calls.append(True)
        return int(original(*args, **kwargs))

    monkeypatch.setattr(model, "num_parameters", counting)
    ids = torch.ones((2, 7), dtype=torch.long)
    assert trainer.floating_point_ops({"input_ids": ids}) == 6 * 14 * expected_params
    assert trainer.floating_point_ops({"input_ids": ids[:, :3]}) == 6 * 6 * expected_params
    assert len(calls) == 1
    assert trainer.floating_point_ops({"attention_mask": ids}) == 0


def _peft_tiny(model_dir: Path) -> Any:
    import peft
    import torch
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    return peft.get_peft_model(
        base, peft.LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    )


def test_lean_bookkeeping_keeps_what_train_and_zero_grad_mean(tiny_model_dir: Path) -> None:
    import torch

    model = _peft_tiny(tiny_model_dir)
    modules = list(model.modules())
    with lean_step_bookkeeping(model):
        model.eval()  # a real change of mode still walks every module
        assert not any(m.training for m in modules)
        model.train()
        assert all(m.training for m in modules)
        modules[5].eval()  # one module left behind: the full walk puts it back
        model.train()
        assert modules[5].training
        ids = torch.tensor([[1, 2, 3, 4]])
        model(input_ids=ids, labels=ids).loss.backward()
        trainable = [p for p in model.parameters() if p.requires_grad]
        assert all(p.grad is not None for p in trainable)
        model.zero_grad()
        assert all(p.grad is None for p in model.parameters())
    assert "train" not in vars(model)
    assert "zero_grad" not in vars(model)


def test_lean_bookkeeping_steps_aside_for_a_module_with_its_own_train(
    tiny_model_dir: Path,
) -> None:
    import torch

    class Counting(torch.nn.Identity):
        calls = 0

        def train(self, mode: bool = True) -> Any:
            Counting.calls += 1
            return super().train(mode)

    model = _peft_tiny(tiny_model_dir)
    model.base_model.model.extra = Counting()
    model.train()
    with lean_step_bookkeeping(model):
        assert "train" not in vars(model)
        model.train()  # already in training mode, yet the override must still be called
    assert Counting.calls == 2
