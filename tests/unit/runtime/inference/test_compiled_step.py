"""The compiled decoding step computes what the eager step does, with one graph, or steps aside.

The same small grouped-query Llama and changing, left-padded batch as ``test_decode_step``, in
float32 with the engine's packed and fused weights: every step's logits must match the eager
step's to float32 rounding (the compiler fuses loops, so bits may differ), the caches it writes
in place must match, one graph must serve every batch size above one and every cache length
(a new graph would stall serving), and a failing compiler must leave the eager step in place.
Compiling takes tens of seconds, so each case compiles once.
"""

from __future__ import annotations

from typing import Any

import pytest

from kaito.runtime.inference.engines import compiled_step, cpu_linear, decode_step
from tests.unit.runtime.inference.test_decode_step import tiny_gqa_llama, two_batches


def _model() -> Any:
    import torch

    model = tiny_gqa_llama(torch.float32)
    if cpu_linear.prepack_supported(torch.float32):
        cpu_linear.prepack_linears(model)
        cpu_linear.fuse_siblings(model)
    return model


def test_compiled_logits_and_cache_follow_the_eager_step_with_one_graph() -> None:
    import torch
    from torch._dynamo.utils import counters

    model = _model()
    eager = decode_step.build(model)
    assert eager is not None
    with torch.inference_mode():
        compiled = compiled_step.build(eager)
        assert compiled is not None, "the compiler is available here; see the log"
        assert compiled.graphs == 1
        # Serving runs uncovered shapes uncompiled; here they must fail loudly instead.
        compiled.stance = "fail_on_recompile"
        graphs = counters["stats"]["unique_graphs"]
        shared = list(range(10, 30))
        old, new = two_batches(model, [[*shared, 5, 6, 7], [*shared, 8], [*shared, 9, 1, 2, 3]])
        late = [[40, 41, 42, 43, 44, 45, 46, 47, 48], [50, 51]]
        grown = False
        for number in range(80):  # past the buffers' spare columns: they grow on the way
            if number == 4:  # two prompts join: 5 rows
                joining_old, joining_new = two_batches(model, late)
                for batch, joining in ((old, joining_old), (new, joining_new)):
                    layers = [(layer.keys, layer.values) for layer in joining.cache_layers]
                    batch.add(layers, joining.length, joining.next_tokens, joining.mask)
            if number == 8:
                old.keep([0, 2, 3, 4])
                new.keep([0, 2, 3, 4])
            if number == 12:  # down to one row: the eager step serves it
                old.keep([1])
                new.keep([1])
            capacity = new.cache_layers[0].capacity
            expected = eager(old.next_tokens, old.positions, old.step_mask(), old.cache_layers)
            got = compiled(new.next_tokens, new.positions, new.step_mask(), new.cache_layers)
            grown = grown or new.cache_layers[0].capacity > capacity
            assert got.dtype == expected.dtype
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4, msg=f"step {number}")
            tokens = expected.argmax(-1)
            old.advance(tokens)
            new.advance(tokens)
            if number == 11:
                for (old_k, old_v), (new_k, new_v) in zip(old.layers, new.layers, strict=True):
                    torch.testing.assert_close(new_k, old_k, rtol=1e-4, atol=1e-4)
                    torch.testing.assert_close(new_v, old_v, rtol=1e-4, atol=1e-4)
        assert grown, "the run should have outgrown the first buffers"
        assert counters["stats"]["unique_graphs"] == graphs, "a step compiled a new graph"


def test_a_failing_compiler_leaves_the_eager_step(caplog: pytest.LogCaptureFixture) -> None:
    import torch

    model = _model()
    eager = decode_step.build(model)
    assert eager is not None
    broken = {"cpp.cxx": (None, "/nonexistent/c++"), "force_disable_caches": True}
    with torch.inference_mode(), torch._inductor.config.patch(broken):
        assert compiled_step.build(eager) is None
    assert "compiling the decoding step failed, decoding without it" in caplog.text


def test_a_step_that_fails_after_warm_up_is_served_eagerly_from_then_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import torch

    model = _model()
    eager = decode_step.build(model)
    assert eager is not None
    calls = []

    def broken_graph(*args: Any) -> Any:
        calls.append(args)
        keys = args[3][0]
        keys[:, :, args[5]] = 7.0  # a partial write before failing: must not survive
        raise RuntimeError("kernel failed")

    compiled = compiled_step.CompiledStep(eager, broken_graph)
    compiled.stance = "eager_on_recompile"  # as build() leaves it
    with torch.inference_mode():
        old, new = two_batches(model, [[1, 2, 3, 4], [5, 6]])
        for _ in range(3):
            expected = eager(old.next_tokens, old.positions, old.step_mask(), old.cache_layers)
            got = compiled(new.next_tokens, new.positions, new.step_mask(), new.cache_layers)
            assert torch.equal(got, expected)
            tokens = expected.argmax(-1)
            old.advance(tokens)
            new.advance(tokens)
        for (old_k, old_v), (new_k, new_v) in zip(old.layers, new.layers, strict=True):
            assert torch.equal(new_k, old_k)
            assert torch.equal(new_v, old_v)
    assert len(calls) == 1, "after one failure the graph is not called again"
    assert "the compiled decoding step failed; decoding without it from now on" in caplog.text
