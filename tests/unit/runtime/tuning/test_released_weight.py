"""A released weight keeps what code reads without computing and refuses everything else.

The stand-in replaces a frozen weight whose values only packed copies hold
(:mod:`kaito.runtime.tuning.compiled_layers`): counting parameters, building a ``state_dict``
and moving the module to its own device must work as before; a product, a copy or printing the
values must fail with an error naming the module, not compute with data that is not there.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaito.runtime.tuning import released_weight
from kaito.runtime.tuning.released_weight import ReleasedWeightError

torch = pytest.importorskip("torch")


def _released_linear() -> Any:
    linear = torch.nn.Linear(6, 4, bias=False).to(torch.bfloat16)
    linear.weight = released_weight.placeholder(linear.weight, "layers.0.mlp.up_proj")
    return linear


def test_a_released_weight_keeps_its_shape_dtype_and_parameter_role() -> None:
    linear = _released_linear()
    weight = linear.weight
    assert released_weight.is_released(weight)
    assert isinstance(weight, torch.nn.Parameter)
    assert (tuple(weight.shape), weight.dtype) == ((4, 6), torch.bfloat16)
    assert weight.device.type == "cpu"
    assert not weight.requires_grad
    assert sum(p.numel() for p in linear.parameters()) == 24
    assert "layers.0.mlp.up_proj" in repr(weight)
    # Moving to the device it is on, and a state_dict (references, no values), still work.
    assert linear.to("cpu") is linear
    assert released_weight.is_released(linear.state_dict()["weight"])
    assert not released_weight.is_released(torch.nn.Linear(2, 2).weight)


@pytest.mark.parametrize(
    "use",
    [
        lambda m: m(torch.ones(2, 6, dtype=torch.bfloat16)),
        lambda m: m.weight + 1,
        lambda m: m.weight.data.clone(),
        lambda m: copy.deepcopy(m),
        lambda m: m.weight.sum().item(),
        lambda m: m.to(torch.float32),
    ],
    ids=["forward", "add", "clone", "deepcopy", "sum", "cast"],
)
def test_reading_a_released_weight_fails_naming_its_module(use: Any) -> None:
    linear = _released_linear()
    with pytest.raises(ReleasedWeightError, match=r"frozen weight of layers\.0\.mlp\.up_proj"):
        use(linear)
