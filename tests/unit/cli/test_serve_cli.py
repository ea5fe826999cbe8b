"""``kaito-serve`` / ``kaito serve``: usage errors and help, without loading a model."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kaito.cli import serve
from kaito.cli.main import app


def test_bad_flags_exit_2_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve.run(["--model", "m", "--port", "0"]) == 2
    assert "--port must be at least 1" in capsys.readouterr().err


def test_missing_model_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve.run([]) == 2
    assert "--model" in capsys.readouterr().err


def test_help_lists_our_flags_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve.run(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--served-model-name", "--kaito-adapters-dir", "--kaito-config-file", "--engine"):
        assert flag in out


def test_kaito_serve_subcommand_shares_the_parser() -> None:
    result = CliRunner().invoke(app, ["serve", "--model", "m", "--engine", "tgi"])
    assert result.exit_code == 2
    assert "--engine" in result.output
