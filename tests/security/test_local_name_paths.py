"""Property tests: a name maps to a path inside the state directory, or is refused (issue 16).

For any text, :meth:`StateStore.workspace_dir` either refuses it (``InvalidNameError``) or returns
``<state>/workspaces/<name>`` exactly: a direct child whose name is the input. Every valid Workspace
name is accepted, and ``remove`` of any text deletes nothing outside the state directory.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaito.local import store as local_store

LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
PATHISH = st.lists(
    st.sampled_from([*"abz09-./\\~ \x00\n%", "..", "../", "/etc", "\uff0e"]), max_size=20
).map("".join)
ANY_NAME = st.one_of(st.text(max_size=80), PATHISH, st.from_regex(LABEL, fullmatch=True))
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def sandbox() -> tuple[local_store.StateStore, Path]:
    root = Path(tempfile.mkdtemp(prefix="kaito-names-"))
    victim = root / "victim"
    victim.mkdir()
    (victim / "workspace.json").write_text("{}")
    store = local_store.StateStore(root / "state")
    store.workspaces_dir.mkdir(parents=True)
    return store, victim


@SETTINGS
@given(name=ANY_NAME)
def test_a_name_is_refused_or_maps_to_a_direct_child(
    sandbox: tuple[local_store.StateStore, Path], name: str
) -> None:
    store, _ = sandbox
    if not LABEL.fullmatch(name):
        with pytest.raises(
            local_store.InvalidNameError, match="not a valid Workspace name"
        ) as info:
            store.workspace_dir(name)
        assert repr(name) in str(info.value)
        return
    path = store.workspace_dir(name)
    assert path.parent == store.workspaces_dir
    assert path.name == name
    assert path.resolve() == store.workspaces_dir.resolve() / name


@SETTINGS
@given(name=st.from_regex(LABEL, fullmatch=True))
def test_every_valid_workspace_name_is_accepted(
    sandbox: tuple[local_store.StateStore, Path], name: str
) -> None:
    store, _ = sandbox
    assert store.workspace_dir(name) == store.workspaces_dir / name
    assert store.log_path(name, "serve").is_relative_to(store.workspaces_dir / name)
    assert store.lock_path(name).parent == store.root / local_store.LOCKS_SUBDIR


@SETTINGS
@given(name=ANY_NAME)
def test_remove_of_any_text_deletes_nothing_outside(
    sandbox: tuple[local_store.StateStore, Path], name: str
) -> None:
    store, victim = sandbox
    with contextlib.suppress(local_store.InvalidNameError):
        store.remove(name)
    assert (victim / "workspace.json").exists()
    assert store.workspaces_dir.is_dir()


@SETTINGS
@given(step=st.text(max_size=30))
def test_a_pid_record_path_stays_in_its_folder(
    sandbox: tuple[local_store.StateStore, Path], step: str
) -> None:
    store, _ = sandbox
    try:
        path = store.pid_path("alpha", step)
    except local_store.StateError:
        return
    assert path.parent == store.workspace_dir("alpha") / local_store.PIDS_SUBDIR
    assert path.name == f"{step}.json"
