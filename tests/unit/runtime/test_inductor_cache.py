"""Inductor's code cache goes to a directory only this user may write, or nowhere.

Both runtimes compile (the serving step, the tuning run's layers) and load what inductor cached
on disk; its default directory under /tmp is a name anyone could create first.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kaito.runtime import inductor_cache

pytest.importorskip("torch")


def test_inductor_cache_goes_to_a_private_directory_under_kaitos_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("KAITO_CACHE_DIR", str(tmp_path / "cache"))
    # What inductor writes there itself on first use (importing transformers does) is no choice.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    directory = inductor_cache.private_cache_dir()
    assert directory == tmp_path / "cache" / "inductor"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(directory)
    # The operator's own choice is kept as it is.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "chosen"))
    assert inductor_cache.private_cache_dir() == tmp_path / "chosen"


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o722])
def test_a_cache_directory_others_may_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    # Inductor writes its default into the variable when first imported; let that happen first.
    import torch._inductor.runtime.cache_dir_utils  # noqa: F401

    shared = tmp_path / "cache" / "inductor"
    shared.mkdir(parents=True)
    shared.chmod(mode)
    monkeypatch.setenv("KAITO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    with pytest.raises(PermissionError, match="only it may write"):
        inductor_cache.private_cache_dir()
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ
