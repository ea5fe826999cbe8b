"""Hostile names for ``kaito run/get/logs/delete``: a name becomes a path only as a Workspace name.

Issue 16, item 2: ``kaito delete /some/absolute/path`` removed that directory. Every name given to
the local commands must be a DNS-1123 label (the Workspace name rule) before it becomes a folder,
and the folder must resolve to ``<state>/workspaces/<name>`` itself (no planted symlink leads out).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaito.api import names
from kaito.cli.main import app
from kaito.local import store as local_store

HOSTILE_NAMES = [
    "/absolute/victim",  # replaced by a real folder below
    "../victim",
    "../../victim",
    "..",
    ".",
    "a/../../victim",
    "sub/dir",
    "",
    " ",
    "UPPER",
    "has space",
    "dot.ted",
    "trailing-",
    "-leading",
    "x" * 64,
    "nul\x00byte",
    "new\nline",
    "trailing-newline\n",  # "$" in a regex also matches before a final newline
    "\uff5etilde",
    "~",
    "~/victim",
    "\uff46\uff55\uff4c\uff4c",
    "tab\tname",
    "back\\slash",
    "%2e%2e",
]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    (root / "workspaces").mkdir(parents=True)
    monkeypatch.setenv("KAITO_STATE_DIR", str(root))
    monkeypatch.setenv("KAITO_LOCAL_DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root


def _victim(tmp_path: Path) -> Path:
    """A folder outside the state dir that must survive: with a workspace.json as bait."""
    victim = tmp_path / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "workspace.json").write_text("{}")
    (victim / "precious.txt").write_text("keep me")
    return victim


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _expand(name: str, victim: Path) -> str:
    return str(victim) if name == "/absolute/victim" else name


@pytest.mark.parametrize("command", ["delete", "get", "logs"])
@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_hostile_name_is_refused_as_bad_usage_and_touches_nothing(
    command: str, name: str, state: Path, tmp_path: Path
) -> None:
    victim = _victim(tmp_path)
    # The state dir sits next to the victim: "../victim" from <state>/workspaces reaches
    # <state>/victim, "../../victim" reaches tmp_path/victim; plant both.
    (state / "victim").mkdir(exist_ok=True)
    (state / "victim" / "workspace.json").write_text("{}")
    value = _expand(name, victim)
    # "--" so that "-leading" reaches the command as a name rather than as an unknown option
    args = [command, "--", "workspace", value] if command != "logs" else [command, "--", value]

    code, output = _invoke(*args)

    assert code == 2, output
    assert "not a valid Workspace name" in output
    assert repr(value) in output or value.strip() == ""  # the message names the value
    assert "Traceback" not in output
    assert (victim / "precious.txt").read_text() == "keep me"
    assert (state / "victim" / "workspace.json").exists()


def test_delete_of_an_absolute_path_keeps_that_directory(state: Path, tmp_path: Path) -> None:
    victim = _victim(tmp_path)

    code, output = _invoke("delete", str(victim))

    assert code == 2
    assert str(victim) in output
    assert (victim / "precious.txt").read_text() == "keep me"


def test_a_planted_symlink_under_workspaces_is_not_followed(state: Path, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    (state / "workspaces" / "evil").symlink_to(victim, target_is_directory=True)

    code, output = _invoke("delete", "evil")

    assert code == 1
    assert "evil" in output
    assert "outside" in output
    assert (victim / "precious.txt").read_text() == "keep me"
    # get lists nothing from it either (it is not one of our folders)
    code, output = _invoke("get")
    assert code == 0
    assert "evil" not in output


def test_store_refuses_every_hostile_name(tmp_path: Path) -> None:
    store = local_store.StateStore(tmp_path / "state")
    victim = _victim(tmp_path)
    for name in [*HOSTILE_NAMES, str(victim)]:
        with pytest.raises(local_store.InvalidNameError, match="not a valid Workspace name"):
            store.workspace_dir(name)
        with pytest.raises(local_store.InvalidNameError):
            store.remove(name)
    assert (victim / "precious.txt").read_text() == "keep me"


def test_run_of_a_workspace_with_a_hostile_name_writes_nothing(state: Path, tmp_path: Path) -> None:
    path = tmp_path / "ws.yaml"
    path.write_text(
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: ../../escaped\n"
        "resource: {instanceType: Standard_NC6s_v3, labelSelector: {matchLabels: {a: b}}}\n"
        "inference: {preset: {name: smollm2-135m-instruct}}\n"
    )

    code, output = _invoke("run", "-f", str(path))

    assert code == 1
    assert "metadata.name" in output
    assert not (tmp_path / "escaped").exists()
    assert not (state / "escaped").exists()


@pytest.mark.parametrize(
    "check",
    [
        names.dns1123_label_errors,
        names.dns1123_subdomain_errors,
        names.label_key_errors,
        names.label_value_errors,
    ],
)
def test_name_rules_refuse_a_trailing_newline(check: Callable[[str], list[str]]) -> None:
    assert check("valid\n")
    assert not check("valid")
