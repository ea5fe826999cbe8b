"""``kaito operator`` argument handling (the operator itself runs in the integration tests)."""

from __future__ import annotations

from typer.testing import CliRunner

from kaito.cli.main import app


def test_unknown_node_provisioner_exits_2_naming_the_flag() -> None:
    result = CliRunner().invoke(app, ["operator", "--node-provisioner", "bogus"])
    assert result.exit_code == 2
    assert "--node-provisioner" in result.output
    assert "unknown node provisioner 'bogus'" in result.output


def test_unknown_feature_gate_exits_2_listing_known_gates() -> None:
    result = CliRunner().invoke(app, ["operator", "--feature-gates", "vLLM=true,warp=true"])
    assert result.exit_code == 2
    assert "unknown feature gate 'warp'" in result.output
    assert "disableNodeAutoProvisioning" in result.output


def test_operator_help_lists_upstream_flag_names() -> None:
    result = CliRunner().invoke(app, ["operator", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--node-provisioner", "--feature-gates", "--metrics-bind-address"):
        assert flag in result.output


def test_unreadable_kubeconfig_exits_2_naming_the_flag_and_file(tmp_path) -> None:
    missing = tmp_path / "nope.kubeconfig"
    result = CliRunner().invoke(app, ["operator", "--kubeconfig", str(missing)])
    assert result.exit_code == 2
    assert "--kubeconfig" in result.output
    assert str(missing) in result.output
