"""Where PyTorch's compiler (inductor) caches the native code it builds: a private directory.

Both runtimes compile with ``torch.compile`` on CPU (the serving step, the tuning run's decoder
layers), and inductor loads the native code it caches on disk, by default from
``/tmp/torchinductor_<user>``: a name anyone on a shared machine can create first and fill with
code the process would then load. So unless ``TORCHINDUCTOR_CACHE_DIR`` names another place, the
cache goes to ``inductor/`` under kaito's own cache (``$KAITO_CACHE_DIR``), created with mode
0700; a directory there that belongs to someone else, or that others may write, is refused.

The cache also makes the second compilation of the same code on a machine cheaper (inductor
skips building what it built before), which matters most to the tuning run's compiled layers.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kaito.runtime.models.settings import load_model_settings

INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def private_cache_dir() -> Path:
    """Point inductor's disk cache at a directory only this user can write; returns it.

    ``$TORCHINDUCTOR_CACHE_DIR`` when set to anything but inductor's default (the operator's
    choice), else ``inductor/`` under kaito's cache, created with mode 0700 (module docstring).

    Raises:
        PermissionError: that directory belongs to another user or others may write to it.
    """
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    chosen = os.environ.get(INDUCTOR_CACHE_ENV) or None
    # Inductor writes its default into the variable on first use (importing transformers
    # does), so that value is not a choice.
    if chosen and os.path.abspath(chosen) != os.path.abspath(default_cache_dir()):
        return Path(chosen)
    directory = load_model_settings().cache_dir / "inductor"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise PermissionError(
            f"{directory} is not a directory of this user that only it may write "
            f"(mode {stat.filemode(info.st_mode)}); set {INDUCTOR_CACHE_ENV} or fix it"
        )
    # Inductor reads the variable at every use.
    os.environ[INDUCTOR_CACHE_ENV] = str(directory)
    return directory
