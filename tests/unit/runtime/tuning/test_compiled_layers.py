"""Compiled decoder layers train like PEFT, with one graph, or step aside when compiling fails.

The same small random Llama with LoRA on every linear as ``test_cpu_lora``, bf16: after
:func:`compiled_layers.prepare` and :func:`compiled_layers.warm_up`, training steps on rows of
other lengths must give PEFT's losses and adapter gradients to bf16 precision without compiling
again (the stance turns a new graph into a failure); a compiler that cannot build leaves the run
on :mod:`cpu_lora`'s eager path, with the same results. In float32 the layers compile over the
plain weights (nothing packed or released) and match PEFT to float32 rounding. When ``auto``
compiles is plain arithmetic over the run's shape, checked without a model.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kaito.runtime.tuning import callbacks, compiled_layers, cpu_lora, released_weight
from tests.unit.runtime.tuning.test_cpu_lora import lora_llama, relative_error

torch = pytest.importorskip("torch")

needs_bf16 = pytest.mark.skipif(
    not (cpu_lora.packing_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    reason="oneDNN bf16 is not available on this CPU",
)


@pytest.mark.parametrize(
    ("training", "rows", "trained"),
    [
        ({}, 100, 300),  # TRL's defaults: batch 8, 3 epochs
        ({"per_device_train_batch_size": 1, "num_train_epochs": 1}, 128, 128),
        ({"per_device_train_batch_size": 8, "num_train_epochs": 2.5}, 20, 50),
        ({"per_device_train_batch_size": 4, "max_steps": 50, "num_train_epochs": 9}, 10, 200),
        ({"max_steps": 50, "gradient_accumulation_steps": 4}, 10, 1600),  # batch 8
        ({"per_device_train_batch_size": 3}, 16, 48),  # the rest TRL's defaults
    ],
)
def test_planned_rows_follow_the_training_arguments(
    training: dict[str, Any], rows: int, trained: int, tmp_path: Path
) -> None:
    from trl import SFTConfig

    # As the run builds it on CPU (training._build_sft_config): bf16 weights need no autocast.
    args = SFTConfig(output_dir=str(tmp_path), report_to="none", bf16=False, **training)
    assert compiled_layers.planned_rows(args, rows) == trained


def test_auto_compiles_only_runs_long_enough_to_repay_it() -> None:
    threshold = compiled_layers.AUTO_MIN_ROWS
    assert compiled_layers.wanted("auto", threshold)
    assert not compiled_layers.wanted("auto", threshold - 1)
    assert compiled_layers.wanted("on", 1)
    assert not compiled_layers.wanted("off", 10 * threshold)


def test_an_unknown_mode_is_refused_with_the_accepted_ones() -> None:
    assert compiled_layers.check_mode("on") == "on"
    with pytest.raises(ValueError, match="'always' is not one of auto, on, off"):
        compiled_layers.check_mode("always")


def _row(length: int, seed: int) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 300, (1, length), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}


def _step(model: Any, batch: dict[str, Any]) -> Any:
    """What the warm-up runs: one forward and backward pass as training makes them."""
    return lambda: model(**batch, use_cache=False).loss.backward()


def _loss_and_grads(model: Any, batch: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    model.train()
    for param in model.parameters():
        param.grad = None
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return float(loss), grads


def _assert_trains_like(
    reference: Any, model: Any, batch: dict[str, Any], loss_error: float = 1e-2
) -> None:
    """``model`` gives ``reference``'s loss and every adapter gradient, to bf16 precision.

    ``loss_error``: the relative error allowed on the loss; gradients get five times as much.
    """
    loss, grads = _loss_and_grads(reference, batch)
    got_loss, got_grads = _loss_and_grads(model, batch)
    length = batch["input_ids"].shape[1]
    assert abs(got_loss - loss) < loss_error * abs(loss), length
    assert got_grads.keys() == grads.keys()
    for name, grad in grads.items():
        assert relative_error(got_grads[name], grad) < 5 * loss_error, (length, name)


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    """Compiled code of other tests (same layer classes) must not serve or confuse this one.

    The stance :func:`compiled_layers.warm_up` leaves is process-wide: put back afterwards.
    """
    torch._dynamo.reset()
    yield
    torch.compiler.set_stance("default")
    torch._dynamo.reset()


@needs_bf16
@pytest.mark.slow
@pytest.mark.usefixtures("fresh_dynamo")
def test_compiled_layers_train_like_peft_with_one_graph(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    reference = lora_llama(torch.bfloat16)
    model = copy.deepcopy(reference)
    assert len(compiled_layers.decoder_layers(model)) == 2
    assert compiled_layers.prepare(model) == 2
    assert compiled_layers.warm_up(model, _step(model, _row(7, 0)))
    assert "compiled 2 decoder layers" in caplog.text
    # The warm-up leaves no gradient behind.
    assert all(p.grad is None for p in model.parameters())

    # The backward runs through packed transposed copies; the plain weights are released.
    assert sum(released_weight.is_released(p) for p in model.parameters()) == 14
    with torch.compiler.set_stance("fail_on_recompile"):
        for length, seed in ((5, 1), (13, 2), (29, 3)):
            batch = _row(length, seed)
            _assert_trains_like(reference, model, batch)


@needs_bf16
@pytest.mark.slow
@pytest.mark.usefixtures("fresh_dynamo")
def test_a_failing_compiler_leaves_the_eager_path(caplog: pytest.LogCaptureFixture) -> None:
    reference = lora_llama(torch.bfloat16)
    model = copy.deepcopy(reference)
    assert compiled_layers.prepare(model) == 2
    broken = {"cpp.cxx": (None, "/nonexistent/c++"), "force_disable_caches": True}
    with torch._inductor.config.patch(broken):
        assert not compiled_layers.warm_up(model, _step(model, _row(7, 0)))
    assert "compiling the decoder layers failed, training without" in caplog.text
    assert not any(released_weight.is_released(p) for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())
    assert all(layer._compiled_call_impl is None for layer in compiled_layers.decoder_layers(model))
    embeddings = model.get_base_model().get_input_embeddings()
    assert not embeddings(torch.tensor([[1, 2]])).requires_grad  # the first layer's hook is gone
    eager = [m for m in model.modules() if type(m).__name__ == "PackedLoraLinear"]
    assert len(eager) == 14  # back on cpu_lora's path: 7 adapted linears per layer
    assert not any(hasattr(m, "_kaito_transposed") for m in eager)
    batch = _row(11, 4)
    _assert_trains_like(reference, model, batch)


@needs_bf16
@pytest.mark.slow
@pytest.mark.usefixtures("fresh_dynamo")
def test_dropout_is_applied_in_training_and_the_random_state_is_kept() -> None:
    model = lora_llama(torch.bfloat16, dropout=0.5)
    assert compiled_layers.prepare(model) == 2
    torch.manual_seed(123)
    state = torch.get_rng_state()
    assert compiled_layers.warm_up(model, _step(model, _row(7, 0)))
    assert torch.equal(torch.get_rng_state(), state)
    batch = _row(9, 5)
    first, _ = _loss_and_grads(model, batch)
    second, _ = _loss_and_grads(model, batch)
    assert first != second  # a new dropout mask each step
    model.eval()
    with torch.no_grad():
        plain = [float(model(**batch, use_cache=False).loss) for _ in range(2)]
    assert plain[0] == plain[1]  # none in evaluation


@needs_bf16
@pytest.mark.usefixtures("fresh_dynamo")
def test_a_refused_cache_directory_leaves_the_eager_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kaito.runtime import inductor_cache

    def refuse() -> None:
        raise PermissionError("/x/inductor is not a directory of this user that only it may write")

    monkeypatch.setattr(inductor_cache, "private_cache_dir", refuse)
    model = lora_llama(torch.bfloat16)
    assert compiled_layers.prepare(model) == 2
    assert not compiled_layers.warm_up(model, _step(model, _row(7, 0)))
    assert "only it may write" in caplog.text
    assert all(layer._compiled_call_impl is None for layer in compiled_layers.decoder_layers(model))
    assert sum(type(m).__name__ == "PackedLoraLinear" for m in model.modules()) == 14


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_dynamo")
def test_float32_layers_compile_over_their_own_weights_and_train_like_peft() -> None:
    reference = lora_llama(torch.float32)
    # What a float32 run uses: transformers' SDPA attention, not the cast-up one for bf16.
    reference.get_base_model().set_attn_implementation("sdpa")
    model = copy.deepcopy(reference)
    weights = _base_weights(model)
    assert compiled_layers.prepare(model) == 2
    assert compiled_layers.warm_up(model, _step(model, _row(7, 0)))

    # Nothing packed, nothing released: the linears read the very tensors they had.
    after = _base_weights(model)
    assert after.keys() == weights.keys()
    assert all(after[name] is weight for name, weight in weights.items())
    assert not any(released_weight.is_released(p) for p in model.parameters())
    with torch.compiler.set_stance("fail_on_recompile"):
        for length, seed in ((5, 1), (13, 2), (29, 3)):
            _assert_trains_like(reference, model, _row(length, seed), loss_error=1e-5)

    compiled_layers.undo(model)
    from peft.tuners.lora.layer import Linear as LoraLinear

    assert sum(type(m) is LoraLinear for m in model.modules()) == 14
    _assert_trains_like(reference, model, _row(11, 4), loss_error=1e-6)


def test_float16_weights_are_left_as_they_are() -> None:
    model = lora_llama(torch.float16)
    before = [type(m) for m in model.modules()]
    assert compiled_layers.prepare(model) == 0
    assert [type(m) for m in model.modules()] == before
    assert all(
        getattr(layer, "_compiled_call_impl", None) is None
        for layer in compiled_layers.decoder_layers(model)
    )


def _base_weights(model: Any) -> dict[str, Any]:
    return {
        name: param
        for name, param in model.named_parameters(remove_duplicate=False)
        if name.endswith("base_layer.weight")
    }


def _share_up_proj(model: Any) -> None:
    """Make the second layer's ``up_proj`` use the first layer's frozen weight."""
    layers = model.get_base_model().model.layers
    layers[1].mlp.up_proj.base_layer.weight = layers[0].mlp.up_proj.base_layer.weight


@needs_bf16
@pytest.mark.usefixtures("fresh_dynamo")
def test_released_weights_train_like_peft_and_are_rebuilt_bit_for_bit() -> None:
    reference = lora_llama(torch.bfloat16)
    _share_up_proj(reference)
    model = copy.deepcopy(reference)
    originals = {name: w.detach().clone() for name, w in _base_weights(model).items()}
    assert compiled_layers.prepare(model) == 2
    # A weight two modules share is kept: releasing it would take it from the other one.
    assert compiled_layers.release_weights(model) == 12
    released = {n for n, w in _base_weights(model).items() if released_weight.is_released(w)}
    assert len(released) == 12
    assert not any(".mlp.up_proj." in name for name in released)
    assert compiled_layers.release_weights(model) == 0  # nothing left to release

    with torch.compiler.set_stance("force_eager"):  # the packed backward, uncompiled
        _assert_trains_like(reference, model, _row(11, 6))

    assert compiled_layers.restore_weights(model) == 12
    for name, weight in _base_weights(model).items():
        assert not released_weight.is_released(weight), name
        assert torch.equal(weight, originals[name]), name
    assert compiled_layers.restore_weights(model) == 0


@needs_bf16
@pytest.mark.usefixtures("fresh_dynamo")
def test_a_call_peft_handles_itself_rebuilds_the_weight_it_reads() -> None:
    reference = lora_llama(torch.bfloat16)
    model = copy.deepcopy(reference)
    assert compiled_layers.prepare(model) == 2
    assert compiled_layers.release_weights(model) == 14
    batch = _row(9, 7)
    with torch.compiler.set_stance("force_eager"), torch.no_grad():
        with reference.disable_adapter():
            expected = reference(**batch, use_cache=False).logits
        with model.disable_adapter():  # not a plain-LoRA call: PEFT's forward, the base weight
            got = model(**batch, use_cache=False).logits
    assert relative_error(got, expected) < 1e-2
    assert not any(released_weight.is_released(w) for w in _base_weights(model).values())


@needs_bf16
def test_the_compile_callback_rebuilds_the_weights_when_training_ends() -> None:
    model = lora_llama(torch.bfloat16)
    originals = {name: w.detach().clone() for name, w in _base_weights(model).items()}
    assert compiled_layers.prepare(model) == 2
    assert compiled_layers.release_weights(model) == 14
    callback = callbacks.make_compile_callback(SimpleNamespace(model=model))
    callback.on_train_end(None, None, None)
    for name, weight in _base_weights(model).items():
        assert torch.equal(weight, originals[name]), name
