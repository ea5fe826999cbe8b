"""One ``--feature-gates`` parser: the operator, kaito validate, render and run refuse alike."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kaito.api import gates
from kaito.cli.main import app
from kaito.operator.settings import SettingsError
from kaito.operator.settings import parse_feature_gates as operator_gates


def test_named_gates_only_and_defaults_from_upstream() -> None:
    assert gates.parse_feature_gates(" vLLM=FALSE , enableMIG=true") == {
        "vLLM": False,
        "enableMIG": True,
    }
    assert gates.gate_enabled({}, "vLLM") is True
    assert gates.gate_enabled({"vLLM": False}, "vLLM") is False
    assert gates.gate_enabled({}, "noSuchGate") is False


@pytest.mark.parametrize("text", ["vLLM", "vLLM=maybe", "warpDrive=true"])
def test_every_entry_point_refuses_the_same_spellings(text: str, tmp_path) -> None:
    with pytest.raises(gates.FeatureGateError):
        gates.parse_feature_gates(text)
    with pytest.raises(SettingsError):
        operator_gates(text)
    path = tmp_path / "ws.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    for command in ("validate", "render"):
        result = CliRunner().invoke(app, [command, "-f", str(path), "--feature-gates", text])
        assert result.exit_code == 2, (command, result.output)
        assert "--feature-gates" in result.output
